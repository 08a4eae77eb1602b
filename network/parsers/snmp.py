"""SNMP facts from raw numeric OIDs (no MIB resolution: 2.8x faster, see the extranet-lab notes).

The collector GETs ``SNMP_GET``, walks each subtree of ``SNMP_WALK``, then walks what
``snmp_followup_walks`` names (IPv6 neighbours on the uplinks found in the first round), and
passes every varbind as ``{"1.3.6...": value}``. Values: ``int`` for INTEGER/Counter/Gauge,
``bytes`` or ``str`` for OCTET STRING, ``str`` (dotted) for OBJECT IDENTIFIER.

Encodings (RFC 4293 IP-MIB, RFC 4292 IP-FORWARD-MIB):
- ipAddressTable index: ``addrType.len.bytes`` (1 ipv4, 2 ipv6, 3 ipv4z, 4 ipv6z: 4 zone bytes).
- ipAddressPrefix: a RowPointer into ipAddressPrefixTable whose last sub-identifier is the
  prefix length; ``0.0`` when unknown.
- inetCidrRouteTable index: ``destType.len.dest.pfxLen.policy(len.subids).nhType.len.nextHop``;
  the IPv6 default route starts ``2.16.<16 zeros>.0``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from govops.network.facts import DeviceFacts, InterfaceFacts
from govops.network.parsers.config import InterfaceConfig, interface_role
from govops.network.parsers.model import version_from_text
from govops.network.platforms import PLATFORMS

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
IPV6_IP_FORWARDING = "1.3.6.1.2.1.4.25.0"
INET_CIDR_ROUTE_NUMBER = "1.3.6.1.2.1.4.24.6.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_ADMIN = "1.3.6.1.2.1.2.2.1.7"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_ALIAS = "1.3.6.1.2.1.31.1.1.1.18"
IP_ADDRESS_IFINDEX = "1.3.6.1.2.1.4.34.1.3"
IP_ADDRESS_TYPE = "1.3.6.1.2.1.4.34.1.4"
IP_ADDRESS_PREFIX = "1.3.6.1.2.1.4.34.1.5"
IP_ADDRESS_ORIGIN = "1.3.6.1.2.1.4.34.1.6"
IP_AD_ENT_IFINDEX = "1.3.6.1.2.1.4.20.1.2"  # RFC 1213 ipAddrTable: IPv4 fallback for old agents
IP_AD_ENT_NETMASK = "1.3.6.1.2.1.4.20.1.3"
IPV6_IF_FORWARDING = "1.3.6.1.2.1.4.30.1.8"
INET_CIDR_ROUTE_IFINDEX = "1.3.6.1.2.1.4.24.7.1.7"
IP_NET_TO_PHYSICAL_STATE = "1.3.6.1.2.1.4.35.1.7"
DEFAULT_ROUTE_V6 = INET_CIDR_ROUTE_IFINDEX + ".2.16" + ".0" * 16 + ".0"
DEFAULT_ROUTE_V4 = INET_CIDR_ROUTE_IFINDEX + ".1.4.0.0.0.0.0"

SNMP_GET: dict[str, str] = {
    "sysDescr": SYS_DESCR,
    "sysObjectID": SYS_OBJECT_ID,
    "sysName": SYS_NAME,
    "ipv6IpForwarding": IPV6_IP_FORWARDING,
    "inetCidrRouteNumber": INET_CIDR_ROUTE_NUMBER,
}
# Subtrees to walk. The route walks start inside the default routes' index, so a full table of a
# core router is never read.
SNMP_WALK: dict[str, str] = {
    "ifDescr": IF_DESCR,
    "ifAdminStatus": IF_ADMIN,
    "ifOperStatus": IF_OPER,
    "ifName": IF_NAME,
    "ifAlias": IF_ALIAS,
    "ipAddressIfIndex": IP_ADDRESS_IFINDEX,
    "ipAddressType": IP_ADDRESS_TYPE,
    "ipAddressPrefix": IP_ADDRESS_PREFIX,
    "ipAddressOrigin": IP_ADDRESS_ORIGIN,
    "ipAdEntIfIndex": IP_AD_ENT_IFINDEX,
    "ipAdEntNetMask": IP_AD_ENT_NETMASK,
    "ipv6InterfaceForwarding": IPV6_IF_FORWARDING,
    "inetCidrRouteIfIndex ::/0": DEFAULT_ROUTE_V6,
    "inetCidrRouteIfIndex 0.0.0.0/0": DEFAULT_ROUTE_V4,
}

# sysObjectID enterprise prefixes -> platform
ENTERPRISES: dict[str, str] = {
    "1.3.6.1.4.1.2011": "huawei_vrp",
    "1.3.6.1.4.1.25506": "hp_comware",
    "1.3.6.1.4.1.9": "cisco_ios",
    "1.3.6.1.4.1.8072": "linux",
}


def _norm_oid(oid: str) -> str:
    return oid.strip().lstrip(".")


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        # Chinese interface descriptions: UTF-8 on newer releases, GB18030 (GBK) on older ones
        for enc in ("utf-8", "gb18030"):
            try:
                return value.decode(enc)
            except UnicodeDecodeError:
                continue
        return value.decode("latin-1")
    return str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def platform_from_oid(sys_object_id: str | None) -> str | None:
    if not sys_object_id:
        return None
    oid = _norm_oid(sys_object_id)
    for prefix, plat in ENTERPRISES.items():
        if oid == prefix or oid.startswith(prefix + "."):
            return plat
    return None


def _column(vbs: Mapping[str, Any], column: str) -> dict[str, Any]:
    """``{index suffix: value}`` of one table column."""
    pre = column + "."
    return {oid[len(pre) :]: v for oid, v in vbs.items() if oid.startswith(pre)}


def _decode_inet(parts: list[int]) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address | None, int]:
    """An InetAddressType + InetAddress at the start of ``parts`` -> (address, parts used)."""
    if len(parts) < 2:
        return None, len(parts)
    kind, n = parts[0], parts[1]
    raw = bytes(parts[2 : 2 + n])
    if len(raw) != n:
        return None, len(parts)
    used = 2 + n
    if kind in (1, 3) and n >= 4:
        return ipaddress.IPv4Address(raw[:4]), used
    if kind in (2, 4) and n >= 16:
        return ipaddress.IPv6Address(raw[:16]), used
    return None, used


def _prefix_len(pointer: Any) -> int | None:
    text = _norm_oid(_text(pointer))
    if not text or text in ("0.0", "0"):
        return None
    last = text.rsplit(".", 1)[-1]
    return int(last) if last.isdigit() else None


def _route_ifindexes(vbs: Mapping[str, Any], subtree: str) -> list[int]:
    pre = subtree + "."
    return [i for oid, v in vbs.items() if oid.startswith(pre) and (i := _int(v)) is not None]


def facts_from_snmp(varbinds: Mapping[str, Any]) -> DeviceFacts:
    """``DeviceFacts`` from the varbinds of ``SNMP_GET`` + ``SNMP_WALK`` (+ follow-up walks)."""
    vbs = {_norm_oid(k): v for k, v in varbinds.items()}
    descr = _text(vbs[SYS_DESCR]) if SYS_DESCR in vbs else None
    oid = _norm_oid(_text(vbs[SYS_OBJECT_ID])) if SYS_OBJECT_ID in vbs else None
    plat = platform_from_oid(oid)
    ver = version_from_text(plat, descr) if descr else None

    names = {idx: _text(v) for idx, v in _column(vbs, IF_DESCR).items()}
    for idx, v in _column(vbs, IF_NAME).items():
        names.setdefault(idx, _text(v))
    admin = _column(vbs, IF_ADMIN)
    oper = _column(vbs, IF_OPER)
    alias = {idx: _text(v) for idx, v in _column(vbs, IF_ALIAS).items()}

    v4: dict[str, set[str]] = {i: set() for i in names}
    v6: dict[str, set[str]] = {i: set() for i in names}
    ll: dict[str, str] = {}
    types = _column(vbs, IP_ADDRESS_TYPE)
    prefixes = _column(vbs, IP_ADDRESS_PREFIX)
    origins = _column(vbs, IP_ADDRESS_ORIGIN)
    for idx, ifindex in _column(vbs, IP_ADDRESS_IFINDEX).items():
        if _int(types.get(idx, 1)) != 1:  # unicast only, not anycast/broadcast
            continue
        parts = [int(p) for p in idx.split(".") if p.isdigit()]
        addr, _ = _decode_inet(parts)
        key = str(_int(ifindex))
        if addr is None or key not in names:
            continue
        plen = _prefix_len(prefixes.get(idx))
        if isinstance(addr, ipaddress.IPv4Address):
            if plen is not None:
                v4[key].add(f"{addr}/{plen}")
        elif addr.is_link_local:
            ll.setdefault(key, str(addr))
        elif not (addr.is_loopback or addr.is_multicast or addr.is_unspecified):
            # SLAAC (origin linklayer 5 / random 6) addresses are /64 when the agent omits the prefix
            if plen is None and _int(origins.get(idx)) in (5, 6):
                plen = 64
            if plen is not None:
                v6[key].add(f"{addr}/{plen}")
    if not any(v4.values()):
        masks = _column(vbs, IP_AD_ENT_NETMASK)
        for addr_s, ifindex in _column(vbs, IP_AD_ENT_IFINDEX).items():
            key = str(_int(ifindex))
            if key in v4 and addr_s in masks:
                net = ipaddress.IPv4Interface(f"{addr_s}/{_text(masks[addr_s])}")
                v4[key].add(f"{net.ip}/{net.network.prefixlen}")

    routes_known = _int(vbs.get(INET_CIDR_ROUTE_NUMBER)) is not None
    v6_default = _route_ifindexes(vbs, DEFAULT_ROUTE_V6)
    v4_default = _route_ifindexes(vbs, DEFAULT_ROUTE_V4)
    uplink_idx = {str(i) for i in v6_default}

    interfaces: list[InterfaceFacts] = []
    for idx in sorted(names, key=lambda s: int(s) if s.isdigit() else 0):
        name = names[idx]
        a, o = _int(admin.get(idx)), _int(oper.get(idx))
        desc = alias.get(idx) or None
        ic = InterfaceConfig(name, description=desc)
        iface = InterfaceFacts(
            name=name,
            admin_up=None if a is None else a == 1,
            oper_up=None if o is None else o == 1,
            ipv4=sorted(v4[idx], key=ipaddress.IPv4Interface),
            ipv6=sorted(v6[idx], key=ipaddress.IPv6Interface),
            ipv6_link_local=ll.get(idx),
        )
        iface.role = interface_role(ic, name, {name} if idx in uplink_idx else set())  # type: ignore[assignment]
        interfaces.append(iface)

    fwd = _int(vbs.get(IPV6_IP_FORWARDING))
    if fwd in (1, 2):
        ipv6_forwarding: bool | None = fwd == 1
    else:
        per_if = [_int(v) for v in _column(vbs, IPV6_IF_FORWARDING).values()]
        ipv6_forwarding = True if 1 in per_if else (False if per_if else None)

    # uplinks by role (description or the default route), so a device without ::/0 still counts
    order = sorted(names, key=lambda s: int(s) if s.isdigit() else 0)
    uplinks = {idx for idx, iface in zip(order, interfaces, strict=True) if iface.role == "uplink"}
    neighbors = _uplink_neighbor_count(vbs, uplinks)
    return DeviceFacts(
        hostname=_text(vbs[SYS_NAME]) if SYS_NAME in vbs else None,
        platform=plat,
        vendor=PLATFORMS[plat].vendor if plat else None,
        os_version=ver.os_version if ver else None,
        sys_descr=descr,
        sys_object_id=oid,
        interfaces=interfaces,
        ipv6_forwarding=ipv6_forwarding,
        ipv6_default_route=bool(v6_default) if (v6_default or routes_known) else None,
        ipv4_default_route=bool(v4_default) if (v4_default or routes_known) else None,
        ipv6_neighbors_uplink=neighbors,
    )


def snmp_followup_walks(varbinds: Mapping[str, Any]) -> list[str]:
    """Second-round walks: IPv6 neighbour states on each interface carrying the default route."""
    vbs = {_norm_oid(k): v for k, v in varbinds.items()}
    return [f"{IP_NET_TO_PHYSICAL_STATE}.{i}.2" for i in sorted(set(_route_ifindexes(vbs, DEFAULT_ROUTE_V6)))]


def _uplink_neighbor_count(vbs: Mapping[str, Any], uplinks: set[str]) -> int | None:
    """Resolved IPv6 neighbours (state not incomplete/invalid) on uplinks; None when not walked."""
    states = _column(vbs, IP_NET_TO_PHYSICAL_STATE)
    if not uplinks or not states:
        return None
    count = 0
    for idx, state in states.items():
        ifindex, _, rest = idx.partition(".")
        # ipNetToPhysicalState: 5 invalid, 7 incomplete
        if ifindex in uplinks and rest.startswith("2.") and _int(state) not in (5, 7):
            count += 1
    return count
