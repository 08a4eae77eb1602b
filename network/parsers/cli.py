"""``parse_cli``: the outputs of one device's audit commands -> ``DeviceFacts``."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from govops.network.facts import DeviceFacts, InterfaceFacts
from govops.network.parsers import tables
from govops.network.parsers.commands import Command, command_set
from govops.network.parsers.common import ParseError, canonical_ifname, ipv6_norm, is_global_ipv6, prepare
from govops.network.parsers.config import (
    ConfigFacts,
    InterfaceConfig,
    eui64_match,
    interface_role,
    parse_ios,
    parse_vrp_like,
)
from govops.network.parsers.model import BriefRow, Neighbor, Route, VersionInfo, version_from_text
from govops.network.platforms import PLATFORMS

_BRIEF4: dict[str, Callable[[list[str], str], list[BriefRow]]] = {
    "huawei_vrp": tables.vrp_ip_brief,
    "hp_comware": tables.comware_ip_brief,
    "cisco_ios": tables.ios_ip_brief,
}
_BRIEF6: dict[str, Callable[[list[str], str], list[BriefRow]]] = {
    "huawei_vrp": tables.vrp_ipv6_brief,
    "hp_comware": tables.comware_ipv6_brief,
    "cisco_ios": tables.ios_ipv6_brief,
}
_NEIGH: dict[str, Callable[[list[str], str], list[Neighbor]]] = {
    "huawei_vrp": tables.vrp_ipv6_neighbors,
    "hp_comware": tables.comware_ipv6_neighbors,
    "cisco_ios": tables.ios_ipv6_neighbors,
}
# NULL0 / InLoopBack0 exist on every VRP/Comware box and carry nothing the audit looks at
_PSEUDO = re.compile(r"^(null|inloopback)\d", re.IGNORECASE)
_VLAN_IF = {"huawei_vrp": "Vlanif", "hp_comware": "Vlan-interface", "cisco_ios": "Vlan"}


@dataclass
class CliResult:
    """Facts plus what ``DeviceFacts`` has no field for yet (see ``EXTRA_FACTS`` in rules)."""

    facts: DeviceFacts
    extra: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # optional commands absent or rejected


def _find_output(cmd: Command, outputs: Mapping[str, str]) -> str | None:
    for key, text in outputs.items():
        if cmd.accepts(key):
            return text
    return None


def _version(platform: str, command: str, lines: list[str]) -> VersionInfo:
    info = version_from_text(platform, "\n".join(lines))
    if info is None:
        raise ParseError(platform, command, "no software version line")
    if platform == "cisco_ios":
        for line in lines:
            if " uptime is " in line:
                info.hostname = line.split(" uptime is ", 1)[0].strip()
                break
    return info


def _ipv6_with_prefix(addr: str, ic: InterfaceConfig | None) -> str:
    """An observed address with its configured prefix length; SLAAC addresses are /64 by RFC 4862."""
    norm = ipv6_norm(addr)
    if ic is not None:
        for a in ic.ipv6:
            if a.split("/")[0] == norm:
                return a
        match = eui64_match(norm, ic.ipv6_eui64_prefixes)
        if match:
            return match
    return f"{norm}/64"


def _sort_v4(items: set[str]) -> list[str]:
    return sorted(items, key=ipaddress.IPv4Interface)


def _sort_v6(items: set[str]) -> list[str]:
    return sorted(items, key=ipaddress.IPv6Interface)


def _build_interfaces(
    platform: str,
    cfg: ConfigFacts,
    brief4: list[BriefRow],
    brief6: list[BriefRow],
    routes: list[Route],
) -> tuple[list[InterfaceFacts], set[str]]:
    names: dict[str, None] = {}
    for n in cfg.interfaces:
        names[n] = None
    for row in (*brief4, *brief6):
        names[canonical_ifname(platform, row.name)] = None
    b4 = {canonical_ifname(platform, r.name): r for r in brief4}
    b6 = {canonical_ifname(platform, r.name): r for r in brief6}
    out: list[InterfaceFacts] = []
    for name in names:
        if _PSEUDO.match(name):
            continue
        ic = cfg.interfaces.get(name)
        r4, r6 = b4.get(name), b6.get(name)
        state = r4 or r6
        admin = state.admin_up if state else (None if ic is None else not ic.shutdown)
        oper = state.oper_up if state else None
        v4 = set(ic.ipv4 if ic else [])
        if r4 and not v4:
            v4 |= {a for a in r4.addresses if "/" in a}  # without a mask the prefix is unknown
        v6: set[str] = {a for a in (ic.ipv6 if ic else []) if is_global_ipv6(a)}
        link_local = ic.ipv6_link_local if ic else None
        for a in r6.addresses if r6 else []:
            if is_global_ipv6(a):
                v6.add(_ipv6_with_prefix(a, ic))
            elif link_local is None and ipaddress.IPv6Address(a.split("%")[0]).is_link_local:
                link_local = ipv6_norm(a)
        out.append(InterfaceFacts(name, admin, oper, _sort_v4(v4), _sort_v6(v6), link_local))
    uplinks: set[str] = set()
    for route in routes:
        if route.prefix != "::/0":
            continue
        if route.interface:
            uplinks.add(canonical_ifname(platform, route.interface))
        elif route.next_hop:
            hop = ipaddress.IPv6Address(route.next_hop)
            for i in out:
                if any(hop in ipaddress.IPv6Interface(a).network for a in i.ipv6):
                    uplinks.add(i.name)
    for i in out:
        i.role = interface_role(cfg.interfaces.get(i.name), i.name, uplinks)  # type: ignore[assignment]
    return out, uplinks


def _uplink_neighbors(platform: str, interfaces: list[InterfaceFacts], neighbors: list[Neighbor]) -> int | None:
    by_name = {i.name: i for i in interfaces}
    if not any(i.role == "uplink" for i in interfaces):
        return None  # no uplink identified: a count would mean nothing
    count = 0
    for n in neighbors:
        if not tables.usable_neighbor(n):
            continue
        iface = by_name.get(n.interface)
        # a switch names the port; the L3 interface is the VLAN interface unless the port is routed
        if n.vlan is not None and (iface is None or not iface.l3):
            iface = by_name.get(f"{_VLAN_IF[platform]}{n.vlan}", iface)
        if iface is not None and iface.role == "uplink":
            count += 1
    return count


def parse_cli_detailed(platform: str, outputs: Mapping[str, str]) -> CliResult:
    """Facts, extra facts and skipped optional commands from ``{command: output}``."""
    cmds = command_set(platform)
    if not cmds:
        raise ParseError(platform, "-", "no CLI support for this platform")
    lines: dict[str, list[str]] = {}
    clis: dict[str, str] = {}
    skipped: list[str] = []
    for cmd in cmds:
        text = _find_output(cmd, outputs)
        clis[cmd.key] = cmd.cli
        if not cmd.required and text is None:
            skipped.append(cmd.cli)
            continue
        try:
            lines[cmd.key] = prepare(platform, cmd.cli, text)
        except ParseError:
            if cmd.required:
                raise
            skipped.append(cmd.cli)

    ver = _version(platform, clis["version"], lines["version"])
    if platform == "cisco_ios":
        cfg = parse_ios(lines["config"])
    else:
        cfg = parse_vrp_like(lines["config"], platform, ver.major, ver.release)
    brief4 = _BRIEF4[platform](lines["ipv4_brief"], clis["ipv4_brief"])
    brief6 = _BRIEF6[platform](lines["ipv6_brief"], clis["ipv6_brief"])
    if platform == "cisco_ios":
        routes = tables.ios_ipv6_routes(lines["ipv6_routes"], clis["ipv6_routes"])
    else:
        routes = tables.kv_route_records(lines["ipv6_routes"], platform, clis["ipv6_routes"])
    neighbors = _NEIGH[platform](lines["ipv6_neighbors"], clis["ipv6_neighbors"])

    extra: dict[str, Any] = {"https_enabled": cfg.https_enabled}
    telnet, http = cfg.telnet_enabled, cfg.http_enabled
    if "telnet_status" in lines:
        telnet = tables.vrp_telnet_status(lines["telnet_status"], clis["telnet_status"])
        if telnet and cfg.telnet_enabled is False:
            telnet = False  # server on but every VTY is SSH-only: nobody can log in by telnet
    if "http_status" in lines:
        http, https = tables.vrp_http_status(lines["http_status"], clis["http_status"])
        extra["https_enabled"] = https
    default_community = cfg.snmp_default_community
    if "snmp_communities" in lines:
        names = tables.comware_snmp_communities(lines["snmp_communities"], clis["snmp_communities"])
        default_community = any(n.lower() in ("public", "private") for n in names)
    users = cfg.snmpv3_users
    if "snmp_users" in lines:
        users = sorted(set(users) | set(tables.ios_snmp_users(lines["snmp_users"], clis["snmp_users"])))
    elif platform == "cisco_ios" and cfg.snmpv3_groups:
        extra["snmpv3_users_unknown"] = True  # v3 groups configured, users not listed in config

    interfaces, uplinks = _build_interfaces(platform, cfg, brief4, brief6, routes)
    # RA guard protects layer-2 ports; a LAN gateway interface (an SVI) is not one
    access = [
        cfg.interfaces[i.name]
        for i in interfaces
        if i.role == "access" and i.name in cfg.interfaces and cfg.interfaces[i.name].l2_mode == "access"
    ]
    ra_guard = None if not access else all(ic.ra_guard for ic in access)
    extra["ra_guard_ports"] = sorted(ic.name for ic in access if ic.ra_guard)
    extra["ipv6_default_route_interfaces"] = sorted(uplinks)

    facts = DeviceFacts(
        hostname=cfg.hostname or ver.hostname,
        platform=platform,
        vendor=PLATFORMS[platform].vendor,
        os_version=ver.os_version,
        interfaces=interfaces,
        ipv6_forwarding=cfg.ipv6_forwarding,
        ipv6_default_route=any(r.prefix == "::/0" for r in routes),
        ipv4_default_route=cfg.ipv4_default_route,
        ipv6_neighbors_uplink=_uplink_neighbors(platform, interfaces, neighbors),
        telnet_enabled=telnet,
        http_enabled=http,
        ssh_enabled=cfg.ssh_enabled,
        ssh_v2_only=cfg.ssh_v2_only,
        snmp_default_community=default_community,
        snmp_v2c_enabled=cfg.snmp_v2c_enabled,
        snmpv3_users=users,
        ntp_servers=cfg.ntp_servers,
        syslog_hosts=cfg.syslog_hosts,
        aaa_login=cfg.aaa_login,
        login_banner=cfg.login_banner,
        mgmt_acl_ipv4=cfg.mgmt_acl_ipv4,
        mgmt_acl_ipv6=cfg.mgmt_acl_ipv6,
        ra_guard=ra_guard,
    )
    return CliResult(facts, extra, skipped)


def parse_cli(platform: str, outputs: Mapping[str, str]) -> DeviceFacts:
    """``DeviceFacts`` of one device from ``{command: output}`` of ``command_set(platform)``.

    Raises ``ParseError`` (naming platform and command) when a required output is missing, was
    rejected by the device, or is not in the expected format.
    """
    return parse_cli_detailed(platform, outputs).facts
