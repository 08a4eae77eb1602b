"""``govops net runs|diff|readiness`` through ``main``, on audit runs written to the results store."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from govops.network.audit import RUN_KIND, DeviceResult
from govops.network.generate import generate_inventory
from govops.network.inventory import Inventory, load_inventory
from govops.network.results import Finding


def _result(inv: Inventory, hostname: str, *, ready: bool, ssh_rule: str = "pass") -> DeviceResult:
    d = inv.device(hostname)
    return DeviceResult(
        hostname=d.hostname,
        site=d.site.code,
        county=d.county,
        level=d.level,
        platform=d.platform,
        status="ok",
        reason=None,
        findings=(
            Finding.from_dict({"rule": "ipv6.mgmt", "status": "pass" if ready else "fail", "severity": "high"}),
            Finding.from_dict({"rule": "baseline.ssh-v2", "status": ssh_rule, "severity": "critical"}),
        ),
        ipv6_ready=ready,
    )


@pytest.fixture
def audits(tmp_path: Path) -> tuple[Inventory, list[str]]:
    """Two finished audit runs of four county devices: the second fixes IPv6 on one device and
    breaks SSH on another."""
    from govops.cli.application import Application

    root = tmp_path / "inv"
    generate_inventory(sites=40, seed=3).write(root)
    inv = load_inventory(root)
    hosts = [d.hostname for d in inv if d.county][:4]
    app = Application()
    store = app.store
    ids = []
    for ready_first, broken in ((False, None), (True, hosts[1])):
        run = store.start_run(RUN_KIND, {"inventory": str(root), "filters": {}})
        for i, h in enumerate(hosts):
            r = _result(
                inv, h, ready=(i % 2 == 0) or (ready_first and i == 1), ssh_rule="fail" if h == broken else "pass"
            )
            store.record_result(run.id, h, r.status, None, r.to_dict())
        store.finish_run(
            run.id, "finished", {"devices": len(hosts), "status": {"ok": len(hosts)}, "ipv6_ready_pct": 50.0}
        )
        ids.append(run.id)
    app.close()
    return inv, ids


def _fits(text: str, width: int = 80) -> None:
    for line in text.splitlines():
        assert len(line) <= width, line


def test_runs_lists_whole_ids_in_80_columns(
    cli: Any, audits: tuple[Inventory, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ids = audits
    monkeypatch.setenv("COLUMNS", "80")
    r = cli("net", "runs")
    assert r.code == 0, r.err
    _fits(r.out)
    found = re.findall(r"\d{8}T\d{6}-[0-9a-f]{6}", r.out)
    assert sorted(found) == sorted(ids)  # each ID whole, on one line
    r = cli("net", "runs", "-o", "json")
    assert sorted(x["id"] for x in __import__("json").loads(r.out)) == sorted(ids)


def test_diff_reports_regressions_and_fixes(cli: Any, audits: tuple[Inventory, list[str]]) -> None:
    inv, (first, second) = audits
    r = cli("net", "diff", first, second, "-o", "json")
    assert r.code == 3, r.err  # a regression
    changes = {(c["hostname"], c["rule"], c["change"]) for c in __import__("json").loads(r.out)}
    hosts = [d.hostname for d in inv if d.county][:4]
    assert changes == {(hosts[1], "ipv6.mgmt", "fix"), (hosts[1], "baseline.ssh-v2", "regression")}
    r = cli("net", "diff", second, second)
    assert r.code == 0 and "0 regression(s), 0 fix(es)" in r.out


def test_diff_refuses_unknown_and_non_audit_runs(cli: Any, audits: tuple[Inventory, list[str]]) -> None:
    from govops.cli.application import Application

    _, (first, _second) = audits
    r = cli("net", "diff", first, "20200101T000000-000000")
    assert r.code == 2 and "Traceback" not in r.err
    app = Application()
    other = app.store.start_run("cloud.vm.create", {}).id
    app.close()
    r = cli("net", "diff", first, other)
    assert r.code == 2 and "not an audit" in r.err


def test_readiness_by_county_shows_names_and_trend(
    cli: Any, audits: tuple[Inventory, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    inv, _ids = audits
    monkeypatch.setenv("COLUMNS", "80")
    r = cli("net", "readiness", "--by", "county")
    assert r.code == 0, r.err
    _fits(r.out)
    counties = {d.county for d in list(inv)[:0]} | {d.county for d in inv if d.county}
    names = {inv.sites[c].name for c in counties if c}
    assert any(n in r.out for n in names), r.out  # names, not codes
    r = cli("net", "readiness", "--by", "county", "-o", "json")
    rows = __import__("json").loads(r.out)
    assert all(row["group"] in counties for row in rows)  # machines keep the codes
    assert cli("net", "readiness", "--by", "planet").code == 2


def test_readiness_without_runs_is_bad_input(cli: Any) -> None:
    r = cli("net", "readiness")
    assert r.code == 2 and "govops net audit" in r.err


def test_csv_keeps_the_values_the_table_translates(cli: Any, audits: tuple[Inventory, list[str]]) -> None:
    _, (first, second) = audits
    r = cli("--lang", "zh", "net", "runs", "-o", "csv")
    assert ",finished," in r.out and "已完成" not in r.out
    r = cli("--lang", "zh", "net", "diff", first, second, "-o", "csv")
    assert "regression" in r.out and "退化" not in r.out
    r = cli("--lang", "zh", "net", "readiness", "-o", "csv")
    assert "江" not in r.out  # county codes, not names
