"""The lab Prometheus history generator: deterministic, seasonal, trending, and truthful."""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path

import pytest
from govops.departments import Departments, load_departments
from govops.lab.prometheus import history as h
from govops.lab.prometheus import metrics as m
from govops.lab.prometheus.inventory import INVENTORY_FILE, load_or_synthesise, synthesise

REPO = Path(__file__).resolve().parents[2]
START = 1_767_225_600  # 2026-01-01T00:00:00Z, a Thursday


@pytest.fixture(scope="module")
def departments() -> Departments:
    return load_departments(REPO / "inventories" / "departments.yaml")


def plan_of(departments: Departments, seed: int = 3, days: int = 28, step: int = 3600, servers: int = 80) -> h.Plan:
    inv = synthesise(departments, seed, servers)
    window = h.Window.ending(START + days * h.DAY, days, step)
    return h.make_plan(inv, departments, seed, window)


def text(plan: h.Plan, a: int, b: int) -> str:
    return "".join(h.chunk_lines(plan, a, b))


def usage(plan: h.Plan, vm: h.VmPlan) -> list[float]:
    """Per-interval CPU usage ratio, from the counter the generator writes."""
    counters: list[float] = []
    for a, b in plan.window.chunks():
        values = h.vm_values(plan, vm, a, b)
        if values is not None:
            counters += values[m.CPU_SECONDS]
    k = plan.window.step * vm.server.vcpus
    return [(y - x) / k for x, y in itertools.pairwise(counters)]


def test_synthetic_inventory_is_a_small_city_cloud(departments: Departments) -> None:
    inv = synthesise(departments, 1)
    assert len(inv.servers) == 300
    assert [(x.vcpus, x.memory_mb) for x in inv.hypervisors] == [(64, 512 * 1024)] * 3
    codes = {d.code for d in departments}
    assert {s.department for s in inv.servers} == codes  # every department has a server
    assert all(s.project == f"dept-{s.department}" for s in inv.servers)
    assert len({s.id for s in inv.servers}) == 300
    assert any(not s.active for s in inv.servers)
    assert synthesise(departments, 1) == inv
    assert synthesise(departments, 2) != inv


def test_inventory_written_when_cloud_absent_and_read_when_present(departments: Departments, tmp_path: Path) -> None:
    inv = load_or_synthesise(tmp_path, departments, 5, 60)
    doc = json.loads((tmp_path / INVENTORY_FILE).read_text())
    assert doc["synthetic"] is True and len(doc["servers"]) == 60
    # a real cloud's inventory is taken as it is
    doc["synthetic"] = False
    doc["servers"] = doc["servers"][:7]
    (tmp_path / INVENTORY_FILE).write_text(json.dumps(doc))
    real = load_or_synthesise(tmp_path, departments, 99, None)
    assert not real.synthetic and len(real.servers) == 7
    assert real.servers == inv.servers[:7]


def test_same_seed_same_bytes_other_seed_other_bytes(departments: Departments) -> None:
    a, b = plan_of(departments).window.chunks()[3]
    one = text(plan_of(departments), a, b)
    assert one == text(plan_of(departments), a, b)
    assert one != text(plan_of(departments, seed=4), a, b)
    assert one.endswith("# EOF\n")
    # OpenMetrics: a counter family is declared without its _total suffix
    assert "# TYPE libvirt_domain_info_cpu_time_seconds counter\n" in one


def test_labels_a_real_deployment_has(departments: Departments) -> None:
    plan = plan_of(departments)
    vm = plan.vms[0]
    line = next(x for x in text(plan, 0, 2).splitlines() if x.startswith(m.CPU_SECONDS + "{"))
    for label in m.VM_LABELS:
        assert f'{label}="' in line
    assert f'uuid="{vm.server.id}"' in line or vm.server.id in text(plan, 0, 2)
    assert 'department="' in next(x for x in text(plan, 0, 2).splitlines() if x.startswith(m.Q_VOLUME_USED))


def test_counter_monotonic_across_day_files_and_matches_closed_form(departments: Departments) -> None:
    plan = plan_of(departments, days=5, step=600)
    for vm in plan.vms[:25]:
        assert all(u >= 0 for u in usage(plan, vm)), vm.server.name
        for a, b in plan.window.chunks():
            values = h.vm_values(plan, vm, a, b)
            if values is None:
                continue
            last = min(b, vm.stop) - 1
            # the noise sums to zero inside a chunk: its last value is the noise-free closed form
            assert values[m.CPU_SECONDS][-1] == pytest.approx(h._counter_at(plan, vm, last), rel=1e-12)


def test_weekly_and_daily_seasonality(departments: Departments) -> None:
    plan = plan_of(departments, days=14, step=3600)
    busy = [v for v in plan.vms if not v.idle and v.stop == plan.window.count][:10]
    office, night, weekend = [], [], []
    for vm in busy:
        for i, u in enumerate(usage(plan, vm), start=1):
            t = plan.window.start + i * plan.window.step + h.LOCAL_OFFSET
            hour, weekday = (t % h.DAY) // 3600, (t // h.DAY + 3) % 7 < 5
            if not weekday and 10 <= hour <= 16:
                weekend.append(u / vm.cpu_base)
            elif weekday and 10 <= hour <= 16:
                office.append(u / vm.cpu_base)
            elif hour < 6:
                night.append(u / vm.cpu_base)
    assert statistics.mean(office) > 1.8 * statistics.mean(night)
    assert statistics.mean(office) > 1.5 * statistics.mean(weekend)


