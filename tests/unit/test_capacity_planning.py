"""Capacity planning without a lab: headroom and free slots, what-if, forecast ranges, rightsizing
rules, labellings and snapshots, on ``FakeCloud`` / ``FakeMetrics`` and pure functions."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from govops.capacity import forecast as fc
from govops.capacity.cloudfull import cloud_full
from govops.capacity.headroom import HeadroomService, fits_on, host_resources
from govops.capacity.labels import Labelling
from govops.capacity.rightsize import smallest_flavor, totals, vm_query
from govops.capacity.service import CapacityService, Options, cpu_mean_query, usage_queries
from govops.capacity.snapshots import SCOPE_DEPARTMENT, load_daily, record
from govops.capacity.whatif import Addition, WhatIfService, describe, parse_add, place
from govops.cloud.ports import CloudAuthError, Flavor, ProviderInventory, ResourceProvider
from govops.departments import Department
from govops.errors import InputError
from govops.store import open_store

from tests.fakes_cloud import FakeCloud
from tests.fakes_metrics import FakeMetrics, const, linear

pytestmark = pytest.mark.unit
DAY = 86400
AT = 1796169600.0


def _cloud() -> FakeCloud:
    cloud = FakeCloud()
    cloud.add_flavor("m1.small", 1, 2048, 20)
    cloud.add_flavor("m1.large", 4, 8192, 80)
    cloud.add_flavor("c1.big", 16, 16384, 0)
    # 64 vCPU x 4 - 200 used = 56 free; RAM 512 GiB - 8 reserved - 500 used = 4 GiB free: RAM binds
    cloud.add_host("hv1", "az1", used={"VCPU": 200, "MEMORY_MB": 500 * 1024})
    # ratio 2, 4 reserved: (64 - 4) x 2 = 120 vCPUs
    cloud.add_host("hv2", "az1", cpu_ratio=2.0, reserved_cpus=4, used={"VCPU": 118})
    cloud.add_host("hv3", "az2", vcpus=8, cpu_ratio=1.0)
    return cloud


# -- 1. headroom --------------------------------------------------------------------------------------------


def test_capacity_is_placements_formula_and_slots_are_per_host() -> None:
    h = HeadroomService(_cloud(), None).headroom(AT)
    hosts = {x.name: x for x in h.hosts}
    assert hosts["hv2"].resources["VCPU"].capacity == 120 and hosts["hv2"].resources["VCPU"].free == 2
    assert hosts["hv1"].resources["MEMORY_MB"].free == 4 * 1024
    assert h.zone("az1").resources["VCPU"].free == 56 + 2  # type: ignore[union-attr]
    assert [(a.name, a.hosts) for a in h.aggregates] == [("az1", 2), ("az2", 1)]
    slots = {f.flavor: f for f in h.flavors}
    # m1.large: hv1 has 56 vCPUs but RAM for 0; hv2 RAM plenty but 2 vCPUs: 0 in az1, not 58 // 4
    assert slots["m1.large"].per_az == {"az1": 0, "az2": 2}
    assert slots["m1.small"].per_az["az1"] == 2 + 2  # hv1: 4 GiB / 2 GiB; hv2: 2 vCPUs
    # a flavor wider than a host's max_unit never fits there, whatever is free
    assert slots["c1.big"].per_az["az2"] == 0
    assert "no Prometheus configured" in " ".join(map(str, h.warnings)) and not h.complete


def test_fits_on_respects_max_unit_and_every_class() -> None:
    rp = ResourceProvider(
        "x", "h", {"VCPU": ProviderInventory(64, 0, 4.0, max_unit=8), "MEMORY_MB": ProviderInventory(1024, 0, 1.0)}
    )
    res = host_resources(rp)
    assert fits_on(res, {"VCPU": 16, "MEMORY_MB": 1}) == (0, "VCPU")
    assert fits_on(res, {"VCPU": 1, "MEMORY_MB": 512}) == (2, "MEMORY_MB")


def test_placement_forbidden_and_prometheus_down_each_leave_the_other() -> None:
    cloud = _cloud()
    cloud.fail_next(
        "resource_providers",
        CloudAuthError("Policy does not allow placement:resource_providers:list", status=403, service="placement"),
    )
    metrics = FakeMetrics()
    metrics.down = True
    h = HeadroomService(cloud, metrics).headroom(AT)
    assert not h.placement and not h.metrics and h.hosts == ()
    assert [w for w in h.warnings if str(w).startswith("Placement")] and len(h.warnings) == 2
    h = HeadroomService(_cloud(), metrics).headroom(AT)
    assert h.placement and not h.metrics and h.flavors  # Placement figures without Prometheus


def test_unknown_az_is_bad_input() -> None:
    with pytest.raises(InputError, match="az9"):
        HeadroomService(_cloud(), None).headroom(AT, az="az9")


# -- 2. what-if ------------------------------------------------------------------------------------------------


def test_parse_add() -> None:
    assert parse_add("40xm1.large") == Addition(40, "m1.large")
    assert parse_add(" 3 × m1.small", "az2") == Addition(3, "m1.small", "az2")
    for bad in ("m1.large", "0xm1.small", "x4"):
        with pytest.raises(InputError):
            parse_add(bad)


def test_bin_packing_is_per_host_not_a_division_of_totals() -> None:
    cloud = FakeCloud()
    large = cloud.add_flavor("m1.large", 4, 8192)
    for name in ("a", "b"):  # 3 free vCPUs on each: 6 in all, no room for one 4-vCPU VM
        cloud.add_host(name, "az1", vcpus=3, cpu_ratio=1.0, reserved_ram_mb=0)
    h = HeadroomService(cloud, None).headroom(AT)
    placed, unplaced, _ = place(h.hosts, [Addition(1, "m1.large")], {"m1.large": large})
    assert placed == {} and unplaced == {"m1.large": 1}


def test_whatif_names_the_shortfall_and_the_first_resource() -> None:
    cloud = _cloud()
    cloud.add_project("dept-aaa", limits={"cores": 20, "ram_mb": 1024 * 1024, "instances": 100})
    service = WhatIfService(cloud)
    d = Department(code="aaa", name_zh="甲", name_en="A", project="dept-aaa")
    h = HeadroomService(cloud, None).headroom(AT)
    w = service.whatif(d, [Addition(8, "m1.large")], headroom=h)
    assert not w.fits and [(q.resource, q.short) for q in w.shortfalls] == [("cores", 12)]
    assert describe(w).startswith("does not fit: cores, 12 short")
    assert w.runs_out_first == "cores"
    w = service.whatif(d, [Addition(2, "m1.small", "az2")], headroom=h)
    assert w.fits and w.placement is not None and w.placement.placed == {"az2": 2}
    assert describe(w) == "fits"
    with pytest.raises(InputError, match=r"m9\.huge"):
        service.whatif(d, [Addition(1, "m9.huge")], headroom=h)


# -- 3. forecast ranges ----------------------------------------------------------------------------------------


def test_t_quantiles() -> None:
    assert fc.t_quantile(0.9, 1) == pytest.approx(3.0777, abs=1e-3)
    assert fc.t_quantile(0.9, 2) == pytest.approx(1.8856, abs=1e-3)
    assert fc.t_quantile(0.9, 10) == pytest.approx(1.3722, abs=2e-3)
    assert fc.t_quantile(0.95, 28) == pytest.approx(1.7011, abs=2e-3)


def test_the_range_holds_the_true_date_about_as_often_as_its_confidence() -> None:
    """A line with noise, 30 daily points: where the next day's value crosses the limit is inside the
    80 % range for about 80 % of draws (the interval is for one future daily value)."""
    rng = random.Random(7)
    inside = 0
    n = 300
    for _ in range(n):
        slope, sd, limit = 2.0, 6.0, 200.0
        xs = list(range(30))
        ys = [100 + slope * x + rng.gauss(0, sd) for x in xs]
        f = fc.fit(xs, ys)
        assert f is not None
        low, high = fc.days_range(ys[-1], limit, f, 0.8)
        assert low is not None and high is not None and low <= high
        # a new path from the same process: the first day its value reaches the limit
        day = next(h for h in range(1, 400) if 100 + slope * (29 + h) + rng.gauss(0, sd) >= limit)
        inside += low <= day <= high + 1
    assert 0.65 <= inside / n <= 0.95


def test_ranges_edge_cases() -> None:
    f = fc.fit([0, 1, 2, 3], [1.0, 2.0, 3.0, 4.0])
    assert fc.days_range(10, 10, f, 0.8) == (0.0, 0.0)
    assert fc.days_range(1, None, f, 0.8) == (None, None)
    flat = fc.fit([0, 1, 2, 3], [5.0, 5.0, 5.0, 5.0])
    assert fc.days_range(5, 10, flat, 0.8) == (None, None)


def test_report_carries_ranges_and_the_cloud_full_date() -> None:
    fake = FakeMetrics()
    grow = linear(100, 2.0, AT)  # cores allocated, +2 a day
    fake.add(
        "aaa",
        limits={
            "cpu": (const(1000), grow),
            "ram": (const(1e6), const(1024)),
            "storage": (const(10), const(1)),
            "instances": (const(10), const(1)),
        },
    )
    d = Department(code="aaa", name_zh="甲", name_en="A", project="dept-aaa")
    report = CapacityService(fake).report([d], Options(at=AT))
    cpu = report.departments[0].resources["cpu"]
    assert cpu.forecast == "ok" and cpu.days_to_quota == pytest.approx(450, rel=0.01)
    assert cpu.days_to_quota_conservative is not None and cpu.days_to_quota_aggressive is not None
    assert cpu.days_to_quota_conservative <= cpu.days_to_quota <= cpu.days_to_quota_aggressive
    cloud = FakeCloud()
    cloud.add_host("hv1", "az1", vcpus=100, cpu_ratio=4.0, used={"VCPU": 100})  # 400 capacity, 300 free
    full = cloud_full(report, HeadroomService(cloud, None).headroom(AT))
    assert full["cpu"].capacity == 400 and full["cpu"].days_to_full == pytest.approx(150, rel=0.01)
    assert full["cpu"].forecast == "ok" and full["cpu"].full_date is not None


def test_the_report_shows_every_planning_figure_in_both_languages() -> None:
    from dataclasses import replace

    from govops.capacity.rightsize import RightsizeOptions, RightsizeReport, RightsizeTotals
    from govops.reports.capacity import render
    from govops.reports.capacity_planning import LABELS

    assert set(LABELS["en"]) == set(LABELS["zh"])
    fake = FakeMetrics()
    fake.add("aaa", limits={"cpu": (const(150), linear(100, 2.0, AT)), "ram": (const(1e6), const(1024))})
    d = Department(code="aaa", name_zh="甲", name_en="A", project="dept-aaa")
    report = CapacityService(fake).report([d], Options(at=AT))
    cloud = _cloud()
    headroom = HeadroomService(cloud, None).headroom(AT)
    rs = RightsizeReport(AT, RightsizeOptions(at=AT), (), 3, totals={"aaa": RightsizeTotals(idle=2, frees_cores=6)})
    report = replace(report, headroom=headroom, cloud_full=cloud_full(report, headroom), rightsize=rs, snapshot_days=4)
    cpu = report.departments[0].resources["cpu"]
    assert cpu.quota_date_conservative and cpu.quota_date_aggressive
    # Placement's 318 allocated cores, not the departments' 100, is where the cloud-full range starts
    full = report.cloud_full["cpu"]
    assert full.allocated == 318 and full.days_to_full == pytest.approx(33, abs=0.1)
    assert full.full_date_conservative == full.full_date == full.full_date_aggressive  # a noiseless line
    en = render(report, "en", "md", now=AT)
    assert f"{cpu.quota_date_conservative} … {cpu.quota_date_aggressive}" in en  # the near-quota range
    for title in ("Cloud headroom (Placement)", "Free slots per flavor", "When the cloud is full", "Forecast method"):
        assert f"## {title}" in en, title
    assert "| az1 | 2 | 318 / 376 | 58 |" in en  # hv1 256 + hv2 120 capacity; 200 + 118 allocated
    assert "| A | 2 | 0 | 0 | 6 | 0 |" in en and "4 day(s) of the window" in en
    assert "80 % prediction interval" not in en and "80% prediction interval" in en
    zh = render(report, "zh", "html", now=AT)
    for title in ("云平台余量", "各规格可再创建的云主机数", "云平台何时满", "规格优化", "预测方法"):
        assert title in zh, title


# -- 4. rightsizing rule -------------------------------------------------------------------------------------------


def test_smallest_flavor_holding_the_need() -> None:
    flavors = [
        Flavor("1", "m1.small", 1, 2048, 20),
        Flavor("2", "m1.medium", 2, 4096, 40),
        Flavor("3", "m1.large", 4, 8192, 80),
        Flavor("4", "r1.xlarge", 8, 65536, 160),
    ]
    large = flavors[2]
    assert smallest_flavor(flavors, 0.4 * 1.3, 1500 * 1.3, large) == flavors[0]
    assert smallest_flavor(flavors, 1.5 * 1.3, 1000, large) == flavors[1]
    assert smallest_flavor(flavors, 3.5 * 1.3, 1000, large) is None  # nothing smaller holds it
    assert smallest_flavor(flavors, 1, 30000, large) is None  # only a bigger one does


def test_rightsize_query_is_one_request_and_groups_by_vm() -> None:
    q = vm_query(Labelling(), 30 * DAY, 3600, "host")
    assert q.count("quantile_over_time") == 2 and "max by (uuid, instance_name, domain, host, department)" in q
    joined = vm_query(Labelling("project_name", info_metric="libvirt_domain_info_meta"), 30 * DAY, 3600, "host")
    assert "group_left(project_name)" in joined and "last_over_time(libvirt_domain_info_meta[2592000s])" in joined
    assert totals([]) == {}


# -- 6. labellings -------------------------------------------------------------------------------------------------


def test_labellings_group_by_the_exporters_own_labels() -> None:
    by_name = usage_queries(Labelling("project_name"), 3600, ["dept-gaj", "a.b"])
    assert all("sum by (project_name)" in q for q in by_name.values())
    assert 'project_name=~"dept\\\\-gaj|a\\\\.b"' in by_name["cpu_used"]  # exact names, regex-escaped
    by_id = cpu_mean_query(Labelling("project_id"), 86400)
    assert by_id.startswith("sum by (project_uuid)")
    assert usage_queries("department", 3600, ["gaj"])["cpu_used"].count('department=~"gaj"') == 1


def test_project_labelling_maps_projects_to_departments() -> None:
    from govops.capacity.service import department_keys

    d = Department(code="aaa", name_zh="甲", name_en="A", project="dept-aaa")
    assert department_keys([d], Labelling()) == {"aaa": "aaa"}
    assert department_keys([d], Labelling("project_name")) == {"aaa": "dept-aaa"}
    cloud = FakeCloud()
    p = cloud.add_project("dept-aaa")
    assert department_keys([d], Labelling("project_id"), cloud) == {"aaa": p.id}
    assert Labelling("project_name").tenant_key == "tenant" and Labelling("project_id").tenant_key == "tenant_id"


def test_project_id_without_the_cloud_is_a_clear_error() -> None:
    d = Department(code="aaa", name_zh="甲", name_en="A", project="dept-aaa")
    with pytest.raises(InputError, match="project_id"):
        CapacityService(FakeMetrics()).report([d], Options(at=AT, labelling=Labelling("project_id")))


# -- 5. snapshots ----------------------------------------------------------------------------------------------------


def test_snapshots_are_idempotent_per_day_and_read_back(tmp_path: Path) -> None:
    fake = FakeMetrics()
    fake.add("aaa", cpu_used=const(2.0))
    d = Department(code="aaa", name_zh="甲", name_en="A", project="dept-aaa")
    report = CapacityService(fake).report([d], Options(at=AT, window=DAY))
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    first = record(store, report, None)
    again = record(store, report, None)
    assert first.written == ("aaa",) and again.written == () and again.kept == ("aaa",)
    daily = load_daily(store, SCOPE_DEPARTMENT, AT - 2 * DAY, AT + DAY)
    assert list(daily["aaa"]) == [first.day]
    assert daily["aaa"][first.day]["used_mean"]["cpu"] == pytest.approx(2.0)


# -- the CLI: exit codes and outputs on fakes --------------------------------------------------------------------


@pytest.fixture
def fakes(project: Path, monkeypatch: pytest.MonkeyPatch, ports) -> tuple[FakeCloud, FakeMetrics]:  # type: ignore[no-untyped-def]
    from govops.departments import load_departments

    (project / "govops.yaml").write_text(
        f"version: 1\nprometheus:\n  url: http://127.0.0.1:9\nstore:\n  url: sqlite:///{project / 's.db'}\n"
    )
    monkeypatch.setenv("GOVOPS_CONFIG", str(project / "govops.yaml"))
    monkeypatch.setenv("GOVOPS_HOME", str(project))
    cloud = _cloud()
    metrics = FakeMetrics()
    for d in load_departments(project / "inventories" / "departments.yaml"):
        metrics.add(d.code)
        cloud.add_project(d.project, limits={"cores": 20, "instances": 10, "ram_mb": 51200})
    ports.metrics, ports.cloud = metrics, cloud
    return cloud, metrics


def test_cli_cloud_whatif_rightsize_snapshot(cli, fakes: tuple[FakeCloud, FakeMetrics]) -> None:  # type: ignore[no-untyped-def]
    import json

    at = ("--at", "2026-12-02")
    r = cli("capacity", "cloud", *at, "-o", "json")
    # the fake Prometheus does not know the per-host query: Placement's figures, one line, exit 1
    assert r.code == 1 and json.loads(r.out)["cloud_headroom"]["placement"] is True
    assert "Traceback" not in r.err
    r = cli("capacity", "whatif", "--dept", "gaj", "--add", "21xm1.small", *at, "-o", "json")
    assert r.code == 3, r.err
    doc = json.loads(r.out)["whatif"]
    assert doc["fits"] is False and {q["resource"]: q["short"] for q in doc["quota"]}["cores"] == 1
    r = cli("capacity", "whatif", "--dept", "gaj", "--add", "2xm1.small", "--az", "az2", *at)
    assert r.code == 0, r.err
    assert cli("capacity", "whatif", "--dept", "gaj", "--add", "two-small", *at).code == 2
    r = cli("capacity", "rightsize", *at, "-o", "json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["rightsize"]["items"] == []
    r = cli("capacity", "snapshot", *at, "--source", "prometheus", "-o", "json")
    assert r.code == 0, r.err
    assert len(json.loads(r.out)["written"]) == 50
    r = cli("capacity", "snapshot", *at, "--source", "prometheus", "-o", "json")
    assert json.loads(r.out)["written"] == [] and len(json.loads(r.out)["kept"]) == 50


# -- the planner: which sources each command opens, and what a missing one becomes -----------------------------


def _planner(cloud: FakeCloud | None, metrics: FakeMetrics | None, departments_file: Path) -> object:
    from govops.capacity.planner import CapacityPlanner, CapacityPorts
    from govops.departments import load_departments
    from govops.errors import ConfigError

    def no_metrics() -> FakeMetrics:
        raise ConfigError("no Prometheus configured (built-in defaults)")

    def no_cloud() -> FakeCloud:
        raise AssertionError("the cloud must not be opened")

    ports = CapacityPorts(
        departments=lambda: load_departments(departments_file),
        metrics=(lambda: metrics) if metrics is not None else no_metrics,
        cloud=(lambda: cloud) if cloud is not None else no_cloud,
        cloud_configured=lambda: cloud is not None,
    )
    return CapacityPlanner(ports)


def test_planner_opens_only_what_the_command_needs(project: Path) -> None:
    from govops.capacity.assemble import ReportRequest
    from govops.capacity.planner import CapacityPlanner
    from govops.capacity.rightsize import RightsizeOptions
    from govops.errors import ConfigError

    deps = project / "inventories" / "departments.yaml"
    metrics = FakeMetrics()
    metrics.add("gaj")
    # no cloud configured: auto reads allocations from Prometheus and never opens the cloud
    p = _planner(None, metrics, deps)
    assert isinstance(p, CapacityPlanner)
    assert p.cloud_for("auto") is None and p.cloud_for("prometheus") is None
    report = p.report(ReportRequest(dept="gaj", at=str(AT), cloud_full=True))
    assert report.allocation_source == "prometheus" and report.cloud_full == {}
    # no Prometheus: show/forecast cannot do without it (exit 2 upstream); cloud and rightsize note it
    cloud = _cloud()
    for d in p.departments:
        cloud.add_project(d.project)
    q = _planner(cloud, None, deps)
    assert isinstance(q, CapacityPlanner)
    with pytest.raises(ConfigError):
        q.report(ReportRequest(at=str(AT)))
    h = q.headroom(AT)
    assert h.placement and not h.metrics and not h.complete
    assert [str(w) for w in h.warnings if "Prometheus" in str(w)] == ["no Prometheus configured (built-in defaults)"]
    r = q.rightsize(RightsizeOptions(at=AT, window=7 * DAY, step=3600.0))
    assert r.failed_sources == ("prometheus",) and r.items == ()
    assert any(str(w).startswith("no Prometheus configured (built-in defaults)") for w in r.warnings)
    w = q.whatif("gaj", ["1xm1.small"], at=AT)
    assert w.quota_fits and any("growth is unknown" in str(n) for n in w.warnings)
