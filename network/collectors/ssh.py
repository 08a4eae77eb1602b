"""SSH collector on netmiko: one session per device, paging off, the platform's command set.

netmiko's own pauses dominate a short session (measured 2.6 s per Huawei device with defaults).
netmiko opens the session: paramiko's transport, authentication, the interactive shell and the
login dialogues it knows (Huawei's initial-password ``[Y/N]``). What follows is done here, driven
by the channel instead of netmiko's 10 ms polling: finding the prompt, the platform's terminal
set-up (netmiko's ``session_preparation``), then each command read until the prompt returns.
netmiko's polling read ran line-feed normalisation and, on Huawei, some 35 ANSI regexes per
poll: netmiko's preparation cost the client as much CPU as all the audit's commands together.
Here each command's output is read as raw bytes and cleaned once, with netmiko's own functions,
so the text is what netmiko's reads gave.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from govops.credentials import Credential, redact
from govops.network.collectors.base import (
    AuthFailed,
    CollectError,
    SshOutput,
    SshTarget,
    TimedOut,
    Unreachable,
)
from govops.network.collectors.known_hosts import HostKeyPolicy, HostKeyRefused
from govops.network.platforms import PLATFORMS

_CHUNK = 65536
_QUIET_S = 0.05  # a prompt-like last line followed by this much silence is the prompt, not a banner line
# Offered first in the key exchange (the device picks the first of ours it supports): AES-GCM
# needs no separate HMAC per packet, the cheapest of paramiko's ciphers on the client (6.35 ->
# 6.0 ms CPU per lab session). VRP, Comware 7 and IOS XE offer them; a device that does not
# gets paramiko's own order (aes*-ctr first), as before: nothing is dropped from the offer.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


@dataclass(frozen=True)
class Dialect:
    """How netmiko's driver for a device type finds the prompt and prepares the terminal."""

    terminators: str  # a prompt ends with one of these (netmiko's pri/alt prompt terminators)
    setup: tuple[str, ...] = ()  # sent before the platform's paging-off command
    bracketed: bool = True  # VRP/Comware prompts are <name> or [name]: the base prompt drops the bracket
    ha_prefix: str | None = None  # HA state prefix netmiko strips (Huawei USG "HRP_M", Comware "RBM_P")
    max_base: int | None = None  # IOS abbreviates its prompt in config mode: netmiko keeps 16 characters
    ansi: bool = False  # VRP moves the cursor with ESC[nD: netmiko strips escape codes on Huawei
    question: bytes | None = None  # a login banner that waits for ENTER before the prompt

    def base_prompt(self, prompt: str) -> str:
        """netmiko's ``set_base_prompt`` for this device type, from the prompt line."""
        base = prompt.strip()
        base = base[:-1] if len(base) > 1 else base
        if self.bracketed:
            if self.ha_prefix:
                base = re.sub(self.ha_prefix, "", base, flags=re.M)
            base = base[1:].strip()
        return base[: self.max_base] if self.max_base else base


DIALECTS: dict[str, Dialect] = {
    "huawei": Dialect(">]", ha_prefix=r"^HRP_.", ansi=True),
    # Comware: "Press Y or ENTER to continue, N to exit." (netmiko's driver answers it the same way)
    "hp_comware": Dialect(">]", ha_prefix=r"^RBM_.", question=rb"to continue[^\r\n]*\Z"),
    "cisco_ios": Dialect("#>", setup=("terminal width 511",), bracketed=False, max_base=16),
}
GENERIC = Dialect("#>", bracketed=False)  # netmiko's BaseConnection: prompt ends in # or >, no set-up


def fingerprint(key: Any) -> tuple[str, str]:
    digest = hashlib.sha256(key.asbytes()).digest()
    return key.get_name(), "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class NetmikoCollector:
    """``host_keys``: how a device's key is checked, during the key exchange, before the password
    is sent (see known_hosts.py); the default trusts any key, as tests of the lab's devices need."""

    def __init__(self, host_keys: HostKeyPolicy | None = None) -> None:
        self.host_keys = host_keys or HostKeyPolicy("accept")

    def probe(self, host: str, port: int, timeout: float) -> bool:
        return tcp_probe(host, port, timeout)

    def collect(self, target: SshTarget, credential: Credential, commands: Sequence[str], deadline: float) -> SshOutput:
        from paramiko.ssh_exception import SSHException

        conn = None
        try:
            conn = connect(target, credential, deadline, self.host_keys)
            key = None
            try:
                remote: Any = conn.remote_conn
                transport = remote.get_transport()
                if transport is not None:
                    key = fingerprint(transport.get_remote_server_key())
            except (AttributeError, SSHException):
                key = None
            shell = Shell(conn, DIALECTS.get(target.device_type, GENERIC), f"{target.host}:{target.port}")
            base = shell.prepare(PLATFORMS[target.platform].paging_off, deadline, target.timeout)
            outputs = {command: shell.run(command, deadline, target.timeout) for command in commands}
            return SshOutput(outputs, key, base)
        finally:
            if conn is not None:
                # Close the transport without netmiko's logout dialogue: on VRP its "quit" and
                # pauses cost 2.2 s per device, and a device frees the VTY when TCP closes.
                with contextlib.suppress(Exception):
                    conn.paramiko_cleanup()


