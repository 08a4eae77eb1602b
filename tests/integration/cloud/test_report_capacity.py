"""`govops report capacity` in every format and both languages from the lab cloud (real Nova and
Cinder quotas, the lab's Prometheus): the figures are those of `govops capacity show -o json`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from govops.errors import ExitCode
from govops.reports.capacity import LABELS

from tests import reportcheck
from tests.conftest import REPO
from tests.integration.cloud.conftest import CloudLabInfo

pytestmark = pytest.mark.integration


def _secrets(clouds_file: Path) -> list[str]:
    doc = yaml.safe_load(clouds_file.read_text())
    out = []
    for cloud in doc.get("clouds", {}).values():
        auth = cloud.get("auth", {})
        out += [str(v) for k, v in auth.items() if k in ("password", "application_credential_secret") and v]
    return [s for s in out if len(s) >= 6]


def test_every_format_from_the_lab_cloud(cli, cloud_lab: CloudLabInfo, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for k, v in cloud_lab.env().items():
        monkeypatch.setenv(k, v)
    end = str(cloud_lab.truth["prometheus"]["window"]["end"])
    r = cli("capacity", "show", "--at", end, "-o", "json")
    assert r.code == ExitCode.FINDINGS, r.err
    doc = json.loads(r.out)
    depts = {d["code"]: d for d in doc["departments"]}
    near = cloud_lab.truth["cloud"]["near_quota"]
    secrets = _secrets(Path(cloud_lab.clouds_file))
    departments = yaml.safe_load((REPO / "inventories" / "departments.yaml").read_text())
    assert departments and secrets
    for lang in ("zh", "en"):
        files = {}
        for fmt in ("html", "pdf", "xlsx", "md"):
            out = tmp_path / f"capacity-{lang}.{fmt}"
            r = cli("--lang", lang, "report", "capacity", "--at", end, "-f", fmt, "--out", str(out))
            assert r.code == ExitCode.FINDINGS, r.err
            files[fmt] = out.read_bytes()
        page = files["html"].decode()
        reportcheck.self_contained(page)
        assert page.count("<svg") >= 4  # headroom per AZ, quota / allocated / used for CPU, RAM, volumes
        pdf = reportcheck.pdf_text(files["pdf"], tmp_path)
        sheets = reportcheck.xlsx_text(files["xlsx"])
        name = depts[near][f"name_{lang}"]
        for text in (page, pdf, sheets, files["md"].decode()):
            assert not [s for s in secrets if s in text]
            assert name in text  # the department reaching its quota, by name
        if lang == "zh":
            assert reportcheck.english_words(page) == set()
            assert "CJK" in reportcheck.pdf_fonts(files["pdf"], tmp_path)
        # the city's allocated vCPU in the PDF's key figures equals the JSON's
        flat = re.sub(r"\s+", "", pdf)
        assert f"{doc['city']['cpu']['allocated']:,.0f}" in flat
        # every department's quota and allocation in the spreadsheet equal the JSON's
        _, rows = reportcheck.sheet_rows(files["xlsx"], LABELS[lang]["sheet.departments"])
        res = {LABELS[lang][f"res.{k}"]: k for k in ("cpu", "ram", "storage", "instances")}
        seen = 0
        for row in rows:
            d = depts[str(row[1])]["resources"][res[str(row[2])]]
            if isinstance(row[3], int | float) and d["quota"] is not None:
                assert row[3] == round(d["quota"]), row
            if d["allocated"] is not None:
                assert row[4] == round(d["allocated"]), row
                seen += 1
        assert seen >= len(depts) * 3
    # the Chinese PDF's pages as images and the page in a browser: both paint text and charts
    assert len(reportcheck.pdf_pages(tmp_path / "capacity-zh.pdf", tmp_path)) >= 2
    if reportcheck.screenshot(tmp_path / "capacity-zh.html", tmp_path) is None:
        pytest.skip("every check passed but the screenshot: chromium is not installed (make deps installs it)")
