"""`govops report audit|capacity|metrics` in every format and both languages, from runs the real audit
engine made against the fakes (the lab versions are in tests/integration)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import shutil
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from govops.config import load_config
from govops.credentials import Credentials, EnvSource
from govops.network.audit import AuditEngine, AuditSettings
from govops.network.facts import DeviceFacts
from govops.network.generate import generate_inventory
from govops.network.inventory import Device, Inventory, load_inventory
from govops.network.results import Finding, FindingEvidence
from govops.observer import RecordingObserver
from govops.reports import audit as audit_report
from govops.reports import capacity as capacity_report
from govops.reports.locale import Locale, zone
from govops.reports.render import render_bytes
from govops.store import open_store

from tests import reportcheck
from tests.fakes import FakeAnalyzer, FakeSnmp
from tests.unit.test_capacity import AT
from tests.unit.test_capacity import _report as capacity_fixture
from tests.unit.test_report_audit import ENV, SECRET, TITLE, LeakySsh

FIX = {"en": "Enable IPv6 forwarding: ipv6 unicast-routing", "zh": "开启IPv6转发(ipv6 unicast-routing)"}


class EvidenceAnalyzer(FakeAnalyzer):
    """Bilingual findings that read a command, as the real rules do (so they carry output hashes)."""

    def evaluate(
        self,
        device: Device,
        ssh: DeviceFacts | None,
        snmp: DeviceFacts | None,
        extra: dict[str, Any],
        checks: Sequence[str],
    ) -> tuple[dict[str, Any], list[Finding]]:
        facts, findings = super().evaluate(device, ssh, snmp, extra, checks)
        reads = FindingEvidence(commands=("show version",))
        out = [dataclasses.replace(f, title=TITLE, pack="ipv6", readiness=True, evidence=reads) for f in findings]
        return facts, out


@pytest.fixture
def inv(tmp_path: Path) -> Inventory:
    generate_inventory(sites=30, seed=3).write(tmp_path / "inv")
    return load_inventory(tmp_path / "inv")


def run_audit(inv: Inventory, not_ready: set[str], ssh: dict[str, str]) -> str:
    store = open_store(load_config().store_url)
    try:
        engine = AuditEngine(
            ssh=LeakySsh(ssh),
            snmp_factory=FakeSnmp,
            analyzer=EvidenceAnalyzer(not_ready=not_ready),
            credentials=Credentials([EnvSource(environ=ENV)]),
            store=store,
            settings=AuditSettings(ssh_workers=4, snmp_concurrency=4, backoff=0.001),
            observer=RecordingObserver(),
        )
        params = {"inventory": str(inv.root), "filters": {}, "checks": ["ipv6"]}
        return engine.run(list(inv), ["ipv6"], params).run.id
    finally:
        store.close()


@pytest.fixture
def runs(inv: Inventory) -> tuple[str, str, list[str]]:
    h = [d.hostname for d in inv if d.ssh is not None]
    first = run_audit(inv, {h[0], h[1]}, {h[2]: "unreachable"})
    second = run_audit(inv, {h[0], h[3]}, {h[2]: "unreachable", h[4]: "leak"})
    return first, second, h


def data_of(inv: Inventory) -> audit_report.AuditReportData:
    store = open_store(load_config().store_url)
    try:
        data = audit_report.load(store)
    finally:
        store.close()
    data.site_names = audit_report.site_names_of(inv)
    data.fixes = {"ipv6.forwarding": FIX}
    return data


def test_every_format_in_both_languages(cli, inv, runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The CLI writes every format; each holds the run's figures, the counties' names and no secret."""
    import govops.credentials as creds

    _, _, h = runs
    county = next(inv.sites[d.county].name for d in inv if d.county)  # a county's name from sites.yaml
    creds._KNOWN = creds._Known()  # a new process knows no secret: only the store's redacted copy is shown
    for lang in ("zh", "en"):
        for fmt in ("html", "pdf", "xlsx", "md"):
            out = tmp_path / f"audit-{lang}.{fmt}"
            r = cli("--lang", lang, "report", "audit", "--format", fmt, "--out", str(out))
            assert r.code == 3, r.err  # findings and a device not audited, like `net audit`
            data = out.read_bytes()
            if fmt == "pdf":
                text = reportcheck.pdf_text(data, tmp_path)
                assert data.startswith(b"%PDF")
            elif fmt == "xlsx":
                text = reportcheck.xlsx_text(data)
            else:
                text = data.decode()
            assert SECRET not in text and "output of" not in text  # no credential, no raw output
            assert county in text, (lang, fmt)
            assert h[3] in text  # the regressed device is in the worklist / summary
            if fmt == "html":
                reportcheck.self_contained(text)
                assert text.count("<svg") >= 3  # charts, inline
            if lang == "zh" and fmt in ("html", "md"):
                assert "ipv6.forwarding" in text and TITLE["zh"] in text and TITLE["en"] not in text


