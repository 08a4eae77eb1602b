"""The capacity report's reads: each cloud listing asked once (``SharedReads``), only the quotas it
shows, and its parts side by side with each source's failure still one line and the rest shown."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from govops.cloud.ports import CloudAuthError, Server
from govops.cloud.quota import quota_report
from govops.cloud.reads import SharedReads
from govops.departments import Department

from tests.fakes_cloud import FakeCloud
from tests.fakes_metrics import FakeMetrics

pytestmark = pytest.mark.unit
AT = 1796169600.0


class SlowCloud(FakeCloud):
    """Listings take a moment, so callers in other threads ask while the first request is in flight."""

    def servers(self, project_id: str | None = None, **kw: str | None) -> list[Server]:  # type: ignore[override]
        time.sleep(0.05)
        return super().servers(project_id, **kw)  # type: ignore[arg-type]


def test_a_listing_is_asked_once_even_by_callers_side_by_side() -> None:
    cloud = SlowCloud()
    project = cloud.add_project("dept-a")
    cloud.add_flavor("m1.small", 1, 2048, 20)
    reads = SharedReads(cloud)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: reads.servers(), range(4)))
    assert cloud.calls.count("servers") == 1 and reads.requests == 1
    assert all(a == answers[0] for a in answers)
    answers[0].append(answers[0][0] if answers[0] else None)  # type: ignore[arg-type]
    assert reads.servers() == answers[1]  # each caller gets a list of its own
    # other arguments are another request
    reads.servers(project.id)
    assert cloud.calls.count("servers") == 2
    assert reads.flavors() == reads.flavors() and cloud.calls.count("flavors") == 1


def test_a_failed_request_is_not_kept_and_writes_forget_what_was_read() -> None:
    cloud = FakeCloud()
    project = cloud.add_project("dept-a")
    cloud.fail_next("flavors", CloudAuthError("forbidden", status=403, service="compute"))
    reads = SharedReads(cloud)
    with pytest.raises(CloudAuthError):
        reads.flavors()
    assert reads.flavors() == [] and cloud.calls.count("flavors") == 2  # asked again
    before = reads.get_quotas(project.id)
    reads.set_quotas(project.id, {"cores": 7})
    after = reads.get_quotas(project.id)
    assert before.items["cores"].limit != 7 and after.items["cores"].limit == 7


def test_the_quota_report_asks_only_the_resources_it_needs() -> None:
    cloud = FakeCloud()
    cloud.add_project("dept-a")
    d = Department(code="aaa", name_zh="甲", name_en="A", project="dept-a")
    every = quota_report(cloud, [d]).rows[0].quotas
    some = quota_report(cloud, [d], resources=["cores", "gigabytes"]).rows[0].quotas
    assert set(some.items) == {"cores", "gigabytes"} and some.items["cores"] == every.items["cores"]


def test_report_parts_side_by_side_keep_each_failure_to_one_line(project: Path) -> None:
    """Placement forbidden: one line, ``placement`` among the failed sources, and the quotas,
    Prometheus' figures and the rightsizing still there; every listing was asked once."""
    from govops.capacity.assemble import ReportRequest
    from govops.capacity.planner import CapacityPlanner, CapacityPorts
    from govops.departments import load_departments

    deps = load_departments(project / "inventories" / "departments.yaml")
    cloud = FakeCloud()
    cloud.add_flavor("m1.small", 1, 2048, 20)
    cloud.add_host("hv1", "az1")
    for d in deps:
        cloud.add_project(d.project)
    cloud.fail_next(
        "resource_providers",
        CloudAuthError("Policy does not allow placement:resource_providers:list", status=403, service="placement"),
    )
    metrics = FakeMetrics()
    for d in deps:
        metrics.add(d.code)
    seen: list[str] = []
    lock = threading.Lock()

    class Recording:
        def started(self, total: int, description: str) -> None:
            seen.append("started")

        def advanced(self, target: str, status: str, detail: str | None = None) -> None:
            with lock:
                seen.append(target)

        def message(self, text: str) -> None:
            pass

        def finished(self) -> None:
            seen.append("finished")

    ports = CapacityPorts(
        departments=lambda: deps,
        metrics=lambda: metrics,
        cloud=lambda: cloud,
        cloud_configured=lambda: True,
    )
    report = CapacityPlanner(ports, Recording()).report(
        ReportRequest(at=str(AT), cloud_full=True), "auto", rightsize=True
    )
    placement = [str(w) for w in report.warnings if str(w).startswith("Placement")]
    assert len(placement) == 1 and "placement" in report.failed_sources
    assert report.allocation_source == "openstack" and len(report.departments) == len(list(deps))
    assert report.rightsize is not None and report.cloud_full == {}
    # one bar for the whole report, whatever the parts do
    assert seen[0] == "started" and seen[-1] == "finished" and seen.count("started") == 1
    assert {"placement", "openstack quotas"} <= set(seen)
    for listing in ("projects", "servers", "flavors"):
        assert cloud.calls.count(listing) <= 1, listing
    assert cloud.calls.count("get_quotas") == len(list(deps))
