"""Shared pieces of the CLI parsers: the error type, output clean-up, names and addresses.

Real device output is messy: CRLF line ends, paging remnants (``---- More ----`` followed by cursor
moves that erase it), the echoed command, a trailing prompt, ``^`` markers under a rejected
command. ``clean_output`` undoes what a terminal would have shown, so parsers see plain lines.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any

from govops.credentials import redact
from govops.errors import GovopsError


class ParseError(GovopsError):
    """Device output that a parser cannot read; names the platform and the command.

    The message never quotes the output: a running configuration holds community strings and
    password hashes.
    """

    def __init__(self, platform: str, command: str, reason: str) -> None:
        super().__init__(f"cannot parse '{command}' output from {platform}: {reason}")
        self.platform = platform
        self.command = command
        self.reason = reason


# Cursor-left moves as VRP/Comware (ESC [ n D) and IOS (backspaces) use them to erase "More".
_ESC = re.compile(r"\x1b\[(\d*)([A-Za-z])")
_MORE = re.compile(r"^(\s*-+\s*More\s*-+)( *)(.*)$", re.IGNORECASE)
_PROMPT = re.compile(r"^\s*(<[^<>\s]+>|\[~?\*?[^\[\]\s]+\]|[A-Za-z0-9][A-Za-z0-9_.:()/-]*[#>])\s*$")
_CLI_ERRORS = (
    re.compile(r"^\s*Error:\s*(.*)$"),  # VRP
    re.compile(r"^\s*%\s*((?:Unrecognized|Incomplete|Too many|Wrong|Ambiguous|Invalid).*)$", re.IGNORECASE),
)


def _render_line(line: str) -> str:
    """Apply cursor-left moves and backspaces like a terminal: later text overwrites earlier."""
    if "\x1b" not in line and "\x08" not in line:
        return line
    buf: list[str] = []
    col = 0
    pos = 0
    while pos < len(line):
        ch = line[pos]
        if ch == "\x1b":
            m = _ESC.match(line, pos)
            if m:
                if m.group(2) == "D":
                    col = max(0, col - int(m.group(1) or "1"))
                elif m.group(2) == "K":
                    del buf[col:]
                pos = m.end()
                continue
            pos += 1
            continue
        if ch == "\x08":
            col = max(0, col - 1)
            pos += 1
            continue
        if col < len(buf):
            buf[col] = ch
        else:
            buf.extend(" " * (col - len(buf)))
            buf.append(ch)
        col += 1
        pos += 1
    return "".join(buf)


def clean_output(text: str, command: str | None = None) -> list[str]:
    """Lines of ``text`` as a terminal would show them, without echo, paging and trailing prompt."""
    text = text.replace("\r\n", "\n").replace("\n\r", "\n")
    out: list[str] = []
    for raw in text.split("\n"):
        # a lone CR returns to column 0: what follows overwrites the start of the line
        parts = raw.split("\r")
        line = _render_line(parts[0])
        for part in parts[1:]:
            rendered = _render_line(part)
            line = rendered + line[len(rendered) :]
        m = _MORE.match(line)
        if m:
            marker, spaces, rest = m.groups()
            # remnant without escapes: the erasing spaces stand where the marker was
            line = rest if len(spaces) < len(marker) else " " * (len(spaces) - len(marker)) + rest
            if not line.strip():
                continue
        out.append(line.rstrip())
    while out and not out[-1].strip():
        out.pop()
    while out and _PROMPT.match(out[-1]):
        out.pop()
        while out and not out[-1].strip():
            out.pop()
    if out and command:
        first = out[0].strip()
        if first.endswith(command) and (first == command or _PROMPT.match(first[: -len(command)])):
            out.pop(0)
    while out and not out[0].strip():
        out.pop(0)
    return out


def cli_error(lines: list[str]) -> str | None:
    """The device's own error message when it rejected the command, else None."""
    for line in lines[:6]:
        for pattern in _CLI_ERRORS:
            m = pattern.match(line)
            if m:
                return m.group(1).strip() or "command rejected"
    return None


def prepare(platform: str, command: str, text: str | None) -> list[str]:
    """Clean ``text``; a missing output or one where the device rejected the command raises."""
    if text is None:
        raise ParseError(platform, command, "no output collected")
    lines = clean_output(text, command)
    err = cli_error(lines)
    if err is not None:
        # masked before it is cut: a cut secret is no longer found by the scrubbing downstream
        raise ParseError(platform, command, f"device rejected the command ({redact(err)[:80]})")
    return lines


# --- interface names -------------------------------------------------------------------------

