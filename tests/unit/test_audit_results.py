"""The typed audit results: to_dict()/from_dict() round trips, the stored shape, older runs, the roll-up."""

from __future__ import annotations

import json
from pathlib import Path

from govops.network.results import (
    AuditSummary,
    DeviceResult,
    Evidence,
    Finding,
    FindingEvidence,
    Output,
    Rollup,
    ipv6_ready,
)

GOLDEN = Path(__file__).parent / "golden" / "net_audit.json"


def _finding(rule: str, status: str = "fail", severity: str = "high", **kw: object) -> Finding:
    return Finding(rule, rule.split(".", maxsplit=1)[0], {"en": rule, "zh": rule}, severity, status, **kw)  # type: ignore[arg-type]


def _device(hostname: str, *findings: Finding, status: str = "ok", county: str | None = "dh") -> DeviceResult:
    return DeviceResult(
        hostname,
        "s1",
        county,
        "county" if county else "city",
        "huawei_vrp",
        status,  # type: ignore[arg-type]
        None if status == "ok" else "ssh: connection refused",
        findings=findings,
        ipv6_ready=ipv6_ready(status, findings),  # type: ignore[arg-type]
    )


def test_every_device_of_the_golden_audit_round_trips_key_for_key() -> None:
    """from_dict(to_dict()) is the identity on what the engine writes, keys in the same order."""
    doc = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert doc["devices"]
    for data in doc["devices"]:
        data["duration_s"] = 1.25  # normalised to 0 in the golden file; the engine writes a float
        typed = DeviceResult.from_dict(data)
        again = typed.to_dict()
        assert json.dumps(again) == json.dumps(data)  # key order included
        assert DeviceResult.from_dict(again) == typed
    assert AuditSummary.from_dict(doc["summary"]).to_dict() == doc["summary"]
    results = [DeviceResult.from_dict(d) for d in doc["devices"]]
    assert json.dumps(AuditSummary.of(results).to_dict()) == json.dumps(doc["summary"])


def test_each_model_round_trips() -> None:
    ev = FindingEvidence(
        {"ipv6_forwarding": False},
        ("display current-configuration",),
        ("1.3.6.1.2.1.4.25.0",),
        ("Vlanif100",),
        (Output("display current-configuration", "ab" * 8),),
    )
    f = _finding("ipv6.forwarding", reason=None, readiness=True, evidence=ev)
    assert Finding.from_dict(f.to_dict()) == f
    assert list(f.to_dict()) == ["rule", "pack", "title", "severity", "status", "reason", "readiness", "evidence"]
    assert list(ev.to_dict()) == ["facts", "commands", "snmp_objects", "offending", "outputs"]
    for e in (
        Evidence.ssh("display version", "cd" * 8, "2026-12-07T06:00:00.000Z"),
        Evidence.snmp("udp6", 12, "ef" * 8, "2026-12-07T06:00:01.000Z"),
        Evidence.probe("v2c GET sysObjectID as public, private", False),
    ):
        assert Evidence.from_dict(e.to_dict()) == e
    assert list(Evidence.snmp("udp", 1, "x", "t").to_dict()) == ["source", "transport", "values", "sha256", "at"]
    assert Evidence.probe("q", False).to_dict() == {"source": "snmp-probe", "command": "q", "answered": False}
    d = _device("a", f)
    assert DeviceResult.from_dict(d.to_dict() | {"a_future_field": 1}) == d


def test_a_rule_not_evaluated_has_empty_evidence_and_one_evaluated_keeps_empty_facts() -> None:
    assert _finding("baseline.x", "not_applicable").to_dict()["evidence"] == {}
    assert _finding("baseline.x", "pass", evidence=FindingEvidence({})).to_dict()["evidence"] == {"facts": {}}


def test_results_of_older_runs_still_read() -> None:
    """Older runs: one-string titles, no pack, no readiness, no reason (and unknown keys)."""
    old = {
        "hostname": "h",
        "site": "s",
        "county": None,
        "level": "city",
        "platform": "cisco_ios",
        "status": "ok",
        "reason": None,
        "findings": [{"rule": "ipv6.mgmt", "title": "Mgmt over IPv6", "severity": "high", "status": "fail"}],
        "evidence": [{"source": "ssh", "command": "show run", "sha256": "x"}],
        "ipv6_ready": False,
    }
    r = DeviceResult.from_dict(old)
    (f,) = r.findings
    assert f.pack == "ipv6" and f.readiness and f.counts_for_readiness and f.title_in("zh") == "Mgmt over IPv6"
    assert r.failed_findings == [f] and r.evidence[0].at is None and r.attempts == 0


def test_the_rollup_is_the_summary_per_level_and_county() -> None:
    results = [
        _device("a", _finding("ipv6.a"), _finding("baseline.b", severity="low")),
        _device("b", _finding("ipv6.a", "pass")),
        _device("c", status="unreachable"),
        _device("d", _finding("ipv6.a", "pass"), county=None),
    ]
    r = Rollup.of(results)
    assert r.city == AuditSummary.of(results)
    assert r.city.to_dict() == {
        "devices": 4,
        "status": {"ok": 3, "unreachable": 1},
        "findings_by_severity": {"high": 1, "low": 1},
        "ipv6_ready": 2,
        "ipv6_assessed": 3,
        "ipv6_ready_pct": 66.7,
    }
    assert list(r.by_county) == ["", "dh"] and r.by_county["dh"].devices == 3 and r.by_county["dh"].not_audited == 1
    assert list(r.by_level) == ["city", "county"] and r.by_level["city"].ipv6_ready_pct == 100.0
    assert r.devices_by_severity == {"high": 1, "low": 1}


def test_readiness_counts_only_the_readiness_rules_that_applied() -> None:
    na = _finding("ipv6.a", "not_applicable")
    cross = _finding("xcheck.b", "fail", readiness=False)
    assert ipv6_ready("ok", [na, cross]) is None  # nothing assessed
    assert ipv6_ready("ok", [na, _finding("ipv6.c", "pass")]) is True
    assert ipv6_ready("timeout", [_finding("ipv6.c", "pass")]) is None  # a device not audited is not assessed
