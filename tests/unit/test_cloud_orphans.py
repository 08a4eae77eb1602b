from __future__ import annotations

from datetime import UTC, datetime

from govops.cloud.orphans import find_orphans
from govops.cloud.ports import ServerRequest
from govops.departments import Department, Departments

from tests.fakes_cloud import FakeCloud

NOW = datetime(2026, 3, 1, tzinfo=UTC)
GAJ = Department(code="gaj", name_zh="公安局", name_en="Public Security Bureau", project="dept-gaj")
JYJ = Department(code="jyj", name_zh="教育局", name_en="Education Bureau", project="dept-jyj")
DEPTS = Departments((GAJ, JYJ), "departments.yaml")


def _cloud() -> FakeCloud:
    c = FakeCloud(build_polls=0)
    gaj, jyj = c.add_project("dept-gaj"), c.add_project("dept-jyj")
    flavor, image = c.add_flavor("m1.medium", 2, 4096), c.add_image("cirros")

    def server(project: object, name: str, status: str, updated: str, tagged: bool = True) -> None:
        md = {"department": "gaj" if project is gaj else "jyj"} if tagged else {}
        s = c.create_server(project, ServerRequest(name, flavor.id, image.id, metadata=md))  # type: ignore[arg-type]
        c._set(c.srv[s.id], status=status, updated_at=updated, fault="No valid host" if status == "ERROR" else None)

    server(gaj, "old-stopped", "SHUTOFF", "2026-01-01T00:00:00Z")
    server(gaj, "new-stopped", "SHUTOFF", "2026-02-27T00:00:00Z")
    server(gaj, "broken", "ERROR", "2026-02-28T00:00:00Z")
    server(gaj, "fine", "ACTIVE", "2026-01-01T00:00:00Z")
    server(jyj, "nobody", "ACTIVE", "2026-02-01T00:00:00", tagged=False)
    c.add_volume(gaj, 100, "spare")
    c.add_volume(jyj, 50, "used", status="in-use")
    c.add_floating_ip(gaj, "203.0.113.5")
    c.add_floating_ip(jyj, "203.0.113.6", port_id="port-1")
    return c


def test_finds_each_kind_with_department_and_freed_quota() -> None:
    report = find_orphans(_cloud(), DEPTS, stopped_days=30, now=NOW)
    got = {(o.name, o.reasons, o.department) for o in report.items}
    assert got == {
        ("old-stopped", ("stopped",), "gaj"),
        ("broken", ("error",), "gaj"),
        ("nobody", ("untagged",), "jyj"),  # department from its project
        ("spare", ("unattached",), "gaj"),
        ("203.0.113.5", ("unassociated",), "gaj"),
    }
    old = next(o for o in report.items if o.name == "old-stopped")
    assert old.idle_days is not None and round(old.idle_days) == 59 and old.project == "dept-gaj"
    assert report.totals()["gaj"] == {
        "instances": 2,
        "cores": 4,
        "ram_mb": 8192,
        "volumes": 1,
        "gigabytes": 100,
        "floating_ips": 1,
    }
    assert report.to_dict()["totals"]["jyj"]["cores"] == 2


def test_stopped_days_and_department_filter() -> None:
    cloud = _cloud()
    names = {o.name for o in find_orphans(cloud, DEPTS, department=GAJ, stopped_days=1, now=NOW).items}
    assert names == {"old-stopped", "new-stopped", "broken", "spare", "203.0.113.5"}
    assert "nobody" not in names
