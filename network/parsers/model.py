"""What the per-command parsers return before ``parse_cli`` assembles ``DeviceFacts``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class BriefRow:
    """One interface of an ``ip``/``ipv6 interface brief`` table."""

    name: str
    admin_up: bool | None
    oper_up: bool | None
    addresses: list[str] = field(default_factory=list)  # as printed; IPv4 may carry "/len"


@dataclass(frozen=True)
class Route:
    prefix: str  # "::/0", compressed
    next_hop: str | None
    interface: str | None


@dataclass(frozen=True)
class Neighbor:
    address: str
    interface: str
    vlan: int | None  # switches report the port and the VLAN; the L3 interface is its VLAN interface
    state: str


@dataclass
class VersionInfo:
    os_version: str | None
    hostname: str | None = None
    major: int | None = None  # VRP 5/8, Comware 5/7, IOS 12/15/16/17: selects version defaults
    release: str | None = None  # VRP product release "V200R019C10SPC500"


_VRP = re.compile(r"VRP\s*\(R\)\s*software,\s*Version\s+(\d+)\.(\d+)\s*\(([^)]*)\)", re.IGNORECASE)
_COMWARE = re.compile(r"Version\s+((\d+)\.\d+[\w.]*),\s*(?:Release|ESS|Feature)\s+(\w+)", re.IGNORECASE)
_IOS = re.compile(r"Cisco IOS Software.*?,\s*Version\s+([^,\s]+)", re.IGNORECASE)
_IOS_XE = re.compile(r"Cisco IOS[ -]XE Software,\s*Version\s+([^,\s]+)", re.IGNORECASE)
_LINUX = re.compile(r"^Linux\s+\S+\s+(\S+)")
_RELEASE = re.compile(r"\b(V\d{3}R\d{3}\w*)")


def version_from_text(platform: str | None, text: str) -> VersionInfo | None:
    """OS version from ``display version`` / ``show version`` text or an SNMP sysDescr.

    One function for both sources, so SSH and SNMP facts of one device spell it the same.
    """
    if platform == "huawei_vrp":
        m = _VRP.search(text)
        if not m:
            return None
        product = m.group(3).strip()
        rel = _RELEASE.search(product)
        release = rel.group(1) if rel else None
        # Huawei identifies software by its product release (V300R019C10SPC300), not by "5.170"
        return VersionInfo(release or f"{m.group(1)}.{m.group(2)}", major=int(m.group(1)), release=release)
    if platform == "hp_comware":
        m = _COMWARE.search(text)
        if not m:
            return None
        return VersionInfo(f"{m.group(1)} Release {m.group(3)}", major=int(m.group(2)))
    if platform == "cisco_ios":
        m = _IOS.search(text) or _IOS_XE.search(text)
        if not m:
            return None
        major = re.match(r"\d+", m.group(1))
        return VersionInfo(m.group(1), major=int(major.group(0)) if major else None)
    if platform == "linux":
        m = _LINUX.match(text.strip())
        return VersionInfo(m.group(1)) if m else None
    return None
