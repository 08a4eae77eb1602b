"""Quota service: free figures, shortfalls and a sync plan that never touches unset fields."""

from __future__ import annotations

import pytest
from govops.cloud.ports import QuotaSet, QuotaUsage, Shortfall
from govops.cloud.quota import (
    apply_sync,
    describe_shortfalls,
    plan_sync,
    quota_report,
    server_needs,
    shortfalls,
    wanted_limits,
)
from govops.departments import Department, Quotas

from tests.fakes_cloud import DEFAULT_LIMITS, FakeCloud


def dept(code: str = "gaj", **quotas: int) -> Department:
    return Department(code=code, name_zh="公安局", name_en="PSB", project=f"dept-{code}", quotas=Quotas(**quotas))


def test_free_never_negative_and_unlimited_is_none() -> None:
    assert QuotaUsage(10, 3, 2).free == 5
    assert QuotaUsage(10, 12, 0).free == 0
    assert QuotaUsage(-1, 100).free is None


def test_wanted_limits_convert_units_and_keep_only_set_fields() -> None:
    assert wanted_limits(dept(cores=8, ram_gb=16, volume_gb=100)) == {"cores": 8, "ram_mb": 16384, "gigabytes": 100}
    assert wanted_limits(dept(ram_gb=-1)) == {"ram_mb": -1}
    assert wanted_limits(dept()) == {}


def test_shortfalls_name_each_resource() -> None:
    q = QuotaSet("p", {"cores": QuotaUsage(20, 8), "ram_mb": QuotaUsage(-1, 0), "instances": QuotaUsage(5, 5)})
    need = {"cores": 32, "ram_mb": 10**9, "instances": 1, "volumes": 3}
    found = shortfalls(q, need)
    assert found == [Shortfall("cores", 32, 12), Shortfall("instances", 1, 0)]
    assert str(describe_shortfalls("公安局", found)) == "公安局 needs 32 cores, 12 free; needs 1 instances, 0 free"


def test_server_needs() -> None:
    from govops.cloud.ports import Flavor

    assert server_needs(Flavor("f", "f", 2, 4096, 20), count=3, volume_gb=50) == {
        "cores": 6,
        "ram_mb": 12288,
        "instances": 3,
        "volumes": 3,
        "gigabytes": 150,
        "ports": 3,
    }


@pytest.fixture
def cloud() -> FakeCloud:
    c = FakeCloud()
    c.add_project("dept-gaj", limits={"cores": 4})
    c.add_project("dept-wjw")
    return c


def test_sync_plans_only_fields_the_file_sets(cloud: FakeCloud) -> None:
    plan = plan_sync(cloud, [dept("gaj", cores=8, ram_gb=64), dept("wjw", instances=DEFAULT_LIMITS["instances"])])
    assert {(c.department, c.resource, c.current, c.wanted) for c in plan.changes} == {
        ("gaj", "cores", 4, 8),
        ("gaj", "ram_mb", DEFAULT_LIMITS["ram_mb"], 65536),
    }
    assert plan.unchanged == 1  # wjw instances already match
    before = {pid: dict(limits) for pid, limits in cloud.limits.items()}
    result = apply_sync(cloud, plan)
    assert result.applied == ("gaj",) and result.failed == ()
    gaj = cloud.find_project("dept-gaj").id  # type: ignore[union-attr]
    for pid, limits in cloud.limits.items():
        for resource, value in limits.items():
            if pid == gaj and resource in ("cores", "ram_mb"):
                continue
            assert value == before[pid][resource], f"{resource} of {pid} changed"
    assert cloud.limits[gaj]["cores"] == 8
    assert plan_sync(cloud, [dept("gaj", cores=8, ram_gb=64)]).changes == ()


def test_sync_skips_departments_without_project(cloud: FakeCloud) -> None:
    plan = plan_sync(cloud, [dept("jyj", cores=8)])
    assert plan.missing_projects == ("jyj",) and plan.changes == ()


def test_sync_flags_limits_below_use(cloud: FakeCloud) -> None:
    gaj = cloud.find_project("dept-gaj")
    cloud.add_volume(gaj, 100)  # type: ignore[arg-type]
    plan = plan_sync(cloud, [dept("gaj", volume_gb=10)])
    assert [c.below_use for c in plan.changes] == [True]


def test_sync_failure_of_one_department_does_not_stop_others(cloud: FakeCloud) -> None:
    from govops.cloud.ports import CloudApiError

    plan = plan_sync(cloud, [dept("gaj", cores=8), dept("wjw", cores=9)])
    cloud.fail_next("set_quotas", CloudApiError("policy does not allow", status=403, service="compute"))
    result = apply_sync(cloud, plan)
    assert result.applied == ("wjw",)
    assert result.failed[0][0] == "gaj" and "HTTP 403" in result.failed[0][1]


def test_report_lists_missing_projects(cloud: FakeCloud) -> None:
    report = quota_report(cloud, [dept("gaj"), dept("jyj")])
    assert [r.department.code for r in report.rows] == ["gaj"]
    assert report.missing == ("jyj",)
    assert report.rows[0].quotas.get("cores") == QuotaUsage(4, 0, 0)
