"""The rule language: every operator, three-valued logic, quantifiers, and bad rule files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from govops.errors import ValidationFailed
from govops.network.analysis import DefaultAnalyzer, known_facts
from govops.network.rules.engine import builtin_pack_files, evaluate, load_rules, parse_pack

RULES = Path(__file__).resolve().parents[1] / "fixtures" / "rules"

FACTS: dict[str, Any] = {
    "ipv6_forwarding": True,
    "telnet_enabled": False,
    "http_enabled": None,  # not collected
    "ipv6_neighbors_uplink": 2,
    "os_version": "V300R019C10SPC300",
    "ntp_servers": ["10.0.0.123"],
    "syslog_hosts": [],
    "interfaces": [
        {"name": "Gi0/0", "role": "uplink", "admin_up": True, "ipv4": ["10.0.0.2/30"], "ipv6": ["2001:db8::2/64"]},
        {"name": "Gi0/1", "role": "access", "admin_up": True, "ipv4": ["10.1.0.1/24"], "ipv6": []},
        {"name": "Gi0/2", "role": "other", "admin_up": False, "ipv4": [], "ipv6": []},
        {"name": "Lo0", "role": "loopback", "admin_up": None, "ipv4": ["10.255.0.1/32"], "ipv6": []},
    ],
    "ssh": {"ipv6_default_route": True},
    "snmp": {"ipv6_default_route": False},
    "device": {"platform": "huawei_vrp", "ssh": True},
}


def ev(cond: dict[str, Any]) -> bool | None:
    return evaluate(cond, FACTS, FACTS).value


@pytest.mark.parametrize(
    ("cond", "value"),
    [
        ({"fact": "ipv6_forwarding", "eq": True}, True),
        ({"fact": "ipv6_forwarding", "eq": False}, False),
        ({"fact": "telnet_enabled", "ne": True}, True),
        ({"fact": "device.platform", "in": ["huawei_vrp", "hp_comware"]}, True),
        ({"fact": "device.platform", "not_in": ["huawei_vrp"]}, False),
        ({"fact": "ipv6_neighbors_uplink", "lt": 2}, False),
        ({"fact": "ipv6_neighbors_uplink", "le": 2}, True),
        ({"fact": "ipv6_neighbors_uplink", "gt": 1}, True),
        ({"fact": "ipv6_neighbors_uplink", "ge": 3}, False),
        ({"fact": "ntp_servers", "contains": "10.0.0.123"}, True),
        ({"fact": "ntp_servers", "not_contains": "10.0.0.123"}, False),
        ({"fact": "os_version", "matches": r"^V300R0(19|22)"}, True),
        ({"fact": "os_version", "matches": r"V200"}, False),
        ({"fact": "syslog_hosts", "empty": True}, True),
        ({"fact": "ntp_servers", "empty": True}, False),
        ({"fact": "http_enabled", "known": False}, True),
        ({"fact": "telnet_enabled", "known": True}, True),
        ({"fact": "ssh.ipv6_default_route", "eq_fact": "snmp.ipv6_default_route"}, False),
        ({"fact": "ssh.ipv6_default_route", "eq_fact": "ssh.ipv6_default_route"}, True),
        # an unknown fact makes a comparison unknown, whatever the operator
        ({"fact": "http_enabled", "eq": False}, None),
        ({"fact": "http_enabled", "ne": False}, None),
        ({"fact": "no_such.path", "eq": 1}, None),
    ],
)
def test_comparisons(cond: dict[str, Any], value: bool | None) -> None:
    assert ev(cond) is value


@pytest.mark.parametrize(
    ("cond", "value"),
    [
        ({"all": [{"fact": "ipv6_forwarding", "eq": True}, {"fact": "telnet_enabled", "eq": False}]}, True),
        ({"all": [{"fact": "ipv6_forwarding", "eq": True}, {"fact": "http_enabled", "eq": False}]}, None),
        ({"all": [{"fact": "ipv6_forwarding", "eq": False}, {"fact": "http_enabled", "eq": False}]}, False),
        ({"any": [{"fact": "ipv6_forwarding", "eq": True}, {"fact": "http_enabled", "eq": False}]}, True),
        ({"any": [{"fact": "ipv6_forwarding", "eq": False}, {"fact": "http_enabled", "eq": False}]}, None),
        ({"any": [{"fact": "ipv6_forwarding", "eq": False}, {"fact": "telnet_enabled", "eq": True}]}, False),
        ({"not": {"fact": "telnet_enabled", "eq": True}}, True),
        ({"not": {"fact": "http_enabled", "eq": True}}, None),
    ],
)
def test_kleene_logic(cond: dict[str, Any], value: bool | None) -> None:
    assert ev(cond) is value


def test_every_reports_the_offending_items() -> None:
    cond = {
        "every": "interfaces",
        "where": {"all": [{"fact": "ipv4", "empty": False}, {"fact": "role", "ne": "loopback"}]},
        "check": {"fact": "ipv6", "empty": False},
    }
    out = evaluate(cond, FACTS, FACTS)
    assert out.value is False and out.offending == ["Gi0/1"]


def test_quantifier_where_with_unknown_field_makes_the_result_unknown() -> None:
    # Lo0's admin state is unknown: whether it must be checked is unknown, and nothing else fails
    cond = {"every": "interfaces", "where": {"fact": "admin_up", "eq": True}, "check": {"fact": "ipv4", "empty": False}}
    out = evaluate(cond, FACTS, FACTS)
    assert out.value is None and out.unknown == {"interfaces[Lo0].admin_up"}


def test_some_none_count_and_root_paths() -> None:
    assert ev({"some": "interfaces", "check": {"fact": "role", "eq": "uplink"}}) is True
    assert ev({"none": "interfaces", "check": {"fact": "role", "eq": "mgmt"}}) is True
    assert ev({"none": "interfaces", "check": {"fact": "role", "eq": "access"}}) is False
    assert ev({"count": "interfaces", "where": {"fact": "admin_up", "eq": True}, "ge": 2}) is True
    assert ev({"count": "interfaces", "eq": 5}) is False
    # "$." reaches the device's facts from inside a quantifier
    inner = {"all": [{"fact": "role", "eq": "uplink"}, {"fact": "$.ipv6_forwarding", "eq": True}]}
    assert ev({"some": "interfaces", "check": inner}) is True
    assert ev({"some": "syslog_hosts", "check": {"fact": "x", "eq": 1}}) is False  # empty list
    assert ev({"every": "http_enabled", "check": {"fact": "x", "eq": 1}}) is None  # unknown list


# -- rule files ----------------------------------------------------------------------------------
def test_shipped_packs_load() -> None:
    names = [n for n, _ in builtin_pack_files()]
    assert names == [
        "govops/network/rules/baseline.yaml",
        "govops/network/rules/crosscheck.yaml",
        "govops/network/rules/ipv6.yaml",
    ]
    rules = load_rules([], known_facts())
    ids = {r.id for r in rules}
    assert {"ipv6.forwarding", "ipv6.default_route", "baseline.telnet_off", "xcheck.ipv6_ssh_snmp"} <= ids
    assert all(r.title.get("en") and r.title.get("zh") for r in rules)
    ssh_only = {r.id for r in rules if r.needs == "ssh"}
    assert {"baseline.telnet_off", "baseline.aaa_login", "ipv6.mgmt_acl_parity"} <= ssh_only


def problems(text: str) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        parse_pack(text, "local.yaml", known_facts())
    return [str(p) for p in info.value.problems]


GOOD = """\
pack: local
rules:
  - id: local.banner
    title: {en: Banner, zh: 登录提示}
    severity: low
    check: {fact: login_banner, eq: true}
