"""The SSH collector's shell layer: prompt finding, terminal set-up and command reads.

netmiko's own ``set_base_prompt`` is the reference for the base prompt. The shell is driven over
a socketpair standing in for paramiko's channel, with a scripted device on the other end, so
reads, select and EOF are real; the paramiko session itself is covered by the lab tests.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from govops.network.collectors.base import CollectError, TimedOut
from govops.network.collectors.ssh import DIALECTS, Shell


def netmiko_conn(device_type: str) -> Any:
    from netmiko import ConnectHandler

    return ConnectHandler(
        device_type=device_type, host="127.0.0.1", username="u", password="p", auto_connect=False, fast_cli=True
    )


@pytest.mark.parametrize(
    ("device_type", "prompt"),
    [
        ("huawei", "<HW-1>"),
        ("huawei", "[HW-1]"),
        ("huawei", "[~HW-1]"),
        ("huawei", "HRP_M<USG-fw>"),
        ("huawei", "<Quidway S5700 core>"),
        ("hp_comware", "<H3C-1>"),
        ("hp_comware", "RBM_P[H3C-fw]"),
        ("cisco_ios", "R-1#"),
        ("cisco_ios", "R-1>"),
        ("cisco_ios", "branch-office-router-042#"),
    ],
)
def test_base_prompt_is_what_netmiko_makes_of_the_same_prompt(
    device_type: str, prompt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = netmiko_conn(device_type)
    monkeypatch.setattr(conn, "find_prompt", lambda *a, **k: prompt)
    assert DIALECTS[device_type].base_prompt(prompt) == conn.set_base_prompt()


class SocketChannel:
    """paramiko.Channel's reading and writing surface over one end of a socketpair."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.closed = False
        self.eof_received = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv_ready(self) -> bool:
        import select

        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)

    def recv(self, n: int) -> bytes:
        return self.sock.recv(n)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)


Device = Callable[[socket.socket], None]


@pytest.fixture
def shell_for() -> Iterator[Callable[[str, Device], Shell]]:
    """A Shell on a netmiko connection object whose channel is a socketpair to ``device``."""
    threads: list[threading.Thread] = []
    socks: list[socket.socket] = []

    def make(device_type: str, device: Device) -> Shell:
        ours, theirs = socket.socketpair()
        socks.extend((ours, theirs))
        t = threading.Thread(target=device, args=(theirs,), daemon=True)
        t.start()
        threads.append(t)
        conn = netmiko_conn(device_type)
        conn.remote_conn = SocketChannel(ours)
        return Shell(conn, DIALECTS[device_type], "127.0.0.1:22")

    yield make
    for s in socks:
        s.close()
    for t in threads:
        t.join(2)


def lines(sock: socket.socket) -> Iterator[str]:
    """What the client types, line by line, until it hangs up."""
    buf = b""
    while True:
        while b"\n" not in buf:
            try:
                data = sock.recv(4096)
            except OSError:
                return
            if not data:
                return
            buf += data
        line, buf = buf.split(b"\n", 1)
        yield line.decode()


OUTPUTS = {
    "display version": "Huawei Versatile Routing Platform Software\r\nVRP (R) software, Version 5.170",
    "screen-length 0 temporary": "Info: The configuration takes effect on the current user terminal interface only.",
}


def vrp(banner: Callable[[socket.socket], None] = lambda s: s.sendall(b"\r\nInfo: welcome\r\n<HW-1>")) -> Device:
    """A VRP-like device: a login banner, then an echo, the output and the prompt per line."""

    def device(sock: socket.socket) -> None:
        banner(sock)
        for line in lines(sock):
            out = OUTPUTS.get(line)
            sock.sendall((line + ("\r\n" + out if out else "") + "\r\n<HW-1>").encode())

    return device


def test_prompt_found_and_paging_switched_off(shell_for: Callable[[str, Device], Shell]) -> None:
    shell = shell_for("huawei", vrp())
    assert shell.prepare("screen-length 0 temporary", time.monotonic() + 5, 5) == "HW-1"
    text = shell.run("display version", time.monotonic() + 5, 5)
    assert text == "display version\n" + OUTPUTS["display version"].replace("\r\n", "\n") + "\n<HW-1>"


def test_a_banner_line_that_looks_like_a_prompt_is_not_taken_for_it(shell_for: Callable[[str, Device], Shell]) -> None:
    def banner(sock: socket.socket) -> None:
        sock.sendall(b"\r\nAuthorized use only. Contact <noc>")  # ends like a VRP prompt
        time.sleep(0.02)  # the rest follows in another packet, as over a slow link
        sock.sendall(b"\r\n\r\n<HW-1>")

    shell = shell_for("huawei", vrp(banner))
    assert shell.prepare("screen-length 0 temporary", time.monotonic() + 5, 5) == "HW-1"


