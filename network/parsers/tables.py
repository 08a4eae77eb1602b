"""Per-command parsers for the tables the audit reads (interface briefs, routes, neighbours).

ntc-templates is used where it has a template for the exact command (IOS briefs, routes,
neighbours, ``show snmp user``; VRP ``display ipv6 neighbors``, telnet/http server status); the
rest (VRP/Comware IPv4/IPv6 briefs, VRP/Comware IPv6 routes, Comware neighbours) are parsed here
because ntc-templates has no template, or its index would pick a wrong one by prefix.

Every function takes already cleaned lines (``common.prepare``) and raises ``ParseError`` when
the text is not the table it expects: wrong facts are worse than none.
"""

from __future__ import annotations

import re

from govops.network.parsers.common import (
    ParseError,
    Template,
    canonical_ifname,
    ipv6_norm,
    is_ipv4,
    is_ipv6,
    textfsm_parse,
)
from govops.network.parsers.model import BriefRow, Neighbor, Route

_NO_ADDR = {"unassigned", "--", "-", "n/a"}


def _state(text: str) -> tuple[bool, bool]:
    """(admin_up, up) of a VRP/Comware "Physical"/"Link"/"Protocol" cell: ``*down``, ``ADM``..."""
    low = text.lower()
    admin_down = low.startswith("*") or low.startswith("adm")
    return not admin_down, low.lstrip("*^").startswith("up")


def _find_header(lines: list[str], platform: str, command: str, *words: str) -> int:
    for i, line in enumerate(lines):
        low = line.lower()
        if low.lstrip().startswith("interface") and all(w in low for w in words):
            return i
    raise ParseError(platform, command, "table header not found")


# --- IPv4 briefs -----------------------------------------------------------------------------


def _ip_brief(
    lines: list[str], platform: str, command: str, header: tuple[str, ...], cols: tuple[int, int, int]
) -> list[BriefRow]:
    """One ``display ip interface brief`` table; ``cols`` are the (physical, protocol, address) columns."""
    start = _find_header(lines, platform, command, *header)
    phys_col, proto_col, addr_col = cols
    rows = []
    for line in lines[start + 1 :]:
        toks = line.split()
        if not toks:
            continue
        if len(toks) < 4:
            raise ParseError(platform, command, "row with fewer than 4 columns")
        admin, _ = _state(toks[phys_col])
        _, oper = _state(toks[proto_col])
        addr = toks[addr_col]
        addrs = [] if addr.lower() in _NO_ADDR else [addr]
        if addrs and not is_ipv4(addr.split("/")[0]):
            raise ParseError(platform, command, "address column is not an IPv4 address")
        rows.append(BriefRow(canonical_ifname(platform, toks[0]), admin, oper, addrs))
    return rows


def vrp_ip_brief(lines: list[str], command: str) -> list[BriefRow]:
    """VRP ``display ip interface brief``: Interface, IP Address/Mask, Physical, Protocol[, VPN]."""
    return _ip_brief(lines, "huawei_vrp", command, ("ip address", "physical", "protocol"), (2, 3, 1))


def comware_ip_brief(lines: list[str], command: str) -> list[BriefRow]:
    """Comware ``display ip interface brief``: Interface, Physical, Protocol, IP Address[/Mask], ..."""
    return _ip_brief(lines, "hp_comware", command, ("physical", "protocol", "ip address"), (1, 2, 3))


def _ios_state(status: str, proto: str) -> tuple[bool | None, bool | None]:
    s = status.lower()
    if s == "deleted":
        return None, False
    return not s.startswith("administratively"), proto.lower() == "up"


def ios_ip_brief(lines: list[str], command: str) -> list[BriefRow]:
    rows = textfsm_parse(Template("cisco_ios_show_ip_interface_brief"), lines, "cisco_ios", command)
    if not rows and any(ln.strip() for ln in lines):
        raise ParseError("cisco_ios", command, "no interface rows")
    out = []
    for r in rows:
        admin, oper = _ios_state(r["status"], r["proto"])
        addr = r["ip_address"]
        out.append(BriefRow(r["interface"], admin, oper, [addr] if is_ipv4(addr) else []))
    return out