def test_chinese_document_has_no_english_prose(inv, runs) -> None:  # type: ignore[no-untyped-def]
    page = render_bytes(audit_report.build(data_of(inv), "zh", loc=Locale("zh", zone("Asia/Shanghai"))), "html")
    text = page.decode()
    assert reportcheck.english_words(text) == set()
    cap = capacity_report.build(capacity_fixture(), "zh", now=AT)  # type: ignore[arg-type]
    assert reportcheck.english_words(render_bytes(cap, "html").decode()) == set()
    assert reportcheck.chart_words(cap) == set()
    assert reportcheck.chart_words(audit_report.build(data_of(inv), "zh")) == set()
    # the check itself finds English: the same report in English is full of it
    assert len(reportcheck.english_words(render_bytes(audit_report.build(data_of(inv), "en"), "html").decode())) > 20


def test_executive_summary_worklist_and_evidence(inv, runs) -> None:  # type: ignore[no-untyped-def]
    _, _, h = runs
    data = data_of(inv)
    doc = audit_report.build(data, "en", loc=Locale("en", zone("Asia/Shanghai")))
    lab = audit_report.Labels("en")
    sections = {s.title: s for s in doc.sections}
    summary = sections[lab("summary")]
    figures = dict(summary.figures)
    assessed = len(inv) - 2  # h2 unreachable, h4 refused: no verdict
    ready = assessed - 2
    assert figures[lab("fig.index")] == f"{100 * ready / assessed:.1f}%"
    assert figures[lab("fig.not_audited")] == "2"
    # fixing ipv6.forwarding makes both non-ready devices ready: +2/assessed points
    assert any(f"+{100 * 2 / assessed:.1f} pp" in b and "ipv6.forwarding" in b for b in summary.bullets)
    assert any(b.startswith(f"{h[3]}: ") for b in summary.bullets)  # the regression since the previous run
    work = sections[lab("worklist")].table
    assert work is not None
    assert {r[2] for r in work.rows} == {h[0], h[3]}
    assert all(r[6] == FIX["en"] for r in work.rows) and all(r[0] != inv.device(h[0]).county for r in work.rows)
    evidence = sections[lab("evidence")].table
    assert evidence is not None
    expect = hashlib.sha256(f"{h[0]} output of show version".encode()).hexdigest()[:16]
    row = next(r for r in evidence.rows if r[0] == h[0])
    assert row[1] == "show version" and row[3] == expect and row[4] == "ipv6.forwarding"
    assert str(row[2]).startswith(str(data.current.run.started_at[:4]))  # local time of collection