def test_growth_idle_and_stopped(departments: Departments) -> None:
    plan = plan_of(departments, days=28)
    inv = synthesise(departments, 3, 80)
    t = h.truth(plan, inv)
    depts = t["departments"]
    assert isinstance(depts, dict)
    # a VM shut off half-way takes its load with it: growth is read where none stopped
    growing = [d for d in depts.values() if d["growing"] and not d["stopped_vms"]]
    flat = [d for d in depts.values() if not d["growing"] and not d["stopped_vms"]]
    assert growing and all(d["cpu_growth_cores_per_day"] > 0 for d in growing)
    rel = statistics.median(d["cpu_growth_cores_per_day"] / d["cpu_mean_cores"] for d in growing)
    rel_flat = statistics.median(abs(d["cpu_growth_cores_per_day"]) / d["cpu_mean_cores"] for d in flat)
    assert rel > 5 * rel_flat
    assert all(d["memory_growth_bytes_per_day"] > 0 for d in growing)
    for vm in plan.vms:
        if vm.idle and vm.stop == plan.window.count:
            assert max(usage(plan, vm)) < 0.02
    stopped = [v for v in plan.vms if v.stop < plan.window.count]
    assert {v.server.id for v in stopped} == {s.id for s in inv.servers if not s.active}
    stopped_truth = t["stopped_vms"]
    assert isinstance(stopped_truth, dict)
    assert set(stopped_truth) == {v.server.id for v in stopped}
    for vm in stopped:
        assert h.vm_values(plan, vm, vm.stop, plan.window.count) is None


def test_one_department_runs_towards_its_volume_quota(departments: Departments) -> None:
    plan = plan_of(departments, days=60)
    t = h.truth(plan, synthesise(departments, 3, 80))
    nq = t["near_quota"]
    assert isinstance(nq, dict)
    assert nq["department"] in plan.growing
    assert nq["used_gb_line_at_end"] / nq["quota_gb"] == pytest.approx(h.NEAR_QUOTA_END, abs=0.001)
    # the samples scatter around the planted line by at most the planted noise
    assert abs(nq["used_gb_at_end"] / nq["quota_gb"] - h.NEAR_QUOTA_END) <= h.NEAR_QUOTA_NOISE + 0.001
    assert nq["days_to_quota"] == pytest.approx(
        60 * (1 - h.NEAR_QUOTA_END) / (h.NEAR_QUOTA_END - h.NEAR_QUOTA_START), rel=0.02
    )
    others = [p for p in plan.projects if p.department != nq["department"]]
    assert max(p.volume_end for p in others) < 0.7


@pytest.mark.parametrize("end_offset_h", [0.0, 7.5, 23.0, 23.5])
def test_truth_daily_means_match_generated_samples(departments: Departments, end_offset_h: float) -> None:
    """Whatever the time of day the window ends, truth's whole days are those with every interval."""
    step = 1800
    inv = synthesise(departments, 3, 80)
    window = h.Window.ending(START + 6 * h.DAY + end_offset_h * 3600, 6, step)
    plan = h.make_plan(inv, departments, 3, window)
    t = h.truth(plan, inv)
    depts = t["departments"]
    assert isinstance(depts, dict)
    dept = sorted(depts)[0]
    vms = [v for v in plan.vms if v.server.department == dept]
    per_day: dict[str, float] = {}
    intervals: dict[str, int] = {}
    for i in range(1, window.count):
        day = h.datetime.fromtimestamp(window.start + i * step, h.UTC).date().isoformat()
        intervals[day] = intervals.get(day, 0) + 1
    for vm in vms:
        for i, u in enumerate(usage(plan, vm), start=1):
            day = h.datetime.fromtimestamp(window.start + i * step, h.UTC).date().isoformat()
            per_day[day] = per_day.get(day, 0.0) + u * vm.server.vcpus * step
    whole = sorted(k for k, n in intervals.items() if n == h.DAY // step)
    assert len(whole) in (4, 5)
    assert depts[dept]["cpu_daily_dates"] == whole
    assert [per_day.get(k, 0.0) / h.DAY for k in whole] == pytest.approx(depts[dept]["cpu_daily_mean_cores"], abs=2e-3)


def _samples(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_a_file_per_block_holds_exactly_the_days_samples_it_spans(departments: Departments) -> None:
    plan = plan_of(departments, days=6, step=300, servers=20)
    block = 54 * 3600
    files = plan.window.chunks(block)
    assert len(files) >= 3
    days = plan.window.chunks()
    by_day = sorted(itertools.chain.from_iterable(_samples(text(plan, a, b)) for a, b in days))
    by_file = []
    for lo, hi in files:
        t = "".join(h.file_lines(plan, lo, hi))
        # a valid OpenMetrics file: each family declared once, its samples together, inside one block
        assert t.endswith("# EOF\n") and t.count("# TYPE libvirt_domain_info_cpu_time_seconds counter\n") == 1
        stamps = [int(line.rsplit(" ", 1)[1]) for line in _samples(t)]
        assert min(stamps) == plan.window.start + lo * 300 and max(stamps) == plan.window.start + (hi - 1) * 300
        assert len({s // block for s in stamps}) == 1
        by_file += _samples(t)
    # the same samples as day by day (each day's noise drawn for the whole day, whatever the file)
    assert sorted(by_file) == by_day