# --- IPv6 briefs -----------------------------------------------------------------------------


def vrp_ipv6_brief(lines: list[str], command: str) -> list[BriefRow]:
    """VRP ``display ipv6 interface brief``: a row per interface, then ``[IPv6 Address] X`` lines.

    An interface with several addresses lists each on its own ``[IPv6 Address]`` line, or the
    later ones indented under the first; ``Unassigned`` means none. Link-local is not shown.
    """
    start = _find_header(lines, "huawei_vrp", command, "physical", "protocol")
    rows: list[BriefRow] = []
    for line in lines[start + 1 :]:
        s = line.strip()
        if not s:
            continue
        m = re.match(r"^\[IPv6 Address\]\s*(\S+)", s, re.IGNORECASE)
        addr = m.group(1) if m else (s if line[:1].isspace() and is_ipv6(s) else None)
        if addr is not None:
            if not rows:
                raise ParseError("huawei_vrp", command, "address before any interface")
            if addr.lower() not in _NO_ADDR:
                if not is_ipv6(addr):
                    raise ParseError("huawei_vrp", command, "address line is not an IPv6 address")
                rows[-1].addresses.append(addr)
            continue
        toks = s.split()
        if len(toks) < 3:
            raise ParseError("huawei_vrp", command, "row with fewer than 3 columns")
        admin, _ = _state(toks[1])
        _, oper = _state(toks[2])
        rows.append(BriefRow(canonical_ifname("huawei_vrp", toks[0]), admin, oper))
    return rows


def comware_ipv6_brief(lines: list[str], command: str) -> list[BriefRow]:
    """Comware ``display ipv6 interface brief``: Interface, Physical, Protocol, IPv6 Address."""
    start = _find_header(lines, "hp_comware", command, "physical", "protocol", "ipv6 address")
    rows: list[BriefRow] = []
    for line in lines[start + 1 :]:
        toks = line.split()
        if not toks:
            continue
        if len(toks) == 1 and line[:1].isspace() and is_ipv6(toks[0]) and rows:
            rows[-1].addresses.append(toks[0])  # further addresses, indented under the first
            continue
        if len(toks) < 4:
            raise ParseError("hp_comware", command, "row with fewer than 4 columns")
        admin, _ = _state(toks[1])
        _, oper = _state(toks[2])
        addr = toks[3]
        if addr.lower() not in _NO_ADDR and not is_ipv6(addr):
            raise ParseError("hp_comware", command, "address column is not an IPv6 address")
        addrs = [] if addr.lower() in _NO_ADDR else [addr]
        rows.append(BriefRow(canonical_ifname("hp_comware", toks[0]), admin, oper, addrs))
    return rows


def ios_ipv6_brief(lines: list[str], command: str) -> list[BriefRow]:
    rows = textfsm_parse(Template("cisco_ios_show_ipv6_interface_brief"), lines, "cisco_ios", command)
    if not rows and any(ln.strip() for ln in lines):
        raise ParseError("cisco_ios", command, "no interface rows")
    out = []
    for r in rows:
        admin, oper = _ios_state(r["admin"], r["protocol"])
        addrs = [a for a in r["ipv6_address"] if is_ipv6(a)]
        out.append(BriefRow(r["interface"], admin, oper, addrs))
    return out


# --- IPv6 routes -----------------------------------------------------------------------------

_KV = re.compile(r"([A-Za-z][A-Za-z ]*?)\s*:\s+(\S+)")


