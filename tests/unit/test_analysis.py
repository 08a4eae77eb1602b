"""DefaultAnalyzer end to end on fixture outputs, and the audit's JSON/CSV output schema."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from govops.credentials import Credential
from govops.network.analysis import DefaultAnalyzer, merge_facts
from govops.network.audit import CSV_COLUMNS, OUTPUT_SCHEMA, AuditEngine, AuditSettings
from govops.network.collectors.base import SnmpOutput, SnmpTarget, SshOutput, SshTarget
from govops.network.facts import DeviceFacts, InterfaceFacts
from govops.network.generate import generate_inventory
from govops.network.inventory import Device, load_inventory
from govops.network.parsers import command_set, parse_cli
from govops.network.results import Finding

from tests.fakes import FakeSnmp
from tests.unit.test_audit_engine import ENV

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "device-outputs" / "govops"


def outputs(platform: str, name: str) -> dict[str, str]:
    folder = FIX / platform / name
    return {
        c.cli: (folder / f"{c.key}.raw").read_text(encoding="utf-8")
        for c in command_set(platform)
        if (folder / f"{c.key}.raw").exists()
    }


@pytest.fixture(scope="module")
def analyzer() -> DefaultAnalyzer:
    return DefaultAnalyzer()


@pytest.fixture
def device(tmp_path: Path) -> Device:
    generate_inventory(sites=12, seed=5).write(tmp_path / "inv")
    inv = load_inventory(tmp_path / "inv")
    return next(d for d in inv if d.platform == "huawei_vrp" and d.ssh is not None and d.snmp is not None)


def by_rule(findings: list[Finding]) -> dict[str, dict[str, Any]]:
    """The findings as the JSON shows them, by rule."""
    return {f.rule: f.to_dict() for f in findings}


def test_vrp_access_switch_findings(analyzer: DefaultAnalyzer, device: Device) -> None:
    ssh = analyzer.facts_from_cli("huawei_vrp", outputs("huawei_vrp", "s5720-acc"))
    extra = {"mgmt_ipv6_configured": True, "mgmt_ipv6_ssh": True, "mgmt_ipv6_snmp": True}
    facts, findings = analyzer.evaluate(device, ssh, None, extra, ["ipv6", "baseline"])
    f = by_rule(findings)
    assert {r: x["status"] for r, x in f.items() if x["pack"] == "baseline"} == {
        "baseline.aaa_login": "pass",
        "baseline.http_off": "pass",
        "baseline.login_banner": "pass",
        "baseline.ntp": "pass",
        "baseline.snmp_community": "pass",  # v2c off
        "baseline.ssh_v2_only": "pass",
        "baseline.syslog": "pass",
        "baseline.telnet_off": "pass",
    }
    assert f["ipv6.forwarding"]["status"] == "pass" and f["ipv6.default_route"]["status"] == "pass"
    assert f["ipv6.ra_guard"]["status"] == "pass"
    # MEth0/0/1 is a management port (its own rule) and Vlanif1 carries no IPv4: all dual-stack
    assert f["ipv6.dual_stack_interfaces"]["status"] == "pass"
    # no SNMP facts: the cross-check cannot run, and says why
    assert f["xcheck.ipv6_ssh_snmp"]["status"] == "not_applicable"
    assert "SNMP collection failed" in f["xcheck.ipv6_ssh_snmp"]["reason"]
    ev = f["baseline.telnet_off"]["evidence"]
    assert ev["facts"] == {"telnet_enabled": False}
    assert ev["commands"] == ["display current-configuration", "display telnet server status"]
    assert facts["hostname"] == "jb-t01-v001-acc1" and facts["mgmt_ipv6_ssh"] is True


def test_comware5_village_switch_fails_baseline(analyzer: DefaultAnalyzer, device: Device) -> None:
    ssh = analyzer.facts_from_cli("hp_comware", outputs("hp_comware", "s5120-v5"))
    dev = dataclasses.replace(device, platform="hp_comware")
    _, findings = analyzer.evaluate(dev, ssh, None, {"mgmt_ipv6_configured": False}, ["ipv6", "baseline"])
    f = by_rule(findings)
    for rule in ("baseline.telnet_off", "baseline.http_off", "baseline.ssh_v2_only", "baseline.snmp_community"):
        assert f[rule]["status"] == "fail", rule
    assert f["ipv6.default_route"]["status"] == "fail"
    assert f["ipv6.mgmt_reachable"]["status"] == "fail"
    dual = f["ipv6.dual_stack_interfaces"]
    assert dual["status"] == "fail" and dual["evidence"]["offending"] == ["Vlan-interface100"]


def test_snmp_only_device_reports_ssh_rules_not_applicable(analyzer: DefaultAnalyzer, device: Device) -> None:
    box = dataclasses.replace(device, platform="linux", ssh=None, ssh_profile=None)
    snmp = DeviceFacts(
        hostname="box",
        ipv6_forwarding=True,
        ipv6_default_route=True,
        interfaces=[InterfaceFacts("eth0", True, True, ["10.0.0.2/24"], ["2001:db8::2/64"], role="uplink")],
        ipv6_neighbors_uplink=1,
    )
    extra = {"mgmt_ipv6_configured": True, "mgmt_ipv6_snmp": True}
    _, findings = analyzer.evaluate(box, None, snmp, extra, ["ipv6", "baseline"])
    f = by_rule(findings)
    for rule in ("baseline.telnet_off", "baseline.aaa_login", "ipv6.mgmt_acl_parity", "ipv6.ra_guard"):
        assert f[rule]["status"] == "not_applicable", rule
    assert "not a rule for platform linux" in f["baseline.telnet_off"]["reason"]
    for rule in ("ipv6.forwarding", "ipv6.default_route", "ipv6.dual_stack_interfaces", "ipv6.uplink_neighbors"):
        assert f[rule]["status"] == "pass", rule
    assert f["ipv6.mgmt_reachable"]["status"] == "pass"  # no SSH to reach: SNMP over UDP6 is enough
    assert f["ipv6.forwarding"]["evidence"]["snmp_objects"] == ["ipv6InterfaceForwarding", "ipv6IpForwarding"]


def test_ssh_only_rules_on_a_cli_device_whose_ssh_failed(analyzer: DefaultAnalyzer, device: Device) -> None:
    snmp = DeviceFacts(hostname="x", ipv6_forwarding=False)
    _, findings = analyzer.evaluate(device, None, snmp, {}, ["baseline"])
    assert {f.status for f in findings} == {"not_applicable"}
    assert all("SSH collection failed" in (f.reason or "") for f in findings)


def test_cross_check_catches_snmp_disagreement(analyzer: DefaultAnalyzer, device: Device) -> None:
    ssh = parse_cli("huawei_vrp", outputs("huawei_vrp", "s5720-acc"))
    same = DeviceFacts(
        ipv6_forwarding=ssh.ipv6_forwarding,
        ipv6_default_route=True,
        interfaces=[dataclasses.replace(i) for i in ssh.interfaces],
    )
    _, ok = analyzer.evaluate(device, ssh, same, {}, ["ipv6"])
    assert by_rule(ok)["xcheck.ipv6_ssh_snmp"]["status"] == "pass"
    stale = dataclasses.replace(same, ipv6_default_route=False)
    _, bad = analyzer.evaluate(device, ssh, stale, {}, ["ipv6"])
    x = by_rule(bad)["xcheck.ipv6_ssh_snmp"]
    assert x["status"] == "fail" and x["readiness"] is False
    assert x["evidence"]["facts"]["snmp.ipv6_default_route"] is False


def test_merge_takes_ssh_first_and_fills_from_snmp() -> None:
    ssh = DeviceFacts(
        hostname="a",
        ipv6_forwarding=True,
        interfaces=[InterfaceFacts("GigabitEthernet0/0/0", True, None, [], ["2001:db8::1/64"], None)],
    )
    snmp = DeviceFacts(
        hostname="b",
        sys_descr="Huawei VRP",
        ipv6_forwarding=False,
        interfaces=[InterfaceFacts("GigabitEthernet0/0/0", True, True, [], [], "fe80::1")],
    )
    m = merge_facts(ssh, snmp)
    assert (m.hostname, m.sys_descr, m.ipv6_forwarding) == ("a", "Huawei VRP", True)
    assert (m.interfaces[0].oper_up, m.interfaces[0].ipv6_link_local) == (True, "fe80::1")
    assert merge_facts(None, snmp) is snmp and merge_facts(ssh, None) is ssh


# -- output schema ----------------------------------------------------------------------------
class FixtureSsh:
    """Every device answers with the outputs of one real-format VRP device set."""

    def collect(self, target: SshTarget, credential: Credential, commands: Sequence[str], deadline: float) -> SshOutput:
        outs = outputs("huawei_vrp", "s5720-acc")
        return SshOutput({c: outs[c] for c in commands}, ("ssh-ed25519", "SHA256:abc"))

    def probe(self, host: str, port: int, timeout: float) -> bool:
        return True


class FixtureSnmp(FakeSnmp):
    async def collect(
        self, target: SnmpTarget, credential: Credential, gets: Sequence[str], walks: Sequence[str]
    ) -> SnmpOutput:
        return SnmpOutput({"1.3.6.1.2.1.1.5.0": target.hostname.encode(), "1.3.6.1.2.1.1.1.0": b"Huawei VRP"})


DEVICE_KEYS = {
    "hostname",
    "site",
    "county",
    "level",
    "platform",
    "status",
    "reason",
    "collected",
    "facts",
    "findings",
    "evidence",
    "ipv6_ready",
    "duration_s",
    "attempts",
}
FINDING_KEYS = {"rule", "pack", "title", "severity", "status", "reason", "readiness", "evidence"}


@pytest.fixture
def audit_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli, ports):  # type: ignore[no-untyped-def]
    generate_inventory(sites=40, seed=3).write(tmp_path / "inv")
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)

    def build(ctx: Any, observer: Any, **_: Any) -> AuditEngine:
        return AuditEngine(
            ssh=FixtureSsh(),
            snmp_factory=FixtureSnmp,
            analyzer=DefaultAnalyzer(),
            credentials=ctx.credentials,
            store=ctx.store,
            settings=AuditSettings(ssh_workers=4, snmp_concurrency=4),
            observer=observer,
        )

    ports.audit_engine = build

    def run(*args: str):  # type: ignore[no-untyped-def]
        return cli(*args, "net", "audit", "-i", str(tmp_path / "inv"), "--platform", "huawei_vrp", "--limit", "5")

    return run


def test_json_output_schema(audit_cli) -> None:  # type: ignore[no-untyped-def]
    r = audit_cli("-o", "json")
    assert r.code == 3, r.err  # the fixture device has findings (management over IPv4 only...)
    doc = json.loads(r.out)
    assert set(doc) == {"schema", "run", "summary", "devices"} and doc["schema"] == OUTPUT_SCHEMA
    assert set(doc["run"]) == {"id", "status", "started_at", "finished_at", "params"}
    assert doc["run"]["status"] == "finished"
    assert set(doc["summary"]) == {
        "devices",
        "status",
        "findings_by_severity",
        "ipv6_ready",
        "ipv6_assessed",
        "ipv6_ready_pct",
    }
    assert len(doc["devices"]) == 5
    for d in doc["devices"]:
        assert set(d) == DEVICE_KEYS and d["status"] == "ok"
        assert d["collected"] == {"ssh": "ok", "snmp": "ok"}
        assert {e["source"] for e in d["evidence"]} == {"ssh", "snmp"}
        assert all(len(e["sha256"]) == 16 for e in d["evidence"])
        for f in d["findings"]:
            assert set(f) == FINDING_KEYS
            assert f["status"] in ("pass", "fail", "not_applicable")
            assert set(f["title"]) == {"en", "zh"}
        telnet = next(f for f in d["findings"] if f["rule"] == "baseline.telnet_off")
        assert {o["command"] for o in telnet["evidence"]["outputs"]} == {
            "display current-configuration",
            "display telnet server status",
        }


def test_csv_output_columns(audit_cli) -> None:  # type: ignore[no-untyped-def]
    r = audit_cli("-o", "csv")
    assert r.code == 3, r.err
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 5
    assert all(row["status"] == "ok" and row["platform"] == "huawei_vrp" for row in rows)
    assert all(int(row["fail_high"]) >= 0 for row in rows)


def test_bad_extra_rule_file_exits_2_with_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli) -> None:  # type: ignore[no-untyped-def]
    generate_inventory(sites=12, seed=3).write(tmp_path / "inv")
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    (tmp_path / "rules.yaml").write_text(
        "pack: local\nrules:\n  - id: local.x\n    title: {en: X}\n    severity: low\n"
        "    check: {fact: telnet_enabled, equals: false}\n"
    )
    (tmp_path / "govops.yaml").write_text("version: 1\nnetwork:\n  inventory: inv\n  rules: [rules.yaml]\n")
    r = cli("--config", str(tmp_path / "govops.yaml"), "net", "audit", "--limit", "1")
    assert r.code == 2
    assert "rules.yaml:6 rules[0].check: a fact condition takes exactly one comparison" in r.err
    assert "Traceback" not in r.err


def test_audit_tables_name_the_counties_and_fit_80_columns(audit_cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "80")
    r = audit_cli()
    assert r.code == 3, r.err
    gen = generate_inventory(sites=40, seed=3)
    names = {s["name"] for s in gen.sites.values() if s["level"] == "county"}
    assert any(n in r.out for n in names), r.out
    assert all(len(line) <= 80 for line in r.out.splitlines()), r.out