def test_ansi_cursor_codes_are_stripped_as_netmiko_strips_them_on_huawei(
    shell_for: Callable[[str, Device], Shell],
) -> None:
    OUTPUTS["display clock"] = "2024-05-20 09:30:00 \x1b[1D+08:00"
    try:
        shell = shell_for("huawei", vrp())
        shell.prepare(None, time.monotonic() + 5, 5)
        conn = netmiko_conn("huawei")
        conn.ansi_escape_codes = True
        expected = conn.strip_ansi_escape_codes("display clock\n" + OUTPUTS["display clock"] + "\n<HW-1>")
        assert shell.run("display clock", time.monotonic() + 5, 5) == expected
        assert "\x1b" not in expected
    finally:
        del OUTPUTS["display clock"]


def test_a_session_dropped_mid_command_is_a_collect_error_at_once(shell_for: Callable[[str, Device], Shell]) -> None:
    def device(sock: socket.socket) -> None:
        sock.sendall(b"\r\n<HW-1>")
        for line in lines(sock):
            if line == "display version":
                sock.sendall(b"display version\r\nHuawei Versatile")
                sock.shutdown(socket.SHUT_RDWR)
                return
            sock.sendall((line + "\r\n<HW-1>").encode())

    shell = shell_for("huawei", device)
    shell.prepare(None, time.monotonic() + 5, 5)
    t0 = time.monotonic()
    with pytest.raises(CollectError, match="session dropped during 'display version'") as exc:
        shell.run("display version", time.monotonic() + 30, 30)
    assert not isinstance(exc.value, TimedOut)
    assert time.monotonic() - t0 < 5


def test_no_prompt_after_a_command_times_out_with_the_command_named(shell_for: Callable[[str, Device], Shell]) -> None:
    def device(sock: socket.socket) -> None:
        sock.sendall(b"\r\n<HW-1>")
        for line in lines(sock):
            if line != "display version":  # that one hangs
                sock.sendall((line + "\r\n<HW-1>").encode())

    shell = shell_for("huawei", device)
    shell.prepare(None, time.monotonic() + 5, 5)
    with pytest.raises(TimedOut, match="no prompt after 'display version'"):
        shell.run("display version", time.monotonic() + 30, 0.3)


def test_no_prompt_at_login_times_out_naming_the_device(shell_for: Callable[[str, Device], Shell]) -> None:
    def device(sock: socket.socket) -> None:
        for _line in lines(sock):
            pass  # never answers

    shell = shell_for("cisco_ios", device)
    with pytest.raises(TimedOut, match=r"no prompt after login to 127\.0\.0\.1:22"):
        shell.prepare("terminal length 0", time.monotonic() + 30, 0.3)


def test_the_device_deadline_bounds_every_read(shell_for: Callable[[str, Device], Shell]) -> None:
    def device(sock: socket.socket) -> None:
        for _line in lines(sock):
            pass

    shell = shell_for("hp_comware", device)
    t0 = time.monotonic()
    with pytest.raises(TimedOut, match="device deadline"):
        shell.prepare("screen-length disable", time.monotonic() + 0.3, 30)
    assert time.monotonic() - t0 < 3


def test_ios_sets_the_terminal_width_and_paging_before_the_commands(
    shell_for: Callable[[str, Device], Shell],
) -> None:
    typed: list[str] = []

    def device(sock: socket.socket) -> None:
        sock.sendall(b"\r\nR-1#")
        for line in lines(sock):
            typed.append(line)
            sock.sendall((line + "\r\nR-1#").encode())

    shell = shell_for("cisco_ios", device)
    assert shell.prepare("terminal length 0", time.monotonic() + 5, 5) == "R-1"
    shell.run("show version", time.monotonic() + 5, 5)
    assert typed == ["", "terminal width 511", "terminal length 0", "show version"]


def test_comware_press_enter_to_continue_banner_is_answered(shell_for: Callable[[str, Device], Shell]) -> None:
    def device(sock: socket.socket) -> None:
        typed = lines(sock)
        next(typed)  # whatever was typed ahead is flushed before the banner asks
        sock.sendall(b"\r\n* Authorized users only *\r\nPress Y or ENTER to continue, N to exit.")
        next(typed)
        sock.sendall(b"\r\n<H3C-1>")
        for line in typed:
            sock.sendall((line + "\r\n<H3C-1>").encode())

    shell = shell_for("hp_comware", device)
    assert shell.prepare("screen-length disable", time.monotonic() + 5, 2) == "H3C-1"


def test_an_unknown_device_type_gets_netmikos_generic_prompt_rules() -> None:
    from govops.network.collectors.ssh import GENERIC

    conn = netmiko_conn("generic")
    conn.find_prompt = lambda *a, **k: "edge-7>"
    assert GENERIC.base_prompt("edge-7>") == conn.set_base_prompt() == "edge-7"