def kv_route_records(lines: list[str], platform: str, command: str) -> list[Route]:
    """VRP and Comware ``display ipv6 routing-table [dest len]``: key/value records per route.

    VRP: ``Destination : ::   PrefixLength : 0`` / ``NextHop : X`` / ``Interface : Y``.
    Comware: ``Destination: ::/0   Protocol : Static`` / ``NextHop : X`` / ``Interface : Y``.
    """
    if not any(ln.strip() for ln in lines):
        return []  # a filtered query with no match prints nothing on some releases
    if not any(re.search(r"routing table|summary count|destinations?\s*:", ln, re.I) for ln in lines):
        raise ParseError(platform, command, "not a routing table")
    records: list[dict[str, str]] = []
    for line in lines:
        pairs = {k.strip().lower(): v for k, v in _KV.findall(line)}
        if "destination" in pairs:
            records.append({})
        if records:
            for k, v in pairs.items():
                records[-1].setdefault(k, v)
    routes = []
    for rec in records:
        dest = rec["destination"]
        if "/" not in dest:
            plen = rec.get("prefixlength")
            if plen is None or not plen.isdigit():
                raise ParseError(platform, command, "route without a prefix length")
            dest = f"{dest}/{plen}"
        addr, plen = dest.split("/", 1)
        if not is_ipv6(addr):
            raise ParseError(platform, command, "destination is not an IPv6 prefix")
        nh = rec.get("nexthop")
        iface = rec.get("interface")
        routes.append(
            Route(
                f"{ipv6_norm(addr)}/{int(plen)}",
                ipv6_norm(nh) if nh and is_ipv6(nh) else None,
                canonical_ifname(platform, iface) if iface else None,
            )
        )
    return routes


_IOS_DETAIL = re.compile(r"^Routing entry for\s+(\S+)", re.IGNORECASE)


def ios_ipv6_routes(lines: list[str], command: str) -> list[Route]:
    """``show ipv6 route`` (the table), or ``show ipv6 route ::/0`` (one ``Routing entry for``)."""
    text = [ln for ln in lines if ln.strip()]
    if not text or any(re.match(r"^%\s*(Route|Network) not (found|in table)", ln.strip()) for ln in text):
        return []
    m = _IOS_DETAIL.match(text[0].strip())
    if m:
        dest = m.group(1)
        hops: list[Route] = []
        in_paths = False
        for ln in text[1:]:
            s = ln.strip()
            if s.lower().startswith("routing paths"):
                in_paths = True
                continue
            if in_paths:
                hop = re.match(r"^([0-9A-Fa-f:]+)(?:,\s*(\S+))?", s)
                if hop and is_ipv6(hop.group(1)):
                    iface = hop.group(2)
                    hops.append(Route(dest.lower(), ipv6_norm(hop.group(1)), iface))
                elif dv := re.match(r"^directly connected via\s+(\S+)", s):
                    hops.append(Route(dest.lower(), None, dv.group(1).rstrip(",")))
        return hops or [Route(dest.lower(), None, None)]
    rows = textfsm_parse(Template("cisco_ios_show_ipv6_route"), lines, "cisco_ios", command)
    out = []
    for r in rows:
        net = r["network"]
        addr, _, plen = net.partition("/")
        if not is_ipv6(addr):
            raise ParseError("cisco_ios", command, "destination is not an IPv6 prefix")
        nh = r["nexthop_ip"]
        iface = r["nexthop_if"].strip() or None
        out.append(
            Route(f"{ipv6_norm(addr)}/{int(plen.split('/')[0])}", ipv6_norm(nh) if nh and is_ipv6(nh) else None, iface)
        )
    return out


# --- IPv6 neighbours -------------------------------------------------------------------------

_BAD_STATES = {"INCMP", "INCOMPLETE", "FAILED", "INVALID"}


def vrp_ipv6_neighbors(lines: list[str], command: str) -> list[Neighbor]:
    if not any(ln.strip() for ln in lines):
        return []
    if not any("ipv6 address" in ln.lower() or "total" in ln.lower() for ln in lines):
        raise ParseError("huawei_vrp", command, "not a neighbour table")
    rows = textfsm_parse(Template("huawei_vrp_display_ipv6_neighbors"), lines, "huawei_vrp", command)
    out = []
    for r in rows:
        vlan = r.get("vlan_id", "")
        out.append(
            Neighbor(
                ipv6_norm(r["ipv6_address"]),
                canonical_ifname("huawei_vrp", r["interface"]),
                int(vlan) if vlan.isdigit() else None,
                r["state"].upper(),
            )
        )
    return out