# Abbreviations each platform prints in brief/neighbour tables -> the name in its configuration.
_ABBREV: dict[str, dict[str, str]] = {
    "huawei_vrp": {
        "ge": "GigabitEthernet",
        "xge": "XGigabitEthernet",
        "eth": "Ethernet",
        "loop": "LoopBack",
        "lo": "LoopBack",
        "vlanif": "Vlanif",
        "vif": "Vlanif",
        "meth": "MEth",
        "eth-trunk": "Eth-Trunk",
        "null": "NULL",
        "tun": "Tunnel",
    },
    "hp_comware": {
        "ge": "GigabitEthernet",
        "xge": "Ten-GigabitEthernet",
        "fge": "FortyGigE",
        "hge": "HundredGigE",
        "wge": "Twenty-FiveGigE",
        "mge": "M-GigabitEthernet",
        "vlan": "Vlan-interface",
        "loop": "LoopBack",
        "inloop": "InLoopBack",
        "bagg": "Bridge-Aggregation",
        "ragg": "Route-Aggregation",
        "tun": "Tunnel",
        "eth": "Ethernet",
    },
    "cisco_ios": {
        "gi": "GigabitEthernet",
        "gig": "GigabitEthernet",
        "fa": "FastEthernet",
        "te": "TenGigabitEthernet",
        "tw": "TwoGigabitEthernet",
        "fo": "FortyGigabitEthernet",
        "hu": "HundredGigE",
        "et": "Ethernet",
        "eth": "Ethernet",
        "vl": "Vlan",
        "lo": "Loopback",
        "po": "Port-channel",
        "di": "Dialer",
        "tu": "Tunnel",
        "se": "Serial",
        "mg": "mgmt",
        "nu": "Null",
    },
}
_IFNAME = re.compile(r"^([A-Za-z][A-Za-z-]*?)(-?\d.*)$")
_LOWER_FULL: dict[str, dict[str, str]] = {
    p: {full.lower(): full for full in table.values()} for p, table in _ABBREV.items()
}


def canonical_ifname(platform: str | None, name: str) -> str:
    """The configuration spelling of an interface name (``GE0/0/1`` -> ``GigabitEthernet0/0/1``)."""
    name = name.strip()
    # VRP marks ports "(10G)" / "(v)" in brief output: not part of the name
    name = re.sub(r"\([^)]*\)$", "", name)
    m = _IFNAME.match(name)
    if not m or platform not in _ABBREV:
        return name
    prefix, rest = m.groups()
    low = prefix.lower()
    full = _LOWER_FULL[platform].get(low) or _ABBREV[platform].get(low)
    return f"{full}{rest}" if full else name


def ifname_key(name: str) -> str:
    """A platform-free comparison key: SNMP ifDescr and CLI names of one port give the same key."""
    return re.sub(r"[\s_-]", "", name).lower()


# --- addresses -------------------------------------------------------------------------------


def ipv4_with_prefix(addr: str, mask: str) -> str:
    """``10.0.0.1`` + ``255.255.255.0`` or ``24`` -> ``10.0.0.1/24``."""
    iface = ipaddress.IPv4Interface(f"{addr}/{mask}")
    return f"{iface.ip}/{iface.network.prefixlen}"


def ipv6_norm(addr: str) -> str:
    """Compressed lower-case spelling of an IPv6 address (zone index dropped)."""
    return str(ipaddress.IPv6Address(addr.split("%", maxsplit=1)[0]))


def is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text.split("%", maxsplit=1)[0])
    except ValueError:
        return False
    return True


def is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def is_global_ipv6(addr: str) -> bool:
    """Global unicast for the audit: not link-local, loopback, multicast or unspecified.

    Unique-local (fc00::/7) counts: government extranets commonly number with ULA.
    """
    ip = ipaddress.IPv6Address(addr.split("%", maxsplit=1)[0].split("/", maxsplit=1)[0])
    return not (ip.is_link_local or ip.is_loopback or ip.is_multicast or ip.is_unspecified)


@dataclass(frozen=True)
class Template:
    """A TextFSM template: one of ntc-templates' or one shipped with govops."""

    name: str
    ntc: bool = True


@functools.cache
def _template_text(name: str, ntc: bool) -> str:
    if ntc:
        # Read the file by name instead of going through ntc-templates' index: the index matches
        # command prefixes and picks wrong templates (huawei_vrp_dir matches any "d..." command).
        pkg = resources.files("ntc_templates") / "templates" / f"{name}.textfsm"
    else:
        pkg = resources.files("govops.network.parsers") / "templates" / f"{name}.textfsm"
    return pkg.read_text(encoding="utf-8")


# Compiled templates, per thread (a TextFSM holds its parse state). Compiling one took a sixth of
# the CLI parsing's CPU, once per command of every device.
_COMPILED = threading.local()


def _fsm(template: Template) -> Any:
    import io

    import textfsm

    cache: dict[Template, Any] | None = getattr(_COMPILED, "fsms", None)
    if cache is None:
        cache = _COMPILED.fsms = {}
    fsm = cache.get(template)
    if fsm is None:
        fsm = cache[template] = textfsm.TextFSM(io.StringIO(_template_text(template.name, template.ntc)))
    else:
        fsm.Reset()
    return fsm


def textfsm_parse(template: Template, lines: list[str], platform: str, command: str) -> list[dict[str, Any]]:
    """Rows of ``lines`` parsed with ``template``, keys lower-case; template errors -> ParseError."""
    import textfsm

    fsm = _fsm(template)
    try:
        rows = fsm.ParseText("\n".join(lines) + "\n")
    except textfsm.TextFSMError as exc:
        # the template's own message names the failing rule and quotes the line: keep it out
        raise ParseError(platform, command, f"unexpected line format ({type(exc).__name__})") from None
    keys = [h.lower() for h in fsm.header]
    return [dict(zip(keys, row, strict=True)) for row in rows]
