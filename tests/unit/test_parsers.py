"""Parsers against real device outputs (ntc-templates' captures and their expected parses).

The `.raw`/`.yml` pairs under tests/fixtures/device-outputs/ntc are copies of the shared fixtures
(see SOURCES.md there). Where ntc-templates has no sample (VRP/Comware configurations, their
IPv6 briefs and routing tables), tests/fixtures/device-outputs/govops holds whole-device output sets
in the vendors' documented formats.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml
from govops.network.parsers import ParseError, canonical_ifname, clean_output, command_set, parse_cli, tables
from govops.network.parsers.cli import parse_cli_detailed
from govops.network.parsers.common import prepare
from govops.network.parsers.config import parse_ios, parse_vrp_like
from govops.network.parsers.model import version_from_text

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "device-outputs"
NTC = FIX / "ntc"


def samples(platform: str, command: str) -> list[Path]:
    found = sorted((NTC / platform / command).glob("*.raw"))
    assert found, f"no fixture for {platform} {command}"
    return found


def expected(raw: Path) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = yaml.safe_load(raw.with_suffix(".yml").read_text(encoding="utf-8"))["parsed_sample"]
    return data


def lines_of(raw: Path, platform: str, command: str) -> list[str]:
    return prepare(platform, command, raw.read_text(encoding="utf-8"))


def v6(addr: str) -> str:
    return str(ipaddress.IPv6Address(addr))


# -- real outputs vs ntc-templates' expected parses --------------------------------------------
@pytest.mark.parametrize("raw", samples("cisco_ios", "show_ip_interface_brief"), ids=lambda p: p.name)
def test_ios_ip_brief(raw: Path) -> None:
    rows = tables.ios_ip_brief(lines_of(raw, "cisco_ios", "show ip interface brief"), "show ip interface brief")
    exp = expected(raw)
    assert [r.name for r in rows] == [e["interface"] for e in exp]
    for r, e in zip(rows, exp, strict=True):
        assert r.addresses == ([e["ip_address"]] if e["ip_address"] != "unassigned" else [])
        assert r.oper_up == (e["proto"] == "up")
        # a deleted sub-interface has no admin state at all: unknown, not "up"
        admin = None if e["status"] == "deleted" else not e["status"].startswith("administratively")
        assert r.admin_up == admin


@pytest.mark.parametrize("raw", samples("cisco_ios", "show_ipv6_interface_brief"), ids=lambda p: p.name)
def test_ios_ipv6_brief(raw: Path) -> None:
    cmd = "show ipv6 interface brief"
    rows = tables.ios_ipv6_brief(lines_of(raw, "cisco_ios", cmd), cmd)
    exp = expected(raw)
    assert len(rows) == len(exp) == 78
    for r, e in zip(rows, exp, strict=True):
        assert r.name == e["interface"]
        assert [v6(a) for a in r.addresses] == [v6(a) for a in e["ipv6_address"] if a != "unassigned"]


@pytest.mark.parametrize("raw", samples("cisco_ios", "show_ipv6_neighbors"), ids=lambda p: p.name)
def test_ios_ipv6_neighbors(raw: Path) -> None:
    rows = tables.ios_ipv6_neighbors(lines_of(raw, "cisco_ios", "show ipv6 neighbors"), "show ipv6 neighbors")
    exp = expected(raw)
    assert [(n.address, n.interface, n.state) for n in rows] == [
        (v6(e["address"]), canonical_ifname("cisco_ios", e["interface"]), e["type"]) for e in exp
    ]
    assert rows[0].interface == "Vlan6"  # "Vl6" as printed, the configuration's name after parsing


@pytest.mark.parametrize("raw", samples("cisco_ios", "show_ipv6_route"), ids=lambda p: p.name)
def test_ios_ipv6_route_table(raw: Path) -> None:
    routes = tables.ios_ipv6_routes(lines_of(raw, "cisco_ios", "show ipv6 route"), "show ipv6 route")
    exp = expected(raw)
    assert [r.prefix for r in routes] == [f"{v6(e['network'].split('/')[0])}/{e['network'].split('/')[1]}" for e in exp]
    assert [r.next_hop for r in routes] == [v6(e["nexthop_ip"]) if e["nexthop_ip"] else None for e in exp]


def test_ios_single_route_lookup_and_not_found() -> None:
    text = (
        "Routing entry for ::/0\n"
        '  Known via "static", distance 1, metric 0\n'
        "  Route count is 1/1, share count 0\n"
        "  Routing paths:\n"
        "    2001:DB8:FF::1\n"
        "      Last updated 2w0d ago\n"
    )
    routes = tables.ios_ipv6_routes(clean_output(text), "show ipv6 route ::/0")
    assert [(r.prefix, r.next_hop) for r in routes] == [("::/0", "2001:db8:ff::1")]
    assert tables.ios_ipv6_routes(["% Route not found"], "show ipv6 route ::/0") == []


@pytest.mark.parametrize("raw", samples("cisco_ios", "show_snmp_user"), ids=lambda p: p.name)
def test_ios_snmp_users(raw: Path) -> None:
    users = tables.ios_snmp_users(lines_of(raw, "cisco_ios", "show snmp user"), "show snmp user")
    assert users == sorted({e["user_name"] for e in expected(raw)})


@pytest.mark.parametrize("raw", samples("huawei_vrp", "display_ipv6_neighbors"), ids=lambda p: p.name)
def test_vrp_ipv6_neighbors(raw: Path) -> None:
    cmd = "display ipv6 neighbors"
    rows = tables.vrp_ipv6_neighbors(lines_of(raw, "huawei_vrp", cmd), cmd)
    exp = expected(raw)
    assert [(n.address, n.interface, n.state) for n in rows] == [
        (v6(e["ipv6_address"]), canonical_ifname("huawei_vrp", e["interface"]), e["state"]) for e in exp
    ]
    assert [n.vlan for n in rows] == [int(e["vlan_id"]) if e["vlan_id"].isdigit() else None for e in exp]


@pytest.mark.parametrize("raw", samples("huawei_vrp", "display_telnet_server_status"), ids=lambda p: p.name)
def test_vrp_telnet_status(raw: Path) -> None:
    cmd = "display telnet server status"
    e = expected(raw)[0]
    on = "Enable" in (e["telnet_ipv4_server"], e["telnet_ipv6_server"])
    assert tables.vrp_telnet_status(lines_of(raw, "huawei_vrp", cmd), cmd) is on
    enabled = raw.read_text().replace("TELNET IPv6 server                      :Disable", "TELNET IPv6 server :Enable")
    if enabled != raw.read_text():
        assert tables.vrp_telnet_status(prepare("huawei_vrp", cmd, enabled), cmd) is True


@pytest.mark.parametrize("raw", samples("huawei_vrp", "display_http_server"), ids=lambda p: p.name)
def test_vrp_http_status(raw: Path) -> None:
    cmd = "display http server"
    e = expected(raw)[0]
    http, https = tables.vrp_http_status(lines_of(raw, "huawei_vrp", cmd), cmd)
    assert http is (e["http_server_status"] == "enabled" or e["http_ipv6_server_status"] == "enabled")
    assert https is (e["https_server_status"] == "enabled")


@pytest.mark.parametrize("raw", samples("cisco_ios", "show_version"), ids=lambda p: p.name)
def test_ios_version(raw: Path) -> None:
    info = version_from_text("cisco_ios", raw.read_text(encoding="utf-8"))
    assert info is not None and info.os_version == expected(raw)[0]["version"]


@pytest.mark.parametrize("raw", samples("huawei_vrp", "display_version"), ids=lambda p: p.name)
def test_vrp_version_is_the_product_release(raw: Path) -> None:
    info = version_from_text("huawei_vrp", raw.read_text(encoding="utf-8"))
    e = expected(raw)[0]
    assert info is not None and info.major == int(e["vrp_version"].split(".")[0])
    release = e["product_version"].split()[-1]
    assert info.os_version == (release if release.startswith("V") else e["vrp_version"])


@pytest.mark.parametrize("raw", samples("cisco_ios", "show_running-config_interface"), ids=lambda p: p.name)
def test_ios_interface_config(raw: Path) -> None:
    cfg = parse_ios(clean_output(raw.read_text(encoding="utf-8")))
    for e in expected(raw):
        ic = cfg.interfaces[e["interface"]]
        want = [str(ipaddress.IPv4Interface(f"{e['ip_address']}/{e['netmask']}"))] if e["ip_address"] else []
        assert ic.ipv4 == want
        assert ic.description == (e["description"] or None)
        assert ic.vrf == (e["vrf"] or None)


# -- whole devices ------------------------------------------------------------------------------
def device_outputs(platform: str, name: str) -> dict[str, str]:
    folder = FIX / "govops" / platform / name
    return {
        c.cli: (folder / f"{c.key}.raw").read_text(encoding="utf-8")
        for c in command_set(platform)
        if (folder / f"{c.key}.raw").exists()
    }


def test_vrp_access_switch_end_to_end() -> None:
    res = parse_cli_detailed("huawei_vrp", device_outputs("huawei_vrp", "s5720-acc"))
    f = res.facts
    assert (f.hostname, f.vendor, f.os_version) == ("jb-t01-v001-acc1", "Huawei", "V200R019C10SPC500")
    assert f.ipv6_forwarding and f.ipv6_default_route and f.ipv4_default_route
    assert f.ipv6_neighbors_uplink == 2
    assert (f.telnet_enabled, f.http_enabled, f.ssh_v2_only, f.aaa_login, f.login_banner) == (
        False,
        False,
        True,
        True,
        True,
    )
    # the banner's body holds an "interface" line: it must not become an interface
    assert "GigabitEthernet0/0/9" not in {i.name for i in f.interfaces}
    by = {i.name: i for i in f.interfaces}
    assert by["Vlanif100"].role == "uplink" and by["Vlanif100"].ipv6 == ["2001:db8:17:1::2/64"]
    assert by["LoopBack0"].role == "loopback" and by["MEth0/0/1"].role == "mgmt"
    assert f.snmp_v2c_enabled is False and f.snmpv3_users == ["govops-audit"]
    assert f.ntp_servers == ["10.16.0.10", "2001:db8:10::10"]
    assert f.ra_guard is True and res.skipped == []


def test_comware5_village_switch_uses_version_defaults() -> None:
    f = parse_cli("hp_comware", device_outputs("hp_comware", "s5120-v5"))
    assert f.os_version == "5.20.99 Release 1808P15"
    # Comware 5 with a silent configuration: telnet on, SSHv1 compatibility on
    assert f.telnet_enabled is True and f.ssh_v2_only is False
    assert f.snmp_default_community is True and f.ipv6_default_route is False
    assert all(not i.ipv6 for i in f.interfaces)


def test_comware7_aggregation_switch() -> None:
    f = parse_cli("hp_comware", device_outputs("hp_comware", "s5130-agg"))
    assert f.os_version == "7.1.070 Release 3506P02" and f.ipv6_forwarding is True
    assert f.ipv6_neighbors_uplink == 3 and f.mgmt_acl_ipv6 is True
    # communities are ciphered in the configuration and the optional table was not collected
    assert f.snmp_v2c_enabled is True and f.snmp_default_community is None


def test_comware_community_table_decides_default_community() -> None:
    outs = device_outputs("hp_comware", "s5130-agg")
    outs["display snmp-agent community"] = "   Community name: public\n       Group name: public\n"
    assert parse_cli("hp_comware", outs).snmp_default_community is True
    outs["display snmp-agent community"] = "   Community name: n0t-default\n       Group name: x\n"
    assert parse_cli("hp_comware", outs).snmp_default_community is False


# -- failure modes --------------------------------------------------------------------------
def test_rejected_required_command_is_a_parse_error_naming_it() -> None:
    outs = device_outputs("huawei_vrp", "s5720-acc")
    outs["display ipv6 interface brief"] = (
        "display ipv6 interface brief\n            ^\nError: Unrecognized command found at '^' position.\n"
    )
    with pytest.raises(ParseError, match=r"display ipv6 interface brief.*rejected"):
        parse_cli("huawei_vrp", outs)


def test_rejected_optional_command_is_skipped() -> None:
    outs = device_outputs("huawei_vrp", "s5720-acc")
    outs["display http server"] = "Error: Unrecognized command found at '^' position."
    res = parse_cli_detailed("huawei_vrp", outs)
    assert res.skipped == ["display http server"] and res.facts.http_enabled is False  # from the config


def test_garbage_output_never_quotes_the_device_text() -> None:
    outs = device_outputs("huawei_vrp", "s5720-acc")
    outs["display ip interface brief"] = "snmp-agent community read s3cr3t-community\n%%%% garbage %%%%\n"
    with pytest.raises(ParseError) as info:
        parse_cli("huawei_vrp", outs)
    assert "s3cr3t" not in str(info.value) and "display ip interface brief" in str(info.value)


def test_missing_required_output() -> None:
    outs = device_outputs("huawei_vrp", "s5720-acc")
    del outs["display version"]
    with pytest.raises(ParseError, match=r"'display version'.*no output collected"):
        parse_cli("huawei_vrp", outs)


def test_paging_remnants_and_prompt_are_cleaned() -> None:
    text = (
        "<HW-1>display ipv6 neighbors\r\n"
        "IPv6 Address : 2001:DB8::1\r\n"
        "  ---- More ----\x1b[42D                                          \x1b[42DLink-layer   : 00e0-fc00-0001\r\n"
        "<HW-1>"
    )
    assert clean_output(text, "display ipv6 neighbors") == [
        "IPv6 Address : 2001:DB8::1",
        "Link-layer   : 00e0-fc00-0001",
    ]


def test_vrp_ipv6_brief_multiple_addresses_and_unassigned() -> None:
    lines = [
        "Interface                         Physical              Protocol",
        "Vlanif100                         up                    up",
        "[IPv6 Address] 2001:DB8:1::1",
        "               2001:DB8:2::1",
        "Vlanif200                         *down                 down",
        "[IPv6 Address] Unassigned",
    ]
    rows = tables.vrp_ipv6_brief(lines, "display ipv6 interface brief")
    assert [(r.name, r.admin_up, r.addresses) for r in rows] == [
        ("Vlanif100", True, ["2001:DB8:1::1", "2001:DB8:2::1"]),
        ("Vlanif200", False, []),
    ]
    with pytest.raises(ParseError):
        tables.vrp_ipv6_brief(["no header here"], "display ipv6 interface brief")


def test_config_without_sysname_or_interface_is_refused() -> None:
    with pytest.raises(ParseError, match="no sysname"):
        parse_vrp_like(["Error: something"], "huawei_vrp")


def test_a_compiled_template_parses_each_output_afresh() -> None:
    # templates are compiled once per thread and reused: no state may carry over between outputs
    from govops.network.parsers.common import Template, textfsm_parse

    def lines(name: str) -> list[str]:
        (raw,) = sorted((NTC / "cisco_ios" / name).glob("*.raw"))
        return raw.read_text(encoding="utf-8").splitlines()

    neighbors = Template("cisco_ios_show_ipv6_neighbors")
    first = textfsm_parse(neighbors, lines("show_ipv6_neighbors"), "cisco_ios", "show ipv6 neighbors")
    assert first
    assert textfsm_parse(neighbors, [], "cisco_ios", "show ipv6 neighbors") == []
    again = textfsm_parse(neighbors, lines("show_ipv6_neighbors"), "cisco_ios", "show ipv6 neighbors")
    assert again == first