def comware_ipv6_neighbors(lines: list[str], command: str) -> list[Neighbor]:
    """``display ipv6 neighbors all``: address, MAC, VLAN/VID, interface, state, type, age."""
    if not any(ln.strip() for ln in lines):
        return []
    try:
        start = next(i for i, ln in enumerate(lines) if re.match(r"^\s*IPv6 address\s", ln, re.I))
    except StopIteration:
        raise ParseError("hp_comware", command, "table header not found") from None
    out = []
    for line in lines[start + 1 :]:
        toks = line.split()
        if not toks:
            continue
        if len(toks) < 6 or not is_ipv6(toks[0]):
            raise ParseError("hp_comware", command, "row is not a neighbour entry")
        out.append(
            Neighbor(
                ipv6_norm(toks[0]),
                canonical_ifname("hp_comware", toks[3]),
                int(toks[2]) if toks[2].isdigit() else None,
                toks[4].upper(),
            )
        )
    return out


def ios_ipv6_neighbors(lines: list[str], command: str) -> list[Neighbor]:
    if not any(ln.strip() for ln in lines):
        return []
    if not any(ln.lower().startswith("ipv6 address") for ln in lines):
        raise ParseError("cisco_ios", command, "table header not found")
    rows = textfsm_parse(Template("cisco_ios_show_ipv6_neighbors"), lines, "cisco_ios", command)
    return [
        Neighbor(ipv6_norm(r["address"]), canonical_ifname("cisco_ios", r["interface"]), None, r["type"].upper())
        for r in rows
    ]


def usable_neighbor(n: Neighbor) -> bool:
    """Resolved neighbours only: INCMP/FAILED entries are solicitations nobody answered."""
    return n.state not in _BAD_STATES


# --- optional status commands ----------------------------------------------------------------


def vrp_telnet_status(lines: list[str], command: str) -> bool:
    rows = textfsm_parse(Template("huawei_vrp_display_telnet_server_status"), lines, "huawei_vrp", command)
    if not rows:
        raise ParseError("huawei_vrp", command, "no telnet server status")
    r = rows[0]
    return any(r[k].lower().startswith("enable") for k in ("telnet_ipv4_server", "telnet_ipv6_server"))


def vrp_http_status(lines: list[str], command: str) -> tuple[bool, bool]:
    """(plain HTTP on, HTTPS on) from ``display http server``."""
    rows = textfsm_parse(Template("huawei_vrp_display_http_server"), lines, "huawei_vrp", command)
    if not rows:
        raise ParseError("huawei_vrp", command, "no http server status")
    r = rows[0]
    http = r["http_server_status"].lower().startswith("enable") or r["http_ipv6_server_status"].lower().startswith(
        "enable"
    )
    return http, r["https_server_status"].lower().startswith("enable")


def ios_snmp_users(lines: list[str], command: str) -> list[str]:
    if not any(ln.strip() for ln in lines):
        return []
    rows = textfsm_parse(Template("cisco_ios_show_snmp_user"), lines, "cisco_ios", command)
    if not rows:
        raise ParseError("cisco_ios", command, "no user entries")
    return sorted({r["user_name"] for r in rows})


def comware_snmp_communities(lines: list[str], command: str) -> list[str]:
    """Community names from Comware ``display snmp-agent community`` (printed in clear text).

    The names are secrets: callers keep only whether a default one is among them.
    """
    names = []
    for line in lines:
        m = re.match(r"^\s*Community name:\s*(\S+)", line)
        if m:
            names.append(m.group(1))
    if not names and any(ln.strip() for ln in lines):
        raise ParseError("hp_comware", command, "no community entries")
    return names
