"""SSH collector on netmiko: one session per device, paging off, the platform's command set.

netmiko's own pauses dominate a short session (measured 2.6 s per Huawei device with defaults);
``fast_cli`` and an explicit prompt pattern for every command keep correctness while cutting them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import socket
import time
from collections.abc import Sequence
from typing import Any

from govops.credentials import Credential
from govops.network.collectors.base import (
    AuthFailed,
    CollectError,
    SshOutput,
    SshTarget,
    TimedOut,
    Unreachable,
)


def fingerprint(key: Any) -> tuple[str, str]:
    digest = hashlib.sha256(key.asbytes()).digest()
    return key.get_name(), "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class NetmikoCollector:
    def __init__(self, known_hosts: str | None = None) -> None:
        self.known_hosts = known_hosts

    def probe(self, host: str, port: int, timeout: float) -> bool:
        return tcp_probe(host, port, timeout)

    def collect(self, target: SshTarget, credential: Credential, commands: Sequence[str], deadline: float) -> SshOutput:
        from netmiko import ConnectHandler
        from netmiko.exceptions import (
            NetmikoAuthenticationException,
            NetmikoTimeoutException,
            ReadTimeout,
        )
        from paramiko.ssh_exception import SSHException

        if credential.password is None:
            raise CollectError(f"credential '{credential.name}' has no password for SSH")
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
        if self.known_hosts:
            params.update(ssh_strict=True, system_host_keys=False, alt_host_keys=True, alt_key_file=self.known_hosts)
        conn = None
        try:
            try:
                conn = ConnectHandler(**params)
            except NetmikoAuthenticationException:
                raise AuthFailed("ssh: authentication failed") from None
            except ReadTimeout:
                raise TimedOut(f"ssh: no prompt after login to {target.host}:{target.port}") from None
            except NetmikoTimeoutException as exc:
                raise Unreachable(f"ssh: cannot connect to {target.host}:{target.port} ({_short(exc)})") from None
            except (OSError, EOFError) as exc:
                raise Unreachable(f"ssh: connection to {target.host}:{target.port} failed ({_short(exc)})") from None
            except SSHException as exc:
                text = str(exc)
                if "host key" in text.lower() or "not found in known_hosts" in text:
                    raise CollectError(f"ssh: host key not trusted ({text})") from None
                raise Unreachable(f"ssh: {text}") from None
            key = None
            try:
                remote: Any = conn.remote_conn
                transport = remote.get_transport()
                if transport is not None:
                    key = fingerprint(transport.get_remote_server_key())
            except (AttributeError, SSHException):
                key = None
            prompt = re.compile(re.escape(conn.base_prompt) + r"[^\n]*[>#\]]\s*$")
            outputs: dict[str, str] = {}
            for command in commands:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimedOut(f"ssh: device deadline reached before '{command}'")
                outputs[command] = _run(conn, command, prompt, min(left, target.timeout))
            return SshOutput(outputs, key, conn.base_prompt)
        finally:
            if conn is not None:
                # Close the transport without netmiko's logout dialogue: on VRP its "quit" and
                # pauses cost 2.2 s per device, and a device frees the VTY when TCP closes.
                with contextlib.suppress(Exception):
                    conn.paramiko_cleanup()


def _run(conn: Any, command: str, prompt: re.Pattern[str], timeout: float) -> str:
    """Send one command and read until the prompt comes back; raw text, echo and prompt included.

    netmiko's send_command polls with its own pauses and cannot tell a dropped session from a slow
    one; this waits on the channel itself, so output arrives as fast as the device sends it and a
    closed channel is reported at once.
    """
    import select

    from paramiko.ssh_exception import SSHException

    channel = conn.remote_conn
    buf: str = ""
    until = time.monotonic() + timeout
    try:
        conn.write_channel(command + conn.RETURN)
    except (OSError, EOFError, SSHException) as exc:
        raise CollectError(f"ssh: session dropped before '{command}' ({_short(exc)})") from None
    echo = -1
    while True:
        chunk: str = conn.read_channel()
        if chunk:
            buf += chunk
            if echo < 0:
                # whatever precedes the echo is a late prompt of the previous command
                echo = buf.find(command)
            if echo >= 0 and prompt.search(buf[max(echo + len(command), len(buf) - 400) :]):
                return buf[echo:]
            continue
        if channel.closed or channel.exit_status_ready() or not channel.get_transport().is_active():
            raise CollectError(f"ssh: session dropped during '{command}'")
        wait = until - time.monotonic()
        if wait <= 0:
            raise TimedOut(f"ssh: no prompt after '{command}' within {timeout:.0f} s")
        select.select([channel], [], [], min(wait, 0.2))


def tcp_probe(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _short(exc: BaseException) -> str:
    """The first sentence of an exception's text: netmiko appends a paragraph of "common causes"."""
    text = " ".join(str(exc).split())
    text = text.split(". Common causes", 1)[0].rstrip(".")
    return text[:160] if text else type(exc).__name__