def connect(target: SshTarget, credential: Credential, deadline: float, host_keys: HostKeyPolicy) -> Any:
    """An open netmiko connection (logged in, no session preparation) to ``target``.

    The audit's reads and remediation's writes both connect here, so both check a device's host
    key the same way: ``host_keys`` is asked during the key exchange, before the password is sent,
    and a refused key raises its ``CollectError`` (``HostKeyMismatch`` for a changed key).
    """
    from netmiko import ConnectHandler
    from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException, ReadTimeout
    from paramiko import Transport
    from paramiko.ssh_exception import SSHException

    if credential.password is None:
        raise CollectError(f"credential '{credential.name}' has no password for SSH")
    _paramiko_in_c()
    _prefer_ciphers(PREFERRED_CIPHERS)
    remaining = max(1.0, deadline - time.monotonic())
    params: dict[str, Any] = {
        "device_type": target.device_type,
        "host": target.host,
        "port": target.port,
        "username": credential.username or "",
        "password": credential.password.reveal(),
        "fast_cli": True,
        "conn_timeout": min(target.timeout, remaining),
        "auth_timeout": min(target.timeout, remaining),
        "banner_timeout": min(target.timeout, remaining),
        "timeout": min(target.timeout, remaining),
        "session_log": None,
        "allow_agent": False,
        "use_keys": False,
    }
    known = host_keys.known_types(target.host, target.port)
    # paramiko's own list of host-key algorithms, in its order of preference
    others = other_key_algorithms(Transport._preferred_keys, known)
    if others is not None:
        params["disabled_algorithms"] = {"keys": others}
    conn = ConnectHandler(**params, auto_connect=False)
    # paramiko asks this policy about every key (no host keys are loaded into it),
    # after the key exchange and before authentication
    conn.key_policy = host_keys.paramiko_policy(target.host, target.port)
    try:
        try:
            # paramiko session, shell and netmiko's login dialogues; not session_preparation
            conn.establish_connection()
        except HostKeyRefused as exc:
            raise exc.error from None
        except NetmikoAuthenticationException:
            raise AuthFailed("ssh: authentication failed") from None
        except ReadTimeout:
            raise TimedOut(f"ssh: no prompt after login to {target.host}:{target.port}") from None
        except NetmikoTimeoutException as exc:
            if others is not None and "no acceptable host key" in str(exc):  # netmiko rewraps paramiko's error
                raise host_keys.no_known_type(target.host, target.port) from None
            raise Unreachable(f"ssh: cannot connect to {target.host}:{target.port} ({_short(exc)})") from None
        except (OSError, EOFError) as exc:
            raise Unreachable(f"ssh: connection to {target.host}:{target.port} failed ({_short(exc)})") from None
        except SSHException as exc:
            text = str(exc)
            if "host key" in text.lower() or "not found in known_hosts" in text:
                raise CollectError(f"ssh: host key not trusted ({text})") from None
            raise Unreachable(f"ssh: {text}") from None
    except BaseException:
        with contextlib.suppress(Exception):
            conn.paramiko_cleanup()
        raise
    return conn