"""


def test_minimal_rule_defaults() -> None:
    (rule,) = parse_pack(GOOD, "local.yaml", known_facts())
    assert (rule.pack, rule.platforms, rule.needs, rule.readiness) == ("local", ("*",), "any", True)
    assert rule.source == "local.yaml:3"


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (GOOD.replace("eq: true", "eqq: true"), "local.yaml:6 rules[0].check: a fact condition takes exactly one"),
        (GOOD.replace("login_banner", "login_baner"), "local.yaml:6 rules[0].check.fact: unknown fact 'login_baner'"),
        (GOOD.replace("severity: low", "severity: urgent"), "local.yaml:5 rules[0].severity: severity must be"),
        (GOOD.replace("    severity: low\n", ""), "local.yaml:3 rules[0]: rule is missing 'severity'"),
        (GOOD.replace("id: local.banner", "id: Banner"), "local.yaml:3 rules[0].id: id must look like"),
        (GOOD.replace("{en: Banner, zh: 登录提示}", "Banner"), "local.yaml:4 rules[0].title: title must be"),
        (GOOD.replace("check: {fact: login_banner, eq: true}", "check: {xor: []}"), "unknown operator(s) ['xor']"),
        (
            GOOD.replace("check: {fact: login_banner, eq: true}", "check: {fact: os_version, matches: '('}"),
            "local.yaml:6 rules[0].check.matches: invalid regular expression",
        ),
        (
            GOOD.replace("check: {fact: login_banner, eq: true}", "check: {fact: ntp_servers, ge: many}"),
            "rules[0].check.ge: 'ge' takes a number",
        ),
        (
            GOOD.replace("check: {fact: login_banner, eq: true}", "check: {every: interfaces, check: {fact: ipv9}}"),
            "unknown fact 'ipv9' (known fields of interfaces",
        ),
        (GOOD + "    colour: red\n", "local.yaml:7 rules[0].colour: unknown rule key 'colour'"),
        (GOOD + GOOD.split("rules:\n")[1], "local.yaml:7 rules[1].id: duplicate rule id 'local.banner'"),
        (GOOD.replace("pack: local", "pack: Local Pack"), "local.yaml:1 pack: pack must be"),
        ("pack: local\nrules: []\n", "local.yaml:2 rules: rules must be a non-empty list"),
        (
            "pack: local\nrules:\n  - id: [unclosed\n",
            "local.yaml:3: malformed YAML",
        ),  # the last line, not one past the end
    ],
)
def test_bad_rule_files_name_file_and_line(broken: str, message: str) -> None:
    found = problems(broken)
    assert any(message in p for p in found), found


def test_every_problem_is_reported_at_once() -> None:
    text = GOOD.replace("severity: low", "severity: urgent").replace("login_banner", "login_baner")
    assert len(problems(text)) == 2


def test_extra_rule_file_cannot_redefine_a_shipped_rule(tmp_path: Path) -> None:
    f = tmp_path / "mine.yaml"
    f.write_text(GOOD.replace("local.banner", "baseline.login_banner").replace("pack: local", "pack: baseline"))
    with pytest.raises(ValidationFailed, match=r"mine.yaml:3: rule id 'baseline.login_banner' is already defined at"):
        DefaultAnalyzer([f])


def test_missing_extra_rule_file(tmp_path: Path) -> None:
    from govops.errors import InputError

    with pytest.raises(InputError, match=r"nope\.yaml: file not found"):
        DefaultAnalyzer([tmp_path / "nope.yaml"])


def test_worked_example_from_the_docs_loads_and_adds_a_pack() -> None:
    an = DefaultAnalyzer([RULES / "local.yaml"])
    assert "local" in an.packs()
    rule = next(r for r in an.rules if r.id == "local.vrp_release")
    assert rule.platforms == ("huawei_vrp",) and rule.needs == "any"
