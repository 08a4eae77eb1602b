"""Capacity against the real lab Prometheus (backfilled history, real HTTP API), checked against the
history's ground truth; and the MetricsPort contract run on the fake and on the real server alike."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from govops.capacity import service as svc
from govops.capacity.ports import BadQuery, MetricsPort, MetricsUnreachable
from govops.capacity.service import CapacityReport, CapacityService, Options
from govops.departments import load_departments
from govops.errors import ExitCode
from govops.lab.core import LabOptions

from tests.conftest import REPO
from tests.fakes_metrics import FakeHypervisor, FakeMetrics, const, linear
from tests.integration.prometheus_lab import prometheus_lab

pytestmark = pytest.mark.integration

DAYS, STEP, SERVERS, SEED = 30, 3600, 120, 11
GIB = 1024**3


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, dict[str, Any]]]:
    options = LabOptions(seed=SEED, history_days=DAYS, step_seconds=STEP, servers=SERVERS)
    with prometheus_lab(tmp_path_factory.mktemp("caplab"), options) as (lab, url, truth):
        yield lab.dir, url, truth


@pytest.fixture(scope="module")
def report(lab: tuple[Path, str, dict[str, Any]]) -> CapacityReport:
    from govops.capacity.prometheus import connect

    _, url, truth = lab
    depts = list(load_departments(REPO / "inventories" / "departments.yaml"))
    opts = Options(at=truth["window"]["end"], window=DAYS * 86400, step=STEP)
    return CapacityService(connect(url)).report(depts, opts)


def _by_code(report: CapacityReport) -> dict[str, svc.DepartmentCapacity]:
    return {d.code: d for d in report.departments}


# -- against the ground truth -------------------------------------------------------------------------


def test_usage_matches_truth(report: CapacityReport, lab: tuple[Path, str, dict[str, Any]]) -> None:
    truth = lab[2]["departments"]
    rows = _by_code(report)
    assert truth and set(truth) <= set(rows)
    for code, t in truth.items():
        res = rows[code].resources
        cpu, ram = res["cpu"].used, res["ram"].used
        assert cpu is not None and ram is not None, code
        assert cpu.mean == pytest.approx(t["cpu_mean_cores"], rel=0.01), code
        assert ram.latest * GIB == pytest.approx(t["memory_used_bytes_latest"], rel=1e-9, abs=1), code  # type: ignore[operator]
        assert ram.provisioned * GIB == pytest.approx(t["memory_available_bytes_latest"], rel=1e-9, abs=1)  # type: ignore[operator]
        assert res["storage"].allocated == t["volume_used_gb_latest"], code
        assert res["storage"].quota == t["volume_quota_gb"], code
    assert report.data_end == lab[2]["window"]["end"] and report.warnings == ()


def test_near_quota_department_and_days(report: CapacityReport, lab: tuple[Path, str, dict[str, Any]]) -> None:
    nq = lab[2]["near_quota"]
    near = [(d.resources[r].days_to_quota, d.code, r) for d in report.departments for r in d.near_quota]
    days, code, resource = min(near)
    assert (code, resource) == (nq["department"], "storage")
    assert days == pytest.approx(nq["days_to_quota"], rel=0.05)
    vol = _by_code(report)[code].resources["storage"]
    assert vol.allocation_growth_per_day == pytest.approx(nq["growth_gb_per_day"], rel=0.05)
    # days are held to 5 %, so the date may fall on the other side of a midnight close to the planted one
    assert vol.quota_date is not None and code in [d.code for d in report.findings]
    assert abs(date.fromisoformat(vol.quota_date) - date.fromisoformat(nq["quota_reached_at"][:10])) <= timedelta(
        days=1
    )
    assert vol.quota_date == datetime.fromtimestamp(report.at + days * 86400, UTC).date().isoformat()


def test_growing_departments(report: CapacityReport, lab: tuple[Path, str, dict[str, Any]]) -> None:
    # A department that shut a VM off uses less however it grew: the truth's growth is then not
    # visible in its usage, so only departments without stopped VMs are held to it.
    truth = {c: t for c, t in lab[2]["departments"].items() if not t["stopped_vms"]}
    rows = _by_code(report)
    grows = {c for c, t in truth.items() if t["growing"] and t["vms"] > t["idle_vms"]}
    assert grows, "the lab plants growing departments"
    assert {c for c in truth if rows[c].growing} == grows
    for c, t in truth.items():
        cpu = rows[c].resources["cpu"].used
        assert cpu is not None and cpu.growth_per_day == pytest.approx(t["cpu_growth_cores_per_day"], abs=0.02), c


def test_hypervisors_and_city(report: CapacityReport, lab: tuple[Path, str, dict[str, Any]]) -> None:
    hv = lab[2]["hypervisors"]
    assert {h.name for h in report.hypervisors} == set(hv)
    for h in report.hypervisors:
        assert (h.vcpus, h.vcpus_used) == (hv[h.name]["vcpus"], hv[h.name]["vcpus_used"])
        assert h.memory_gib * GIB == hv[h.name]["memory_bytes"]
        assert h.running_vms == hv[h.name]["running_vms_at_end"]
    city = report.city["cpu"].used
    assert city is not None
    assert city.mean == pytest.approx(sum(t["cpu_mean_cores"] for t in lab[2]["departments"].values()), rel=0.01)


def test_cli_end_to_end(
    cli, lab: tuple[Path, str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    lab_dir, _, truth = lab
    monkeypatch.setenv("GOVOPS_CONFIG", str(lab_dir / "govops.yaml"))
    end = str(truth["window"]["end"])
    r = cli("capacity", "show", "--at", end, "-o", "json")
    assert r.code == ExitCode.FINDINGS, r.err
    doc = json.loads(r.out)
    nq = truth["near_quota"]["department"]
    assert doc["schema"] == "govops.capacity/1" and nq in doc["findings"]
    out = tmp_path / "report.md"
    r = cli("report", "capacity", "--at", end, "--lang", "zh", "--out", str(out))
    assert r.code == ExitCode.FINDINGS, r.err
    text = out.read_text(encoding="utf-8")
    zh = load_departments(REPO / "inventories" / "departments.yaml").get(nq).name_zh
    near = text.split("## 即将达到配额的部门")[1].split("##")[0]
    row = next(line for line in near.splitlines() if f"| {zh} |" in line)  # the department by name
    reached = date.fromisoformat(truth["near_quota"]["quota_reached_at"][:10])
    # the date as zh writes it, within a day of the planted one (as in test_near_quota_department_and_days)
    dates = [reached + timedelta(days=k) for k in (-1, 0, 1)]
    assert any(f"{x.year}年{x.month}月{x.day}日" in row for x in dates), row


# -- recorded series (`govops capacity rules`, loaded and backfilled by the lab) against the raw path --


def test_recorded_series_give_the_raw_figures(report: CapacityReport, lab: tuple[Path, str, dict[str, Any]]) -> None:
    """The lab loads govops' rules and backfills them over its history: the default report reads the
    recorded series, and every figure equals the raw series' (the CPU mean, hour by hour from the
    counter instead of over the whole window at once, within 0.5 %: rate() extrapolates at VMs' first and
    last samples, an hour's increase does not)."""
    from dataclasses import replace

    from govops.capacity.prometheus import connect
    from govops.capacity.rightsize import RightsizeOptions, RightsizeService

    _, url, truth = lab
    depts = list(load_departments(REPO / "inventories" / "departments.yaml"))
    at = truth["window"]["end"]
    raw = CapacityService(connect(url)).report(depts, replace(report.options, series="raw"))
    assert (report.usage_series, raw.usage_series) == ("recorded", "raw")
    assert report.warnings == raw.warnings and report.data_end == raw.data_end
    compared = 0
    for ours, theirs in zip((*report.departments, None), (*raw.departments, None), strict=True):
        a = ours.resources if ours else report.city
        b = theirs.resources if theirs else raw.city
        for resource in svc.USED_RESOURCES:
            ua, ub = a[resource].used, b[resource].used
            assert (ua is None) == (ub is None), (ours, resource)
            if ua is None or ub is None:
                continue
            rel = 5e-3 if resource == "cpu" else 1e-9
            assert ua.mean == pytest.approx(ub.mean, rel=rel, abs=1e-9), (ours and ours.code, resource)
            for figure in ("p95", "latest", "provisioned", "growth_per_day"):
                assert getattr(ua, figure) == pytest.approx(getattr(ub, figure), rel=1e-9, abs=1e-9), figure
            compared += 1
        if ours is not None and theirs is not None:
            assert (ours.near_quota, ours.over_quota, ours.growing, ours.reclaim) == (
                theirs.near_quota,
                theirs.over_quota,
                theirs.growing,
                theirs.reclaim,
            )
    assert compared > 30
    # quotas and allocations (the forecasts' daily points), with and without the usage queries
    assert report.allocation_history == raw.allocation_history and report.allocation_history["cpu"]
    forecast = CapacityService(connect(url)).report(depts, replace(report.options, usage=False))
    assert forecast.usage_series == "recorded"
    for rows in (report.departments, forecast.departments):
        for ours, theirs in zip(rows, raw.departments, strict=True):
            for resource in svc.RESOURCES:
                a_, b_ = ours.resources[resource], theirs.resources[resource]
                assert (a_.quota, a_.allocated, a_.days_to_quota, a_.forecast) == (
                    b_.quota,
                    b_.allocated,
                    b_.days_to_quota,
                    b_.forecast,
                ), (ours.code, resource)
    # rightsizing: per VM the p95 CPU and memory and the coverage, recorded and raw
    rs = RightsizeService(connect(url), None)
    depts_all = load_departments(REPO / "inventories" / "departments.yaml")
    keys = {d.code: d.code for d in depts_all}
    opts = RightsizeOptions(at=at, window=DAYS * 86400, step=STEP)
    rec_vms = {u.uuid: u for u in rs.vm_use(keys, opts, False)}
    assert rs.choice.series == "recorded"
    raw_vms = {u.uuid: u for u in rs.vm_use(keys, replace(opts, series="raw"), False)}
    assert rs.choice.series == "raw" and set(rec_vms) == set(raw_vms) and len(raw_vms) >= SERVERS / 2
    for uuid, u in raw_vms.items():
        r = rec_vms[uuid]
        assert (r.key, r.host, r.running, r.coverage) == (u.key, u.host, u.running, u.coverage)
        assert r.cpu_p95 == pytest.approx(u.cpu_p95, rel=1e-9, abs=1e-12)
        assert r.mem_p95_gib == pytest.approx(u.mem_p95_gib, rel=1e-9, abs=1e-12)
    idle_rec = rs.rightsize(depts_all, opts)
    idle_raw = rs.rightsize(depts_all, replace(opts, series="raw"))
    assert (idle_rec.usage_series, idle_raw.usage_series) == ("recorded", "raw")
    assert [(i.id, i.kind) for i in idle_rec.items] == [(i.id, i.kind) for i in idle_raw.items]