class Shell:
    """The device's interactive shell on a netmiko connection, read as fast as the device writes.

    Waits on the paramiko channel (select), never sleeps: an answer is read the moment it arrives
    and a closed session is reported at once, where netmiko's read loops poll every 10 ms.
    """

    def __init__(self, conn: Any, dialect: Dialect, where: str) -> None:
        self.conn = conn
        self.where = where  # host:port, for the login's messages
        self.channel = conn.remote_conn
        self.dialect = dialect
        self.encoding: str = conn.encoding
        self.newline: bytes = conn.RETURN.encode()
        self.prompt: re.Pattern[bytes] | None = None
        # netmiko's login dialogue may have read past what it waited for
        self.pending: bytes = conn._read_buffer.encode(self.encoding)  # netmiko has no public accessor
        conn._read_buffer = ""

    def prepare(self, paging_off: str | None, deadline: float, timeout: float) -> str:
        """Find the prompt and set the terminal up as netmiko's driver does; returns the base prompt."""
        ends = re.escape(self.dialect.terminators).encode()
        last_line = re.compile(rb"([^\r\n]*[" + ends + rb"])[ \t]*\Z")
        question = re.compile(self.dialect.question) if self.dialect.question else None

        def asks(data: bytes) -> bool:
            return question is not None and question.search(data) is not None

        self._send(b"")
        buf = b""
        # A banner line may end like a prompt; the prompt is a prompt-like last line with silence after it.
        while True:
            buf = self._read_until(
                lambda data: last_line.search(data) is not None or asks(data), deadline, timeout, "", buf
            )
            if asks(buf):
                self._send(b"")  # ENTER: continue to the prompt
                buf = b""
                continue
            if not self._wait(_QUIET_S):
                break
            buf += self._recv("")
        found = last_line.search(buf)
        assert found is not None
        prompt = found.group(1).decode(self.encoding, "ignore")
        if self.dialect.ansi and "\x1b" in prompt:
            prompt = self.conn.strip_ansi_escape_codes(prompt)
        base = self.dialect.base_prompt(prompt)
        self.prompt = re.compile(re.escape(base.encode(self.encoding)) + rb"[^\n]*[>#\]]\s*\Z")
        for command in (*self.dialect.setup, *([paging_off] if paging_off else [])):
            self.run(command, deadline, timeout)
        return base

    def run(self, command: str, deadline: float, timeout: float) -> str:
        """Send one command and read until the prompt comes back; text from the echo on, prompt included."""
        assert self.prompt is not None, "prepare() first"
        prompt = self.prompt
        wanted = command.encode(self.encoding)
        self._send(wanted)
        echo = -1

        def done(data: bytes) -> bool:
            nonlocal echo
            if echo < 0:
                # whatever precedes the echo is a late prompt of the previous command
                echo = data.find(wanted)
            return echo >= 0 and prompt.search(data, max(echo + len(wanted), len(data) - 400)) is not None

        return self._clean(self._read_until(done, deadline, timeout, command)[echo:])

    def _clean(self, raw: bytes) -> str:
        """What netmiko's read_channel makes of the bytes: decoded, line feeds normalised, ANSI codes stripped."""
        text = self.conn.normalize_linefeeds(raw.decode(self.encoding, "ignore"))
        # every code netmiko strips starts with ESC; its 36 substitutions cost 70 us per output
        if self.dialect.ansi and "\x1b" in text:
            text = self.conn.strip_ansi_escape_codes(text)
        return str(text)

    def _send(self, data: bytes) -> None:
        from paramiko.ssh_exception import SSHException

        try:
            self.channel.sendall(data + self.newline)
        except (OSError, EOFError, SSHException) as exc:
            what = data.decode(self.encoding, "replace") or "the prompt"
            raise CollectError(f"ssh: session dropped before '{what}' ({_short(exc)})") from None

    def _read_until(
        self, done: Callable[[bytes], bool], deadline: float, timeout: float, what: str, buf: bytes = b""
    ) -> bytes:
        """Read until ``done(everything read)``, within ``timeout`` and the device's ``deadline``."""
        buf = self.pending + buf
        self.pending = b""
        until = min(time.monotonic() + timeout, deadline)
        while not done(buf):
            left = until - time.monotonic()
            if left <= 0:
                after = f"'{what}'" if what else f"login to {self.where}"
                if until >= deadline:
                    raise TimedOut(f"ssh: device deadline reached waiting for the prompt after {after}")
                raise TimedOut(f"ssh: no prompt after {after} within {timeout:.0f} s")
            if self._wait(left):
                buf += self._recv(what)
        return buf

    def _wait(self, seconds: float) -> bool:
        """Is there data (or EOF) to read within ``seconds``?"""
        import select

        if self.channel.recv_ready() or self.channel.closed or self.channel.eof_received:
            return True
        if seconds <= 0:
            return False
        readable, _, _ = select.select([self.channel], [], [], min(seconds, 0.2))
        return bool(readable)

    def _recv(self, what: str) -> bytes:
        from paramiko.ssh_exception import SSHException

        try:
            data: bytes = self.channel.recv(_CHUNK) if not self.channel.closed else b""
        except (OSError, SSHException):
            data = b""
        if not data:
            during = f"'{what}'" if what else f"login to {self.where}"
            raise CollectError(f"ssh: session dropped during {during}")
        return data


