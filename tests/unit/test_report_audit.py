"""`govops report audit`: runs made by the real audit engine against the fakes, read back through
the CLI from the results store."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from govops.config import load_config
from govops.credentials import Credential, Credentials, EnvSource
from govops.network.audit import AuditEngine, AuditSettings
from govops.network.collectors.base import AuthFailed, SshOutput, SshTarget
from govops.network.facts import DeviceFacts
from govops.network.generate import generate_inventory
from govops.network.inventory import Device, Inventory, load_inventory
from govops.network.remediation.engine import RUN_KIND as REMEDIATE_KIND
from govops.network.remediation.engine import Outcome, summarize
from govops.network.results import Finding
from govops.observer import RecordingObserver
from govops.reports.audit import LABELS
from govops.store import open_store

from tests.fakes import FakeAnalyzer, FakeSnmp, FakeSsh

SECRET = "Zq9-very-secret-4711"
ENV = {
    f"GOVOPS_CRED_{n}_{f}": SECRET
    for n in ("EXTRANET_SSH", "EXTRANET_SNMPV3", "EXTRANET_SNMP_COMMUNITY")
    for f in ("USERNAME", "PASSWORD", "COMMUNITY", "AUTH_KEY", "PRIV_KEY")
}
TITLE = {"en": "IPv6 forwarding is enabled", "zh": "已启用IPv6转发"}


class LeakySsh(FakeSsh):
    """A driver whose error message quotes the password, as some SSH libraries do."""

    def collect(self, target: SshTarget, credential: Credential, commands: Sequence[str], deadline: float) -> SshOutput:
        if self.behaviour.get(target.hostname) == "leak":
            raise AuthFailed(f"ssh: login refused for password {SECRET}")
        return super().collect(target, credential, commands, deadline)


class BilingualAnalyzer(FakeAnalyzer):
    """Findings titled in both languages, as the real rule files give them."""

    def evaluate(
        self,
        device: Device,
        ssh: DeviceFacts | None,
        snmp: DeviceFacts | None,
        extra: dict[str, Any],
        checks: Sequence[str],
    ) -> tuple[dict[str, Any], list[Finding]]:
        facts, findings = super().evaluate(device, ssh, snmp, extra, checks)
        return facts, [dataclasses.replace(f, title=TITLE) for f in findings]


@pytest.fixture
def inv(tmp_path: Path) -> Inventory:
    generate_inventory(sites=30, seed=3).write(tmp_path / "inv")
    return load_inventory(tmp_path / "inv")


def audit(inv: Inventory, *, not_ready: set[str], ssh: dict[str, str], params: dict[str, Any] | None = None) -> str:
    """One run of the real engine into the store the CLI opens; returns its id."""
    store = open_store(load_config().store_url)
    try:
        engine = AuditEngine(
            ssh=LeakySsh(ssh),
            snmp_factory=FakeSnmp,
            analyzer=BilingualAnalyzer(not_ready=not_ready),
            credentials=Credentials([EnvSource(environ=ENV)]),
            store=store,
            settings=AuditSettings(ssh_workers=4, snmp_concurrency=4, backoff=0.001),
            observer=RecordingObserver(),
        )
        return engine.run(list(inv), ["ipv6"], params or {"inventory": "inv", "filters": {}}).run.id
    finally:
        store.close()


def hosts(inv: Inventory) -> list[str]:
    return [d.hostname for d in inv if d.ssh is not None]


@pytest.fixture
def two_runs(inv: Inventory) -> tuple[str, str, list[str]]:
    """Run 1: h0, h1 not IPv6-ready, h2 unreachable. Run 2: h1 fixed, h3 regressed, h4 password leak."""
    h = hosts(inv)
    first = audit(inv, not_ready={h[0], h[1]}, ssh={h[2]: "unreachable"})
    second = audit(inv, not_ready={h[0], h[3]}, ssh={h[2]: "unreachable", h[4]: "leak"})
    return first, second, h


def section(text: str, title: str) -> str:
    """The Markdown of one ``## title`` section."""
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"no section {title!r}"
    return m.group(1)


