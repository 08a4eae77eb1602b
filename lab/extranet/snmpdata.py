"""A lab device's SNMP view as an snmpsim ``.snmprec`` recording, from the same state as its CLI.

Tables: SNMPv2-MIB system, IF-MIB ifTable/ifXTable, IP-MIB ipForwarding/ipv6IpForwarding,
ipAddrTable (IPv4), ipAddressTable (IPv4, global IPv6, link-local), ipAddressPrefixTable,
ipv6InterfaceTable, ipNetToPhysicalTable (IPv6 neighbours), inetCidrRouteTable (+ number).
A device whose ``snmp_view`` is ``no_ipv6_mib`` has no IPv6 rows at all (an old agent); one with
``stale_route`` lacks the ::/0 route although its CLI shows it.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from govops.lab.extranet.models import MODELS
from govops.lab.extranet.plan import DeviceState, Iface

SYS = "1.3.6.1.2.1.1"
IF = "1.3.6.1.2.1.2.2.1"
IFX = "1.3.6.1.2.1.31.1.1.1"
IP = "1.3.6.1.2.1.4"
_IFTYPE = {"loopback": 24, "null": 1}
Record = tuple[str, str, str]


@lru_cache(maxsize=1 << 16)  # the same few addresses recur in every table of a device
def addr_index(addr: str) -> str:
    """InetAddressType.length.bytes as table indices use it."""
    a = ipaddress.ip_address(addr)
    return f"{1 if a.version == 4 else 2}.{len(a.packed)}." + ".".join(str(b) for b in a.packed)


def _hex(text: str) -> str:
    return text.encode("utf-8").hex()


def _if_type(st: DeviceState, i: Iface) -> int:
    if i.role in _IFTYPE:
        return _IFTYPE[i.role]
    return 136 if i.name.startswith(("Vlan", "Vlanif")) else 6


def records(st: DeviceState) -> list[Record]:
    m = MODELS[st.model]
    no_v6 = st.snmp_view == "no_ipv6_mib"
    r: list[Record] = [
        (f"{SYS}.1.0", "4x", _hex(m.sys_descr)),
        (f"{SYS}.2.0", "6", m.sys_object_id),
        (f"{SYS}.3.0", "67", str(st.uptime_s * 100 % 2**32)),
        (f"{SYS}.4.0", "4", "noc@egov.example"),
        (f"{SYS}.5.0", "4", st.hostname),
        (f"{SYS}.6.0", "4x", _hex(st.site_name)),
        (f"{SYS}.7.0", "2", "78"),
        ("1.3.6.1.2.1.2.1.0", "2", str(len(st.interfaces))),
    ]
    seed = st.index * 7919
    for i in st.interfaces:
        k = i.if_index
        speed = i.speed_mbps * 1_000_000
        up = i.oper_up
        traffic = (seed * (k + 3) * 1_000_003) % 2**40 if up else 0
        ifname = i.name.replace("GigabitEthernet", "Gi") if st.platform == "cisco_ios" else i.name
        r += [
            (f"{IF}.1.{k}", "2", str(k)),
            (f"{IF}.2.{k}", "4", i.name),
            (f"{IF}.3.{k}", "2", str(_if_type(st, i))),
            (f"{IF}.4.{k}", "2", "1500"),
            (f"{IF}.5.{k}", "66", str(min(speed, 2**32 - 1))),
            (f"{IF}.6.{k}", "4x", "" if i.role == "loopback" else i.mac),
            (f"{IF}.7.{k}", "2", "1" if i.admin_up else "2"),
            (f"{IF}.8.{k}", "2", "1" if up else "2"),
            (f"{IF}.9.{k}", "67", str(1000 * k)),
            (f"{IF}.10.{k}", "65", str(traffic % 2**32)),
            (f"{IF}.11.{k}", "65", str(traffic // 900 % 2**32)),
            (f"{IF}.13.{k}", "65", "0"),
            (f"{IF}.14.{k}", "65", "0"),
            (f"{IF}.16.{k}", "65", str(traffic * 3 % 2**32)),
            (f"{IF}.17.{k}", "65", str(traffic // 700 % 2**32)),
            (f"{IF}.19.{k}", "65", "0"),
            (f"{IF}.20.{k}", "65", "0"),
            (f"{IFX}.1.{k}", "4", ifname),
            (f"{IFX}.6.{k}", "70", str(traffic)),
            (f"{IFX}.10.{k}", "70", str(traffic * 3)),
            (f"{IFX}.15.{k}", "66", str(i.speed_mbps)),
            (f"{IFX}.17.{k}", "2", "2" if i.role in ("loopback", "null") or i.name.startswith("Vlan") else "1"),
            (f"{IFX}.18.{k}", "4", i.description),
        ]
    r.append((f"{IP}.1.0", "2", "1"))  # ipForwarding: forwarding
    if not no_v6:
        r.append((f"{IP}.25.0", "2", "1" if st.ipv6_forwarding else "2"))
        r.append((f"{IP}.26.0", "2", "64"))
    r += _addresses(st, no_v6)
    r += _routes(st, no_v6)
    if not no_v6:
        for n in st.neighbors:
            iface = next(i for i in st.interfaces if i.name == n.interface)
            ix = f"{iface.if_index}.{addr_index(n.address)}"
            state = {"REACH": "1", "STALE": "2"}.get(n.state, "6")
            r += [
                (f"{IP}.35.1.4.{ix}", "4x", n.mac),
                (f"{IP}.35.1.5.{ix}", "67", "100"),
                (f"{IP}.35.1.6.{ix}", "2", "3"),
                (f"{IP}.35.1.7.{ix}", "2", state),
                (f"{IP}.35.1.8.{ix}", "2", "1"),
            ]
    r.sort(key=lambda rec: tuple(map(int, rec[0].split("."))))
    return r


def _addresses(st: DeviceState, no_v6: bool) -> list[Record]:
    r: list[Record] = []
    for i in st.interfaces:
        k = i.if_index
        rows: list[tuple[str, int, int]] = []  # (address, prefix length, origin)
        if i.ipv4:
            v4 = ipaddress.IPv4Interface(i.ipv4)
            a = str(v4.ip)
            r += [
                (f"{IP}.20.1.1.{a}", "64", a),
                (f"{IP}.20.1.2.{a}", "2", str(k)),
                (f"{IP}.20.1.3.{a}", "64", str(v4.netmask)),
                (f"{IP}.20.1.4.{a}", "2", "1"),
                (f"{IP}.20.1.5.{a}", "2", "18024"),
            ]
            rows.append((a, v4.network.prefixlen, 2))
        if not no_v6 and i.ipv6_enabled:
            if i.ipv6:
                g = ipaddress.IPv6Interface(i.ipv6)
                rows.append((str(g.ip), g.network.prefixlen, 2))
            rows.append((i.link_local or "", 64, 5))
            ident = bytes.fromhex(i.mac[:6] + "fffe" + i.mac[6:])
            ident = bytes([ident[0] ^ 0x02]) + ident[1:]
            r += [
                (f"{IP}.30.1.2.{k}", "66", "1500"),
                (f"{IP}.30.1.3.{k}", "4x", ident.hex()),
                (f"{IP}.30.1.5.{k}", "2", "1"),
                (f"{IP}.30.1.6.{k}", "66", "30000"),
                (f"{IP}.30.1.7.{k}", "66", "1000"),
                (f"{IP}.30.1.8.{k}", "2", "1" if st.ipv6_forwarding else "2"),
            ]
        for addr, plen, origin in rows:
            net = ipaddress.ip_network(f"{addr}/{plen}", strict=False)
            pfx_ix = f"{k}.{addr_index(str(net.network_address))}.{plen}"
            ix = addr_index(addr)
            r += [
                (f"{IP}.34.1.3.{ix}", "2", str(k)),
                (f"{IP}.34.1.4.{ix}", "2", "1"),  # unicast
                (f"{IP}.34.1.5.{ix}", "6", f"{IP}.32.1.5.{pfx_ix}"),
                (f"{IP}.34.1.6.{ix}", "2", str(origin)),
                (f"{IP}.34.1.7.{ix}", "2", "1"),  # preferred
                (f"{IP}.34.1.8.{ix}", "67", "100"),
                (f"{IP}.34.1.9.{ix}", "67", "100"),
                (f"{IP}.34.1.10.{ix}", "2", "1"),
                (f"{IP}.34.1.11.{ix}", "2", "3"),  # nonVolatile
            ]
            r += [
                (f"{IP}.32.1.5.{pfx_ix}", "2", "2" if origin == 2 else "3"),  # manual / wellknown
                (f"{IP}.32.1.6.{pfx_ix}", "2", "1"),
                (f"{IP}.32.1.7.{pfx_ix}", "2", "1"),
            ]
    return _dedupe(r)


def _dedupe(r: list[Record]) -> list[Record]:
    seen: dict[str, Record] = {}
    for rec in r:
        seen.setdefault(rec[0], rec)
    return list(seen.values())


def _routes(st: DeviceState, no_v6: bool) -> list[Record]:
    base = f"{IP}.24.7.1"
    routes: list[tuple[str, int, str, int, int, int]] = []  # dest, plen, next hop, ifIndex, type, proto
    uplink = st.iface("uplink")
    up_ix = uplink.if_index if uplink else 0
    if st.ipv4_gateway:
        routes.append(("0.0.0.0", 0, st.ipv4_gateway, up_ix, 4, 3))
    if st.ipv6_gateway and not no_v6 and st.snmp_view != "stale_route":
        routes.append(("::", 0, st.ipv6_gateway, up_ix, 4, 3))
    for i in st.interfaces:
        if i.ipv4:
            net4 = ipaddress.IPv4Interface(i.ipv4).network
            routes.append((str(net4.network_address), net4.prefixlen, "0.0.0.0", i.if_index, 3, 2))
        if i.ipv6 and not no_v6:
            net6 = ipaddress.IPv6Interface(i.ipv6).network
            routes.append((str(net6.network_address), net6.prefixlen, "::", i.if_index, 3, 2))
    r: list[Record] = [(f"{IP}.24.6.0", "66", str(len(routes)))]
    for dest, plen, nh, ifx, rtype, proto in routes:
        ix = f"{addr_index(dest)}.{plen}.2.0.0.{addr_index(nh)}"
        r += [
            (f"{base}.7.{ix}", "2", str(ifx)),
            (f"{base}.8.{ix}", "2", str(rtype)),
            (f"{base}.9.{ix}", "2", str(proto)),
            (f"{base}.10.{ix}", "66", "86400"),
            (f"{base}.11.{ix}", "66", "0"),
            (f"{base}.12.{ix}", "2", "1" if proto == 3 else "0"),
            (f"{base}.17.{ix}", "2", "1"),
        ]
    return r


def snmprec(st: DeviceState) -> str:
    return "".join(f"{oid}|{tag}|{value}\n" for oid, tag, value in records(st))
