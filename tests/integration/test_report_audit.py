"""`govops report audit` on a real audit run of the faults lab (real CLI, real collectors, loopback)."""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from govops.reports.audit import LABELS

from tests.integration.conftest import ExtranetLabInfo
from tests.integration.test_net_audit import govops

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def audited(extranet_lab: ExtranetLabInfo, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One real audit of the faults lab (its store and `-o json`), shared by this module's tests."""
    store = tmp_path_factory.mktemp("report-audit") / "store.db"
    audit = govops(extranet_lab, store, "-o", "json", "net", "audit")
    assert audit.code == 3, audit.err[-2000:]
    return store, json.loads(audit.out)


def test_report_of_a_real_audit_run(extranet_lab: ExtranetLabInfo, audited: tuple[Path, dict[str, Any]]) -> None:
    store, data = audited
    tmp_path = store.parent
    summary = data["summary"]
    failing = Counter(f["rule"] for d in data["devices"] for f in d["findings"] if f["status"] == "fail")
    zh_titles = {f["rule"]: f["title"]["zh"] for d in data["devices"] for f in d["findings"] if f["status"] == "fail"}

    md = govops(extranet_lab, store, "report", "audit")
    assert md.code == 3, md.err
    assert "Traceback" not in md.err
    en = LABELS["en"]
    assert f"{summary['devices']} devices" in md.out
    pct = summary["ipv6_ready_pct"]
    assert f"{pct:.1f}% ({summary['ipv6_ready']} of {summary['ipv6_assessed']}" in md.out
    missing = md.out.split(f"## {en['not_audited']}")[1].split("\n## ")[0]
    for status in ("unreachable", "auth_failed", "timeout"):
        hosts = extranet_lab.devices(expected_status=status)
        assert hosts, status  # the faults lab has each kind
        for host in hosts:
            line = next(x for x in missing.splitlines() if x.startswith(f"| {host} |"))
            assert en[f"st.{status}"] in line
    ok_hosts = extranet_lab.devices(expected_status="ok")
    assert not any(x.startswith(f"| {h} |") for h in ok_hosts for x in missing.splitlines())

    out = tmp_path / "audit.html"
    page = govops(extranet_lab, store, "--lang", "zh", "report", "audit", "-f", "html", "--out", str(out))
    assert page.code == 3, page.err
    text = out.read_text(encoding="utf-8")
    assert f"<h1>{LABELS['zh']['title']}</h1>" in text
    # the real rule files' titles, in Chinese (the lab has failing rules; the top ten are listed)
    top = sorted(failing.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert top
    for rule, n in top:
        assert (
            f'<tr><td class="c">{rule}</td><td>{html.escape(zh_titles[rule])}</td>' in text
            and f'<td class="n">{n}</td>' in text
        )
    for doc in (md.out, text):
        for fields in extranet_lab.credentials.values():
            for value in fields.values():
                if len(value) >= 6:  # usernames like "admin" are not secrets and may be words
                    assert value not in doc


def test_every_format_of_a_real_audit_run(
    extranet_lab: ExtranetLabInfo, audited: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """HTML, PDF, XLSX and Markdown in both languages from an audit of the faults lab: the figures
    are the audit's own (``-o json``), counties carry their names, nothing secret is written."""
    from govops.network.inventory import load_inventory
    from govops.reports.render import FRAME

    from tests import reportcheck

    store, data = audited
    summary = data["summary"]
    sites = load_inventory(extranet_lab.inventory).sites
    counties = {d["county"] for d in data["devices"] if d["county"]}
    names = {sites[c].name for c in counties}
    failing = [(d["hostname"], f["rule"]) for d in data["devices"] for f in d["findings"] if f["status"] == "fail"]
    secrets = [v for fields in extranet_lab.credentials.values() for v in fields.values() if len(v) >= 6]
    lab = {lang: LABELS[lang] for lang in ("en", "zh")}
    for lang in ("zh", "en"):
        files = {}
        for fmt in ("html", "pdf", "xlsx", "md"):
            out = tmp_path / f"audit-{lang}.{fmt}"
            r = govops(extranet_lab, store, "--lang", lang, "report", "audit", "-f", fmt, "--out", str(out))
            assert r.code == 3, r.err
            files[fmt] = out.read_bytes()
        page = files["html"].decode()
        reportcheck.self_contained(page)
        assert page.count("<section") >= 8 and page.count("<svg") >= 3
        pdf = reportcheck.pdf_text(files["pdf"], tmp_path)
        sheets = reportcheck.xlsx_text(files["xlsx"])
        for text in (page, pdf, sheets, files["md"].decode()):
            assert not [s for s in secrets if s in text]
            assert all(name in text for name in names), lang  # 江北区, not jb
        # the key figures in the PDF equal the audit's
        flat = pdf.replace(" ", "")
        assert f"{summary['ipv6_ready_pct']:.1f}%" in flat
        audited = summary["status"].get("ok", 0)
        assert f"{audited}/{summary['devices']}" in flat
        assert FRAME[lang]["page"].strip() in pdf
        if lang == "zh":
            assert reportcheck.english_words(page) == set()
            fonts = reportcheck.pdf_fonts(files["pdf"], tmp_path)
            assert "CJK" in fonts
        # the spreadsheet's numbers equal the audit's, per county; the worklist has every failing check
        _, rows = reportcheck.sheet_rows(files["xlsx"], lab[lang]["sheet.county"])
        by_name = {r[0]: r for r in rows}
        for code in counties:
            devs = [d for d in data["devices"] if d["county"] == code]
            row = by_name[sites[code].name]
            assert row[1] == len(devs) and row[2] == sum(d["status"] == "ok" for d in devs)
            assert row[4] == sum(1 for d in devs if d["ipv6_ready"] is True)
        _, rows = reportcheck.sheet_rows(files["xlsx"], lab[lang]["sheet.worklist"])
        assert sorted((r[2], r[3]) for r in rows) == sorted(failing)
        _, rows = reportcheck.sheet_rows(files["xlsx"], lab[lang]["sheet.evidence"])
        hashes = {
            (d["hostname"], o["command"]): o["sha256"]
            for d in data["devices"]
            for f in d["findings"]
            if f["status"] == "fail"
            for o in f["evidence"].get("outputs", [])
        }
        assert {(r[0], r[1]): r[3] for r in rows} == hashes
    # the PDF's pages as images (what `make previews` commits for the first page), and the page in a browser
    assert len(reportcheck.pdf_pages(tmp_path / "audit-zh.pdf", tmp_path)) >= 3
    shot = reportcheck.screenshot(tmp_path / "audit-zh.html", tmp_path)
    prom = tmp_path / "govops.prom"
    r = govops(extranet_lab, store, "report", "metrics", "--out", str(prom))
    assert r.code == 0, r.err
    text = prom.read_text()
    ratio = round(summary["ipv6_ready"] / summary["ipv6_assessed"], 4)
    assert f'govops_ipv6_readiness_ratio{{scope="city"}} {ratio}' in text
    if shutil.which("promtool"):
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    if shot is None:
        pytest.skip("every check passed but the screenshot: chromium is not installed (make deps installs it)")