def test_text_without_an_escape_is_what_netmikos_ansi_stripping_leaves_it() -> None:
    """The shell skips netmiko's 36 ANSI substitutions when an output has no ESC: each needs one."""
    from tests.unit.test_parsers import FIX

    conn = netmiko_conn("huawei")
    files = [p for p in sorted(FIX.rglob("*")) if p.is_file() and p.suffix not in (".yml", ".md")]
    outputs = [path.read_text(errors="replace") for path in files if "LICENSE" not in path.name]
    outputs += ["line\r\nnext\b\b  \x07[Y/N]:", "  ---- More ----", "[~HW-1-GigabitEthernet0/0/1]"]
    assert len(outputs) > 40
    for text in outputs:
        assert "\x1b" in text or conn.strip_ansi_escape_codes(text) == text


def test_packet_macs_are_compared_in_constant_time_as_paramiko_does() -> None:
    import hmac

    from govops.network.collectors.ssh import _paramiko_in_c
    from paramiko import util

    _paramiko_in_c()
    assert util.constant_time_bytes_eq is hmac.compare_digest
    mac = bytes(range(32))
    assert util.constant_time_bytes_eq(mac, bytes(range(32)))
    for other in (mac[:-1] + b"\x00", mac[:16], b"", bytes(32), mac + b"\x00"):
        assert not util.constant_time_bytes_eq(mac, other)  # what paramiko's loop answers


def test_packet_macs_in_c_are_the_hmac_objects_paramiko_builds() -> None:
    import hashlib
    import hmac

    from govops.network.collectors.ssh import _paramiko_in_c
    from paramiko import packet

    _paramiko_in_c()
    for digest in (hashlib.sha1, hashlib.md5, hashlib.sha256, hashlib.sha512):
        for key, message in ((b"k" * 32, b""), (bytes(64), bytes(range(256)) * 9), (b"\xff" * 20, b"\x00\x00\x00\x07")):
            assert packet.compute_hmac(key, message, digest) == hmac.HMAC(key, message, digest).digest()


def test_mpints_in_c_are_paramikos_bytes() -> None:
    import random

    from govops.network.collectors.ssh import _paramiko_in_c
    from paramiko import util
    from paramiko.message import Message

    _paramiko_in_c()
    python = util.deflate_long.args[0]  # paramiko's own function, kept by the partial
    rng = random.Random(7)
    numbers = [0, 1, -1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 2**32 - 1, 2**32, -(2**31), -129]
    numbers += [rng.getrandbits(bits) for bits in (8, 31, 32, 33, 255, 256, 521, 2048, 4096) for _ in range(50)]
    for n in numbers:
        for pad in (True, False):
            assert util.deflate_long(n, pad) == python(n, pad), (n, pad)
        assert util.deflate_long(n) == python(n)
    m = Message()
    m.add_mpint(2**255 + 12345)  # a shared secret as the key derivation hashes it
    assert m.asbytes() == b"\x00\x00\x00\x21\x00" + (2**255 + 12345).to_bytes(32, "big")


def test_aes_gcm_is_offered_first_and_nothing_is_dropped() -> None:
    """A device picks the first of the client's ciphers it supports: one without AES-GCM still
    finds every cipher paramiko offers, in paramiko's order."""
    from govops.network.collectors.ssh import PREFERRED_CIPHERS, _prefer_ciphers
    from paramiko import Transport

    before = Transport._preferred_ciphers
    _prefer_ciphers(PREFERRED_CIPHERS)
    after = Transport._preferred_ciphers
    assert after[:2] == ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
    assert sorted(after) == sorted(before)
    assert [c for c in after if "gcm" not in c] == [c for c in before if "gcm" not in c]


def test_the_handshake_deadline_expires_as_paramikos_timer_did() -> None:
    """No timer thread per connection: the handshake times out after its timeout, not before,
    and never once the handshake completed."""
    import socket as socketlib
    import threading
    import time

    from govops.network.collectors.ssh import _paramiko_in_c
    from paramiko.packet import Packetizer

    _paramiko_in_c()
    a, b = socketlib.socketpair()
    try:
        threads = threading.active_count()
        p = Packetizer(a)
        assert not p.handshake_timed_out()  # not started
        p.start_handshake(0.2)
        assert threading.active_count() == threads
        assert not p.handshake_timed_out()
        time.sleep(0.25)
        assert p.handshake_timed_out()
        p.complete_handshake()
        assert not p.handshake_timed_out()
        q = Packetizer(b)
        q.start_handshake(0.05)
        q.complete_handshake()
        time.sleep(0.1)
        assert not q.handshake_timed_out()
        r = Packetizer(b)
        r.start_handshake(0.05)
        time.sleep(0.1)
        b.settimeout(0.01)
        with pytest.raises(EOFError):  # what paramiko's read raises on a timed-out handshake
            r.read_all(4)
    finally:
        a.close()
        b.close()
