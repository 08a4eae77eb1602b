"""SNMP facts from raw numeric varbinds (IF-MIB, IP-MIB, IP-FORWARD-MIB encodings)."""

from __future__ import annotations

import ipaddress
from typing import Any

from govops.network.parsers.snmp import facts_from_snmp, platform_from_oid

IF = "1.3.6.1.2.1.2.2.1"
IFX = "1.3.6.1.2.1.31.1.1.1"
IP = "1.3.6.1.2.1.4"


def idx(addr: str) -> str:
    a = ipaddress.ip_address(addr)
    return f"{1 if a.version == 4 else 2}.{len(a.packed)}." + ".".join(str(b) for b in a.packed)


def address(vb: dict[str, Any], ifindex: int, addr: str, plen: int | None, origin: int = 2) -> None:
    i = idx(addr)
    vb[f"{IP}.34.1.3.{i}"] = ifindex
    vb[f"{IP}.34.1.4.{i}"] = 1
    net = ipaddress.ip_network(f"{addr}/{plen or 64}", strict=False)
    vb[f"{IP}.34.1.5.{i}"] = f"{IP}.32.1.5.{ifindex}.{idx(str(net.network_address))}.{plen}" if plen else "0.0"
    vb[f"{IP}.34.1.6.{i}"] = origin


def device(default_v6: bool = True) -> dict[str, Any]:
    vb: dict[str, Any] = {
        "1.3.6.1.2.1.1.1.0": b"Huawei Versatile Routing Platform Software\r\n"
        b"VRP (R) software, Version 5.170 (AR610 V300R022C00SPC100)\r\n",
        "1.3.6.1.2.1.1.2.0": "1.3.6.1.4.1.2011.2.224.311",
        "1.3.6.1.2.1.1.5.0": b"jb-t01-v001-acc1",
        f"{IP}.25.0": 1,
        f"{IP}.24.6.0": 6,
    }
    for k, name, alias, up in (
        (1, "GigabitEthernet0/0/0", "uplink to upstream", True),
        (2, "Vlanif100", "接入 LAN".encode("gb18030"), True),
        (3, "LoopBack0", b"", True),
        (4, "GigabitEthernet0/0/1", b"", False),
    ):
        vb[f"{IF}.2.{k}"] = name.encode()
        vb[f"{IF}.7.{k}"] = 1 if up else 2
        vb[f"{IF}.8.{k}"] = 1 if up else 2
        vb[f"{IFX}.18.{k}"] = alias.encode() if isinstance(alias, str) else alias
    address(vb, 1, "172.16.0.2", 30)
    address(vb, 1, "2001:db8:ff::2", 64)
    address(vb, 1, "fe80::2e0:fcff:fe00:1", 64, origin=5)
    address(vb, 2, "10.64.0.1", 24)
    address(vb, 2, "2001:db8:1000::5", None, origin=5)  # SLAAC, the agent omits the prefix
    address(vb, 3, "10.255.0.1", 32)
    route = f"{IP}.24.7.1.7"
    if default_v6:
        vb[f"{route}.2.16{'.0' * 16}.0.2.0.0.{idx('2001:db8:ff::1')}"] = 1
    vb[f"{route}.1.4.0.0.0.0.0.2.0.0.{idx('172.16.0.1')}"] = 1
    for n, state in (("fe80::1", 2), ("2001:db8:ff::1", 1), ("2001:db8:ff::9", 7)):  # 7: incomplete
        vb[f"{IP}.35.1.7.1.{idx(n)}"] = state
    vb[f"{IP}.35.1.7.2.{idx('2001:db8:1000::100')}"] = 2  # a LAN host: not on the uplink
    return vb


def test_full_device() -> None:
    f = facts_from_snmp(device())
    assert (f.platform, f.vendor, f.os_version, f.hostname) == (
        "huawei_vrp",
        "Huawei",
        "V300R022C00SPC100",
        "jb-t01-v001-acc1",
    )
    by = {i.name: i for i in f.interfaces}
    up = by["GigabitEthernet0/0/0"]
    assert (up.role, up.ipv4, up.ipv6, up.ipv6_link_local) == (
        "uplink",
        ["172.16.0.2/30"],
        ["2001:db8:ff::2/64"],
        "fe80::2e0:fcff:fe00:1",
    )
    lan = by["Vlanif100"]
    assert lan.role == "access" and lan.ipv6 == ["2001:db8:1000::5/64"]  # GB18030 description decoded
    assert by["LoopBack0"].role == "loopback" and by["GigabitEthernet0/0/1"].admin_up is False
    assert f.ipv6_forwarding is True and f.ipv6_default_route is True and f.ipv4_default_route is True
    assert f.ipv6_neighbors_uplink == 2  # the incomplete entry and the LAN host do not count


def test_no_ipv6_default_route_still_counts_uplink_neighbours() -> None:
    f = facts_from_snmp(device(default_v6=False))
    assert f.ipv6_default_route is False  # the route table was readable (inetCidrRouteNumber)
    assert f.ipv6_neighbors_uplink == 2


def test_old_agent_without_ipv6_mibs() -> None:
    vb = {k: v for k, v in device().items() if not k.startswith((f"{IP}.34.", f"{IP}.35.", f"{IP}.25.", f"{IP}.24."))}
    vb[f"{IP}.20.1.2.172.16.0.2"] = 1  # RFC 1213 ipAddrTable
    vb[f"{IP}.20.1.3.172.16.0.2"] = "255.255.255.252"
    f = facts_from_snmp(vb)
    assert f.ipv6_forwarding is None and f.ipv6_default_route is None and f.ipv6_neighbors_uplink is None
    assert {i.name: i.ipv4 for i in f.interfaces}["GigabitEthernet0/0/0"] == ["172.16.0.2/30"]
    assert all(not i.ipv6 for i in f.interfaces)


def test_per_interface_forwarding_fallback_and_platform_oids() -> None:
    vb = device()
    del vb[f"{IP}.25.0"]
    vb[f"{IP}.30.1.8.1"] = 2
    vb[f"{IP}.30.1.8.2"] = 1
    assert facts_from_snmp(vb).ipv6_forwarding is True
    assert platform_from_oid(".1.3.6.1.4.1.25506.1.1167") == "hp_comware"
    assert platform_from_oid("1.3.6.1.4.1.9.1.1041") == "cisco_ios"
    assert platform_from_oid("1.3.6.1.4.1.99999.1") is None