@functools.cache
def _paramiko_in_c() -> None:
    """Three of paramiko's per-packet and key-exchange helpers, done by the C functions the
    standard library has for them; each gives the same bytes as paramiko's code.

    - the MAC check: a constant-time comparison written as a Python loop (3.4 us for a 32-octet
      MAC, some 30 packets a session); ``hmac.compare_digest`` is the same comparison, in C;
    - each packet's MAC, both ways: paramiko builds an ``hmac.HMAC`` object per packet (its key
      schedule in Python); ``hmac.digest`` is OpenSSL's one-shot HMAC;
    - ``deflate_long``, the mpint encoding of the shared secret, hashed anew for each of the six
      keys a key exchange derives: a Python loop over 32-bit words; ``int.to_bytes`` in C.
    """
    import hmac

    from paramiko import packet, util

    util.constant_time_bytes_eq = hmac.compare_digest
    packet.compute_hmac = _compute_hmac
    util.deflate_long = functools.partial(_deflate_long, util.deflate_long)
    start = packet.Packetizer.start_handshake
    if "Timer" in start.__code__.co_names and hasattr(packet.Packetizer, "handshake_timed_out"):  # paramiko 2-5
        packet.Packetizer.start_handshake = _start_handshake
        packet.Packetizer.handshake_timed_out = _handshake_timed_out


class _HandshakeDeadline:
    """Stands for the ``threading.Timer`` paramiko starts per connection to bound its handshake
    (a thread started, then woken to be cancelled, for every session): the same expiry, read from
    the clock when paramiko asks. paramiko asks in its socket reads, at least every 0.1 s (the
    transport's socket timeout), as it read the timer thread's flag before."""

    __slots__ = ("at",)

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def cancel(self) -> None:
        """``complete_handshake`` cancels the timer; a deadline needs nothing."""

    def expired(self) -> bool:
        return time.monotonic() >= self.at


def _start_handshake(self: Any, timeout: float) -> None:
    if not self._Packetizer__timer:  # paramiko's own attributes (name-mangled)
        self._Packetizer__timer = _HandshakeDeadline(float(timeout))


def _handshake_timed_out(self: Any) -> bool:
    timer = self._Packetizer__timer
    if not timer or self._Packetizer__handshake_complete:
        return False
    if isinstance(timer, _HandshakeDeadline):
        return timer.expired()
    return bool(self._Packetizer__timer_expired)


@functools.cache
def _prefer_ciphers(first: tuple[str, ...]) -> None:
    """Put ``first`` (those paramiko knows) ahead of paramiko's other ciphers, in every transport."""
    from paramiko import Transport

    known = Transport._preferred_ciphers  # paramiko has no per-connection preference order
    Transport._preferred_ciphers = tuple(c for c in first if c in known) + tuple(c for c in known if c not in first)


def _compute_hmac(key: bytes, message: bytes, digest_class: Any) -> bytes:
    import hmac

    return hmac.digest(key, message, digest_class)


def _deflate_long(python: Callable[[int, bool], bytes], n: int, add_sign_padding: bool = True) -> bytes:
    """paramiko's ``util.deflate_long`` (``python``) for non-negative integers, in C: big-endian,
    no leading zero octets (one for zero), and a zero octet in front if the top bit is set and
    ``add_sign_padding`` (an SSH mpint)."""
    n = int(n)
    if n < 0:
        return python(n, add_sign_padding)  # two's complement: never in a key exchange, left to paramiko
    if add_sign_padding:
        return n.to_bytes(n.bit_length() // 8 + 1, "big")
    return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")


def tcp_probe(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _key_family(algorithm: str) -> str:
    """The known_hosts key type a host-key algorithm signs with (RSA keys are filed as ssh-rsa)."""
    base = algorithm.removesuffix("-cert-v01@openssh.com")
    return "ssh-rsa" if base.startswith("rsa-sha2-") else base


def other_key_algorithms(algorithms: Sequence[str], known: frozenset[str]) -> list[str] | None:
    """The host-key algorithms to leave out of the key exchange so that a device offers a key of a
    type known for it; None when nothing is known or no algorithm of a known type would be left."""
    if not known:
        return None
    others = [a for a in algorithms if _key_family(a) not in known]
    return others if len(others) < len(algorithms) else None


def _short(exc: BaseException) -> str:
    """The first sentence of an exception's text: netmiko appends a paragraph of "common causes"."""
    text = " ".join(str(exc).split())
    text = redact(text.split(". Common causes", 1)[0].rstrip("."))  # masked before it is cut
    return text[:160] if text else type(exc).__name__