def test_recorded_series_not_used_off_their_step_or_window(lab: tuple[Path, str, dict[str, Any]]) -> None:
    from govops.capacity.prometheus import connect

    _, url, truth = lab
    depts = list(load_departments(REPO / "inventories" / "departments.yaml"))
    at = truth["window"]["end"]
    # another step: raw series (the rules keep 1-hour steps)
    two_h = CapacityService(connect(url)).report(depts, Options(at=at, window=10 * 86400, step=7200))
    assert two_h.usage_series == "raw"
    # a window starting before the rules' first hour (and before the history): still recorded, as the
    # raw series hold nothing there either
    longer = CapacityService(connect(url)).report(depts, Options(at=at, window=(DAYS + 5) * 86400, step=STEP))
    assert longer.usage_series == "recorded"


# -- the MetricsPort contract: the same assertions on the fake and on the real Prometheus ------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["fake", "prometheus"])
def port(request: pytest.FixtureRequest) -> Iterator[tuple[MetricsPort, Any, list[str], float]]:
    """(port, a function making it unreachable, the departments with VMs running at the end of its
    data, that end)."""
    if request.param == "prometheus":
        from govops.capacity.prometheus import connect

        _, url, truth = request.getfixturevalue("lab")
        real = connect(url, timeout=10)

        def unreachable() -> MetricsPort:
            return connect(f"http://127.0.0.1:{_closed_port()}", timeout=5)

        running = sorted(c for c, t in truth["departments"].items() if t["vms_running_at_end"])
        yield real, unreachable, running, float(truth["window"]["end"])
        real.close()
        return
    fake = FakeMetrics()
    end = 1796169600.0
    for code in ("aaa", "bbb", "ccc"):
        fake.add(code, cpu_used=linear(1.0, 0.01, end), limits={"storage": (const(100), const(10))})
    fake.hypervisors = [FakeHypervisor("hv1")]

    def down() -> MetricsPort:
        fake.down = True
        return fake

    yield fake, down, ["aaa", "bbb", "ccc"], end


