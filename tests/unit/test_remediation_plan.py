"""Fix templates and plans: the exact lines per platform, from facts parsed out of real device outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from govops.errors import InputError, ValidationFailed
from govops.network.analysis import DefaultAnalyzer
from govops.network.facts import DeviceFacts, InterfaceFacts
from govops.network.inventory import Device, Site
from govops.network.parsers import command_set
from govops.network.parsers.tables import ios_ipv6_brief
from govops.network.remediation.plan import build_plans, check_rules, fixable_rules
from govops.network.remediation.templates import UnsafeValue, load_fixes, render, variables
from govops.network.results import DeviceResult

pytestmark = pytest.mark.unit
FIX = Path(__file__).resolve().parents[1] / "fixtures" / "device-outputs"
DATA = {
    "ntp_servers": ["10.0.0.123", "2001:db8:ffff:ffff::123"],
    "syslog_hosts": ["10.0.0.50"],
    "login_banner": "Authorized access only",
}
ANALYZER = DefaultAnalyzer()
FIXES = load_fixes(known_rules=[r.id for r in ANALYZER.rules])


def govops_facts(platform: str, name: str) -> dict[str, Any]:
    """Facts the audit's parsers read from a device's real outputs (tests/fixtures/device-outputs/govops)."""
    folder = FIX / "govops" / platform / name
    outs = {
        c.cli: (folder / f"{c.key}.raw").read_text(encoding="utf-8")
        for c in command_set(platform)
        if (folder / f"{c.key}.raw").exists()
    }
    return ANALYZER.facts_from_cli(platform, outs).to_dict()


def ios_facts() -> dict[str, Any]:
    """A Cisco device's interfaces from a real `show ipv6 interface brief` (ntc-templates' test output)."""
    raw = FIX / "ntc" / "cisco_ios" / "show_ipv6_interface_brief" / "cisco_ios_show_ipv6_interface_brief.raw"
    rows = ios_ipv6_brief(raw.read_text(encoding="utf-8").splitlines(), "show ipv6 interface brief")
    ifs = [
        InterfaceFacts(
            r.name,
            r.admin_up,
            r.oper_up,
            ipv6=[a.lower() for a in r.addresses if not a.upper().startswith("FE80")],
            role="uplink" if k == 0 else "other",
        )
        for k, r in enumerate(rows)
    ]
    return DeviceFacts(platform="cisco_ios", interfaces=ifs).to_dict()


def device(platform: str, data: dict[str, Any]) -> Device:
    site = Site("jb-t01-v001", "village", "village", "jb-t01", "jb", "city")
    return Device("dev1", site, platform, None, "127.0.0.1", None, None, None, None, None, None, None, (), data)


def plan_for(platform: str, facts: dict[str, Any], rules: list[str], data: dict[str, Any] | None = None) -> Any:
    result = DeviceResult.from_dict(
        {
            "hostname": "dev1",
            "status": "ok",
            "facts": facts,
            "findings": [{"rule": r, "status": "fail"} for r in rules],
        }
    )
    dev = device(platform, DATA if data is None else data)
    plans = build_plans([result], {"dev1": dev}, FIXES, rules)
    assert len(plans) == 1
    return plans[0]


def lines_by_rule(plan: Any) -> dict[str, list[str]]:
    return {i.rule: i.lines for i in plan.items}


ALL = ["ipv6.default_route", "ipv6.forwarding", "baseline.telnet_off", "baseline.http_off", "baseline.ssh_v2_only"]
ALL += ["baseline.ntp", "baseline.syslog", "baseline.login_banner"]


def test_vrp_lines_from_a_real_access_switch() -> None:
    facts = govops_facts("huawei_vrp", "s5720-acc")
    plan = plan_for("huawei_vrp", facts, ALL)
    assert lines_by_rule(plan) == {
        # uplink Vlanif100 2001:db8:17:1::2/64: the upstream end is the prefix's first address
        "ipv6.default_route": ["ipv6 route-static :: 0 2001:db8:17:1::1"],
        "ipv6.forwarding": ["ipv6"],
        "baseline.telnet_off": ["undo telnet server enable"],
        "baseline.http_off": ["undo http server enable"],
        "baseline.ssh_v2_only": ["undo ssh server compatible-ssh1x enable"],
        "baseline.ntp": [
            "ntp-service unicast-server 10.0.0.123",
            "ntp-service unicast-server ipv6 2001:db8:ffff:ffff::123",
        ],
        "baseline.syslog": ["info-center loghost 10.0.0.50"],  # no IPv6 log host: that line is left out
        "baseline.login_banner": ['header login information "Authorized access only"'],
    }
    session = plan.session_lines()
    assert session[0] == "system-view" and session[-2:] == ["return", "save"]
    rollback = plan.rollback_lines(plan.planned)
    # latest fix undone first
    assert rollback[1] == "undo header login information"
    assert rollback[-3] == "undo ipv6 route-static :: 0 2001:db8:17:1::1"


def test_comware_lines_from_a_real_aggregation_switch() -> None:
    facts = govops_facts("hp_comware", "s5130-agg")
    plan = plan_for("hp_comware", facts, ALL)
    got = lines_by_rule(plan)
    assert got["ipv6.default_route"] == ["ipv6 route-static :: 0 2001:db8:18:3::1"]
    assert got["baseline.http_off"] == ["undo ip http enable"]
    assert got["baseline.ntp"] == [
        "ntp-service enable",
        "ntp-service unicast-server 10.0.0.123",
        "ntp-service ipv6 unicast-server 2001:db8:ffff:ffff::123",
    ]
    assert got["baseline.login_banner"] == ["header login %Authorized access only%"]
    # Comware has no global IPv6 forwarding switch: no fix for that platform, said so
    forwarding = next(i for i in plan.items if i.rule == "ipv6.forwarding")
    assert (forwarding.status, forwarding.reason) == ("no_fix", "no fix for platform hp_comware")


def test_ios_lines_from_a_real_interface_brief() -> None:
    facts = ios_facts()
    # the brief shows no prefix length: the gateway cannot be derived, so it must come from the inventory
    plan = plan_for("cisco_ios", facts, ["ipv6.default_route"])
    assert plan.items[0].status == "skipped" and "uplink_ipv6_gateway" in (plan.items[0].reason or "")
    plan = plan_for("cisco_ios", facts, ALL, {**DATA, "ipv6_gateway": "2a01:3333:3333::1"})
    assert lines_by_rule(plan) == {
        "ipv6.default_route": ["ipv6 route ::/0 2a01:3333:3333::1"],
        "ipv6.forwarding": ["ipv6 unicast-routing"],
        "baseline.telnet_off": ["line vty 0 4", "transport input ssh", "exit"],
        "baseline.http_off": ["no ip http server"],
        "baseline.ssh_v2_only": ["ip ssh version 2"],
        "baseline.ntp": ["ntp server 10.0.0.123", "ntp server 2001:db8:ffff:ffff::123"],
        "baseline.syslog": ["logging host 10.0.0.50"],
        "baseline.login_banner": ["banner login #Authorized access only#"],
    }
    session = plan.session_lines()
    assert session[0] == "configure terminal" and session[-2:] == ["end", "write memory"]


def test_manual_rules_say_why_and_send_nothing() -> None:
    plan = plan_for("huawei_vrp", govops_facts("huawei_vrp", "s5720-acc"), ["baseline.aaa_login"])
    item = plan.items[0]
    assert item.status == "manual" and "AAA" in (item.reason or "") and not item.lines
    assert plan.session_lines() == []


def test_missing_inventory_variable_is_skipped_not_invented() -> None:
    plan = plan_for("huawei_vrp", govops_facts("huawei_vrp", "s5720-acc"), ["baseline.ntp"], data={})
    assert plan.items[0].status == "skipped" and "ntp_servers" in (plan.items[0].reason or "")


def test_unsafe_values_are_refused() -> None:
    values = variables({}, {"login_banner": 'x"\nsave'}, "h")
    with pytest.raises(UnsafeValue):
        render(['header login information "{login_banner}"'], values)
    plan = plan_for("cisco_ios", ios_facts(), ["baseline.login_banner"], {"login_banner": "a # b"})
    assert plan.items[0].status == "skipped"


def test_upstream_of_a_127_and_of_the_first_address() -> None:
    up = {"interfaces": [{"name": "Gi0/0", "role": "uplink", "ipv6": ["2001:db8::/127"]}]}
    assert variables(up, {}, "h")["uplink_ipv6_gateway"] == "2001:db8::1"
    up["interfaces"][0]["ipv6"] = ["2001:db8::1/64"]  # the device holds the first address itself
    assert "uplink_ipv6_gateway" not in variables(up, {}, "h")


def test_unknown_rule_and_bad_fix_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown rule"):
        check_rules(["ipv6.nope"], FIXES, [r.id for r in ANALYZER.rules])
    assert "ipv6.default_route" in fixable_rules(FIXES) and "baseline.aaa_login" not in fixable_rules(FIXES)
    bad = tmp_path / "local.yaml"
    bad.write_text(
        "fixes:\n  - rule: baseline.ntp\n    platforms:\n      huawei_vrp:\n        lines: [x]\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationFailed, match=r"local.yaml:4 .*undo"):
        load_fixes([bad], [r.id for r in ANALYZER.rules])


def test_an_engineer_adds_a_fix_without_python(tmp_path: Path) -> None:
    local = tmp_path / "local.yaml"
    local.write_text(
        "fixes:\n"
        "  - rule: baseline.snmp_community\n"
        "    platforms:\n"
        "      cisco_ios:\n"
        '        lines: ["no snmp-server community public"]\n'
        '        undo: ["snmp-server community public RO"]\n',
        encoding="utf-8",
    )
    fixes = load_fixes([local], [r.id for r in ANALYZER.rules])
    assert fixes["baseline.snmp_community"].platforms["cisco_ios"].lines == ("no snmp-server community public",)