def test_xlsx_numbers_frozen_headers_and_filter(inv, runs) -> None:  # type: ignore[no-untyped-def]
    from openpyxl import load_workbook

    data = data_of(inv)
    raw = render_bytes(audit_report.build(data, "zh"), "xlsx")
    wb = load_workbook(io.BytesIO(raw))
    lab = audit_report.Labels("zh")
    assert lab("sheet.worklist") in wb.sheetnames and lab("sheet.evidence") in wb.sheetnames
    ws = wb[lab("sheet.county")]
    assert ws.freeze_panes == "A6" and ws.auto_filter.ref and ws.auto_filter.ref.startswith("A5:")
    assert data.current.run.id in str(ws["A3"].value)  # the source run, on every sheet
    head, rows = reportcheck.sheet_rows(raw, lab("sheet.county"))
    assert head[1] == lab("col.devices")
    assert sum(r[1] for r in rows) == len(inv)  # type: ignore[misc]
    assert all(isinstance(r[1], int) for r in rows) and ws.cell(6, 2).number_format == "#,##0"
    assert ws.column_dimensions["A"].width >= 8


def test_pdf_has_cjk_font_and_page_numbers(inv, runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from govops.reports.fonts import cjk_font

    if cjk_font() is None or shutil.which("pdffonts") is None:
        pytest.skip("no CJK font or poppler-utils")
    raw = render_bytes(audit_report.build(data_of(inv), "zh"), "pdf")
    fonts = reportcheck.pdf_fonts(raw, tmp_path)
    assert "CJK" in fonts  # the Chinese text is set in a CJK font, embedded
    text = reportcheck.pdf_text(raw, tmp_path)
    assert "第1页/共" in text.replace(" ", "") and audit_report.LABELS["zh"]["title"] in text


def test_pdf_names_the_cjk_font_it_used_instead_of_the_preferred_one(monkeypatch, inv, runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from govops.reports import fonts

    serif = fonts.FALLBACKS[1]  # Noto Serif CJK SC: fonts-noto-cjk has it next to the Sans one
    if fonts.cjk_font() is None or shutil.which("pdffonts") is None:
        pytest.skip("no CJK font or poppler-utils")
    from matplotlib import font_manager

    path = next((f.fname for f in font_manager.fontManager.ttflist if f.name == serif), None)
    if path is None:
        pytest.skip(f"{serif} is not installed")
    monkeypatch.setattr(fonts, "cjk_font", lambda: fonts.CjkFont(serif, path))
    raw = render_bytes(audit_report.build(data_of(inv), "zh"), "pdf")
    text = re.sub(r"\s+", "", reportcheck.pdf_text(raw, tmp_path))
    assert f"中文字体:{serif}(未安装{fonts.PREFERRED})".replace(" ", "") in text
    assert "Serif" in reportcheck.pdf_fonts(raw, tmp_path)


def test_pdf_without_a_cjk_font_is_refused(monkeypatch, inv, runs) -> None:  # type: ignore[no-untyped-def]
    from govops.reports import fonts

    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    with pytest.raises(fonts.MissingFontError, match="empty boxes"):
        render_bytes(audit_report.build(data_of(inv), "zh"), "pdf")


def test_binary_formats_need_out(cli, inv, runs) -> None:  # type: ignore[no-untyped-def]
    for fmt in ("pdf", "xlsx"):
        r = cli("report", "audit", "--format", fmt)
        assert r.code == 2 and "--out" in r.err
        r = cli("--lang", "zh", "report", "audit", "--format", fmt)
        assert r.code == 2 and "请用 --out FILE 指定文件" in r.err and "Traceback" not in r.err


def test_format_from_the_file_name(cli, inv, runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`--out 审计报告.pdf` writes a PDF; a name that contradicts --format is refused before any work."""
    out = tmp_path / "审计报告.pdf"
    r = cli("--lang", "zh", "report", "audit", "--out", str(out))
    assert r.code == 3 and out.read_bytes().startswith(b"%PDF") and "已写入" in r.err
    out = tmp_path / "audit.XLSX"
    assert cli("report", "audit", "--out", str(out)).code == 3 and out.read_bytes().startswith(b"PK")
    other = tmp_path / "audit.txt"
    assert cli("report", "audit", "--out", str(other)).code == 3 and other.read_text().startswith("# ")
    r = cli("report", "audit", "-f", "html", "--out", str(tmp_path / "audit.pdf"))
    assert r.code == 2 and "--format is html" in r.err and not (tmp_path / "audit.pdf").exists()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_errors_are_one_line_in_the_language(cli, inv, runs, monkeypatch, tmp_path: Path, lang: str) -> None:  # type: ignore[no-untyped-def]
    """Unknown run, unwritable file, missing package, missing system library, missing CJK font: one
    line in the chosen language, its hint, the documented exit code, no traceback."""
    from govops.reports import fonts, render

    zh = lang == "zh"

    def check(r: Any, code: int, *words: str) -> None:
        assert r.code == code, (r.code, r.err)
        assert "Traceback" not in r.err and all(w in r.err for w in words), r.err

    check(cli("--lang", lang, "report", "audit", "nosuchrun"), 2, "nosuchrun", "govops net runs")
    missing = tmp_path / "no" / "such" / "dir" / "a.html"
    check(cli("--lang", lang, "report", "audit", "--out", str(missing)), 2, str(missing))

    real = render._import

    def without(module: str, error: Exception) -> None:
        def fake(name: str) -> None:
            if name == module:
                raise error
            real(name)

        monkeypatch.setattr(render, "_import", fake)

    without("openpyxl", ModuleNotFoundError("No module named 'openpyxl'", name="openpyxl"))
    out = tmp_path / "a.xlsx"
    check(cli("--lang", lang, "report", "audit", "--out", str(out)), 1, "openpyxl", "govops[reports]")
    assert not out.exists()
    without("weasyprint", OSError("cannot load library 'libpango-1.0-0': libpango-1.0-0: cannot open shared object"))
    check(cli("--lang", lang, "report", "audit", "--out", str(tmp_path / "a.pdf")), 1, "libpango-1.0-0", "apt-get")
    assert ("系统库" in cli("--lang", lang, "report", "audit", "-f", "pdf", "--out", "x.pdf").err) == zh
    monkeypatch.setattr(render, "_import", real)
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    r = cli("--lang", lang, "report", "audit", "--out", str(tmp_path / "b.html"))
    check(r, 1, "fonts-noto-cjk", "空白方框" if zh else "empty boxes")
    assert not (tmp_path / "b.html").exists()


def test_times_in_the_configured_zone(cli, inv, runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "govops.yaml"
    cfg.write_text("version: 1\nreport:\n  timezone: Asia/Shanghai\n")
    r = cli("--config", str(cfg), "report", "audit")
    assert "(UTC+08:00)" in r.out
    cfg.write_text("version: 1\nreport:\n  timezone: Mars/Olympus\n")
    r = cli("--config", str(cfg), "report", "audit")
    assert r.code == 2 and "Mars/Olympus" in r.err


def test_locale_formats() -> None:
    t = datetime(2026, 12, 7, tzinfo=UTC).timestamp()
    zh = Locale("zh", zone("Asia/Shanghai"))
    assert zh.when(t) == "2026年12月7日 08:00（UTC+08:00）" and zh.iso_date("2026-12-22") == "2026年12月22日"
    en = Locale("en", zone("UTC"))
    assert en.when(t) == "7 Dec 2026, 00:00 (UTC+00:00)" and en.num(1234.5, 1) == "1,234.5"
    assert en.num(-0.01, 1) == "0.0" and en.num(2.0, 1, sign=True) == "+2.0"


def test_metrics_file(cli, inv, runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "govops.prom"
    r = cli("report", "metrics", "--out", str(out))
    assert r.code == 0, r.err
    text = out.read_text()
    assessed = len(inv) - 2
    assert f'govops_ipv6_readiness_ratio{{scope="city"}} {round((assessed - 2) / assessed, 4)}' in text
    assert 'govops_audit_failed_checks{severity="high"} 2' in text
    county = next(d.county for d in inv if d.county)
    assert f'county="{county}",name="{inv.sites[county].name}"' in text
    if shutil.which("promtool"):
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_capacity_metrics_and_optional_planning_figures(tmp_path: Path) -> None:
    from govops.reports.metrics import capacity_metrics

    report = capacity_fixture()
    text = capacity_metrics(report)
    assert 'govops_capacity_flag{department="gaj",flag="near_quota"} 1' in text
    assert 'govops_capacity_time_to_quota_seconds{department="gaj",resource="storage"} 1728000' in text
    if shutil.which("promtool"):
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    lab = capacity_report.Labels("en")
    plain = capacity_report.build(report, "en", now=AT)  # type: ignore[arg-type]
    titles = [s.title for s in plain.sections]
    assert lab("rightsize") not in titles and lab("pop") not in titles
    assert not any(k.startswith(lab("fig.full", res="")[:10]) for k, _ in plain.sections[0].figures)
    # the capacity planning's figures, when the report has them
    from govops.capacity.cloudfull import CloudFull
    from govops.capacity.rightsize import RightsizeItem, RightsizeOptions, RightsizeReport

    full = CloudFull(
        resource="cpu",
        unit="vCPU",
        capacity=400.0,
        allocated=340.0,
        growth_per_day=0.5,
        days_to_full=120.0,
        full_date="2027-04-06",
        days_to_full_conservative=90.0,
        days_to_full_aggressive=180.0,
        full_date_conservative="2027-03-01",
        full_date_aggressive="2027-06-01",
        forecast="ok",
        history_days=30,
    )
    item = RightsizeItem(
        kind="idle",
        id="x",
        name="vm-idle-1",
        department="gaj",
        project="dept-gaj",
        host=None,
        status="ACTIVE",
        flavor="m1.large",
        vcpus=4,
        ram_mb=8192,
        cpu_p95_cores=0.05,
        mem_p95_gib=1.0,
        suggested_flavor=None,
        frees_cores=4,
        frees_ram_mb=8192,
    )
    history = {"cpu": tuple((AT - 86400 * (10 - i), 100.0 + i) for i in range(10))}
    extended = dataclasses.replace(
        report,  # type: ignore[type-var]
        cloud_full={"cpu": full},
        rightsize=RightsizeReport(AT, RightsizeOptions(at=AT), (item,), vms_seen=1),
        allocation_history=history,
    )
    extras = capacity_report.CapacityExtras(AT - 30 * 86400, {"gaj": {"allocated": {"cpu": 2.0}, "used_mean": {}}})
    doc = capacity_report.build(extended, "en", now=AT, extras=extras)  # type: ignore[arg-type]
    by_title = {s.title: s for s in doc.sections}
    figures = dict(doc.sections[0].figures)
    assert figures[lab("fig.full", res=lab("res.cpu"))] == "120 (6 Apr 2027)"
    assert figures[lab("fig.reclaim_cpu")] == "4" and figures[lab("fig.reclaim_vms")] == "1"
    rightsize = by_title[lab("rightsize")].table
    assert rightsize is not None and rightsize.rows[0][1] == "vm-idle-1"
    # one place for the rightsizing: its per-department totals, the VMs one by one right under them
    from govops.reports.capacity_planning import Labels as PlanningLabels

    titles = [s.title for s in doc.sections]
    totals = titles.index(PlanningLabels("en")("rightsize"))
    assert titles[totals + 1] == lab("rightsize")
    assert titles.count(lab("rightsize")) == 1 and titles.count(PlanningLabels("en")("rightsize")) == 1
    assert by_title[lab("rightsize")].sheet == lab("sheet.rightsize")
    pop = by_title[lab("pop")].table
    assert pop is not None and pop.rows[0][:3] == ["Public Security Bureau", lab("res.cpu"), 2]
    assert any(c.kind == "lines" for c in doc.sections[0].charts)  # allocation history with its forecast
    page = render_bytes(doc, "html").decode()
    assert page.count("<svg") >= 4
    # the same in Chinese: no English on the charts either (axes, legends, categories)
    zh = capacity_report.build(extended, "zh", now=AT, extras=extras)  # type: ignore[arg-type]
    assert any(c.kind == "lines" for c in zh.sections[0].charts) and reportcheck.chart_words(zh) == set()
    assert reportcheck.chart_words(doc)  # the check sees English