def rows(text: str) -> list[list[str]]:
    """The data rows of a section's Markdown table (not the header or the separator)."""
    lines = [x for x in text.splitlines() if x.startswith("| ")][1:]
    return [[c.strip() for c in x.strip("|").split("|")] for x in lines if not x.startswith("| ---")]


def row(text: str, first: str) -> list[str]:
    return next(r for r in rows(text) if r[0] == first)


def test_latest_run_in_english_markdown(cli, inv, two_runs) -> None:  # type: ignore[no-untyped-def]
    first, second, h = two_runs
    r = cli("report", "audit")
    assert r.code == 3, r.err  # findings and a failed device, like `net audit`
    en = LABELS["en"]
    out = r.out
    assert out.startswith(f"# {en['title']}\n")
    assert f"Audit run {second} (finished)" in out
    assert f"{len(inv)} devices; checks: IPv6 readiness." in out
    # the previous run of the same selection is the baseline: h1 fixed, h3 regressed, h4 failed
    assert f"Compared with run {first}" in out and "2 regression(s), 1 fix(es)" in out
    ready = len(inv) - 2 - 2  # two not ready, two not audited (no IPv6 verdict)
    assessed = len(inv) - 2
    readiness = section(out, en["summary"])
    assert f"{100 * ready / assessed:.1f}% ({ready} of {assessed} assessed" in readiness
    assert f"**{en['fig.change']}**: " in readiness
    changes = section(out, en["changes"])
    assert row(changes, "ipv6.forwarding") == ["ipv6.forwarding", "1", "1"]
    assert row(changes, "device status") == ["device status", "1", "0"]
    severity = section(out, en["severity"])
    assert row(severity, "high") == ["high", "2", "2"]
    rules = section(out, en["rules"])
    assert row(rules, "ipv6.forwarding")[:4] == ["ipv6.forwarding", TITLE["en"], "high", "2"]
    missing = section(out, en["not_audited"])
    assert h[2] in missing and "unreachable" in missing
    assert h[4] in missing and "authentication failed" in missing
    county = section(out, en["by_county"])
    counted = rows(county)
    assert sum(int(c[1]) for c in counted) == len(inv)
    assert sum(int(c[3]) for c in counted) == 2
    level = section(out, en["by_level"])
    assert "city" in level and "village" in level


