"""`govops report audit` on a real audit run of the faults lab (real CLI, real collectors, loopback)."""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path

import pytest
from govops.reports.audit import LABELS

from tests.integration.conftest import ExtranetLabInfo
from tests.integration.test_net_audit import govops

pytestmark = pytest.mark.integration


def test_report_of_a_real_audit_run(extranet_lab: ExtranetLabInfo, tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    audit = govops(extranet_lab, store, "-o", "json", "net", "audit")
    assert audit.code == 3, audit.err[-2000:]
    data = json.loads(audit.out)
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
            f"<tr><td>{rule}</td><td>{html.escape(zh_titles[rule])}</td>" in text and f'<td class="n">{n}</td>' in text
        )
    for doc in (md.out, text):
        for fields in extranet_lab.credentials.values():
            for value in fields.values():
                if len(value) >= 6:  # usernames like "admin" are not secrets and may be words
                    assert value not in doc