def test_contract_range_series_on_the_grid(port: tuple[MetricsPort, Any, list[str], float]) -> None:
    p, _, codes, end = port
    start = end - 2 * 86400
    queries = svc.usage_queries("department", STEP)
    assert set(queries) == {"cpu_used", "ram_used", "storage_used"}
    for promql in queries.values():
        series = p.query_range(promql, start, end, STEP)
        assert {s.labels["department"] for s in series} == set(codes), promql
        for s in series:
            assert set(s.labels) == {"department"}
            times = [t for t, _ in s.points]
            assert times == sorted(times) and start <= times[0] and times[-1] <= end
            assert all((t - start) % STEP == 0 for t in times) and all(v >= 0 for _, v in s.points)
        assert any(s.points[-1][0] == end for s in series)  # the end is inclusive


def test_contract_instant_and_filters(port: tuple[MetricsPort, Any, list[str], float]) -> None:
    p, _, codes, end = port
    samples = p.query(svc.cpu_mean_query("department", 86400), end)
    assert sorted(s.labels["department"] for s in samples) == codes
    assert all(set(s.labels) == {"department"} and s.value > 0 for s in samples)
    one = p.query(svc.cpu_mean_query("department", 86400, [codes[0]]), end)
    assert [s.labels["department"] for s in one] == [codes[0]]
    assert p.query(svc.cpu_mean_query("department", 86400, ["nosuchdept"]), end) == []
    limits = p.query_range(svc.limits_query("department", [codes[0]]), end - 3 * 86400, end, 86400)
    assert {s.labels["department"] for s in limits} == {codes[0]}
    assert {"storage_quota", "storage_alloc"} <= {s.labels[svc.TAG] for s in limits}
    assert all(len(s.points) == 4 for s in limits)
    prov = p.query(svc.provisioned_query("department", STEP), end)
    assert {(s.labels["department"], s.labels[svc.TAG]) for s in prov} == {
        (c, t) for c in codes for t in ("cpu_prov", "ram_prov", "storage_prov")
    }
    hv = p.query(svc.hypervisor_query(86400), end)
    assert hv and {s.labels[svc.TAG] for s in hv} == {"vcpus", "vcpus_used", "memory", "memory_used", "running"}


def test_contract_errors(port: tuple[MetricsPort, Any, list[str], float]) -> None:
    p, unreachable, _, end = port
    with pytest.raises(BadQuery) as bad:
        p.query("sum by (department", end)
    assert bad.value.exit_code == ExitCode.USAGE and bad.value.status == 400
    assert "sum by (department" in str(bad.value) and "HTTP 400" in str(bad.value)
    with pytest.raises(MetricsUnreachable) as gone:
        unreachable().query(svc.cpu_mean_query("department", 86400), end)
    assert gone.value.exit_code == ExitCode.ERROR and "cannot connect" in str(gone.value)