def test_chinese_html_to_a_file_compared_with_a_chosen_run(cli, inv, two_runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first, second, _ = two_runs
    out = tmp_path / "audit.html"
    r = cli("--lang", "zh", "report", "audit", first, "--format", "html", "--out", str(out), "--compare", second)
    assert r.code == 3, r.err
    assert r.out == ""
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in page and page.rstrip().endswith("</html>")
    zh = LABELS["zh"]
    assert f"<h1>{zh['title']}</h1>" in page
    assert f"<td>{TITLE['zh']}</td>" in page and TITLE["en"] not in page
    assert f"审计批次 {first}(已完成)" in page and f"与批次 {second}" in page
    # comparing the earlier run with the later one turns the fix into a regression and vice versa
    assert "2 项修复" in html.unescape(page)
    assert "不可达" in page and "村级" in page


def test_no_secret_in_any_format_or_language(cli, inv, two_runs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import govops.credentials as creds

    # a new process knows no secret: only what the store kept redacted may be shown
    monkeypatch.setattr(creds, "_KNOWN", creds._Known())
    for lang in ("en", "zh"):
        for fmt in ("md", "html"):
            r = cli("--lang", lang, "report", "audit", "--format", fmt)
            assert r.code == 3
            assert SECRET not in r.out + r.err
            assert "******" in r.out  # the leaked password's place, so the reason is still there
            assert "output of" not in r.out  # no raw command output


def test_clean_run_exits_0_and_says_so(cli, inv) -> None:  # type: ignore[no-untyped-def]
    run = audit(inv, not_ready=set(), ssh={})
    r = cli("report", "audit", run)
    assert r.code == 0, r.err
    en = LABELS["en"]
    assert en["not_audited.none"] in r.out and en["rules.none"] in r.out and en["severity.none"] in r.out
    assert en["compare.none"] in r.out
    assert "100.0% (" in section(r.out, en["summary"])


def test_previous_run_must_be_of_the_same_selection(cli, inv) -> None:  # type: ignore[no-untyped-def]
    audit(inv, not_ready=set(), ssh={}, params={"inventory": "inv", "filters": {"county": "x"}})
    r = cli("report", "audit")
    assert r.code == 0 and LABELS["en"]["compare.none"] in r.out
    latest = audit(inv, not_ready=set(), ssh={})
    r = cli("report", "audit", latest)
    assert LABELS["en"]["compare.none"] in r.out


def test_unknown_run_is_one_line_exit_2(cli, inv, two_runs) -> None:  # type: ignore[no-untyped-def]
    for args in (("no-such-run",), ("--compare", "no-such-run")):
        r = cli("report", "audit", *args)
        assert r.code == 2
        assert "no-such-run" in r.err and "Traceback" not in r.err
        lines = r.err.strip().splitlines()  # the error, and where to find the run ids
        assert len(lines) == 2 and lines[0].startswith("error:") and "govops net runs" in lines[1]
        assert r.out == ""


def test_empty_store_is_exit_2_with_a_hint(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("report", "audit")
    assert r.code == 2 and "no finished audit run" in r.err and "Traceback" not in r.err


def test_store_error_is_exit_1(cli, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "store.db"
    bad.write_bytes(b"this is not a database" * 100)
    cfg = tmp_path / "govops.yaml"
    cfg.write_text(f"store:\n  url: sqlite:///{bad}\n", encoding="utf-8")
    monkeypatch.setenv("GOVOPS_CONFIG", str(cfg))
    r = cli("report", "audit")
    assert r.code == 1, r.err
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1


def test_both_languages_have_the_same_labels() -> None:
    assert set(LABELS["en"]) == set(LABELS["zh"])


def remediate(audit_run: str, outcomes: list[Outcome]) -> str:
    """A `govops net remediate` run of ``audit_run`` stored as the engine stores it (one result per
    device, its Outcome as the data)."""
    store = open_store(load_config().store_url)
    try:
        run = store.start_run(REMEDIATE_KIND, {"audit_run": audit_run, "rules": ["ipv6.forwarding"]})
        for o in outcomes:
            store.record_result(run.id, o.hostname, o.status, o.reason, o.to_dict())
        store.finish_run(run.id, "finished", summarize(outcomes))
        return run.id
    finally:
        store.close()


def outcome(host: str, status: str, reason: str | None = None, planned: bool = True) -> Outcome:
    items = [{"rule": "ipv6.forwarding", "status": "planned" if planned else "manual", "lines": ["ipv6"]}]
    return Outcome(host, "huawei_vrp", status, reason, items=items, lines_sent=1 if planned else 0)


def test_the_devices_remediated_from_the_run_are_listed(cli, inv, two_runs) -> None:  # type: ignore[no-untyped-def]
    first, second, h = two_runs
    en, zh = LABELS["en"], LABELS["zh"]
    r = cli("report", "audit", second)
    assert en["remediated"] not in r.out  # no remediation yet: no section
    rejected = "'ipv6' rejected: Error: Unrecognized command found at '^' position."
    remediate(second, [outcome(h[0], "verified"), outcome(h[3], "rolled_back", rejected)])
    later = remediate(second, [outcome(h[3], "verified"), outcome(h[5], "skipped", "nothing to send", planned=False)])
    other = remediate(first, [outcome(h[1], "verified")])
    out = cli("report", "audit", second).out
    sec = section(out, en["remediated"])
    assert "2 device(s) were remediated" in sec and "rolled back" not in sec.split("\n\n")[0]
    listed = {x[0]: x for x in rows(sec)}
    assert set(listed) == {h[0], h[3]}  # not the device of another audit's run, nor one with nothing sent
    assert listed[h[3]][3] == "verified" and listed[h[3]][5] == later  # the latest run's outcome
    assert listed[h[0]][4] == "ipv6.forwarding"
    assert h[1] in section(cli("report", "audit", first).out, en["remediated"]) and other
    zh_out = cli("--lang", "zh", "report", "audit", second).out
    assert zh["remediated"] in zh_out and "已验证" in section(zh_out, zh["remediated"])
