"""History beyond Prometheus' retention: one stored snapshot per department and day (``govops capacity snapshot``).

A snapshot holds what a report needs for that day: quota and allocated (cloud or exporter), used
mean and p95 and what the running VMs were given, per resource; and, under its own scope, the
cloud's headroom (Placement). It is written to the results store (SQLite or PostgreSQL), keyed by
the UTC day of the report time: taking it again the same day writes nothing (idempotent), so a
timer may run it every hour. Reports read them back for the days of their window before
Prometheus' first sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from govops.capacity.headroom import CloudHeadroom
    from govops.capacity.labels import Labelling
    from govops.capacity.ports import MetricsPort
    from govops.capacity.service import CapacityReport
    from govops.cloud.ports import CloudPort
    from govops.departments import Departments
    from govops.observer import Observer
    from govops.store import Store

SCOPE_DEPARTMENT = "capacity.department"
SCOPE_CLOUD = "capacity.cloud"
CLOUD_SUBJECT = "cloud"


def day_of(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).date().isoformat()


def taken_at(day: str) -> str:
    """Snapshots of one day are stored at its UTC noon: sorting and ``since`` filters work on it."""
    return f"{day}T12:00:00.000Z"


def department_data(report: CapacityReport, code: str) -> dict[str, Any]:
    d = next(x for x in report.departments if x.code == code)
    out: dict[str, Any] = {"quota": {}, "allocated": {}, "used_mean": {}, "used_p95": {}, "provisioned": {}}
    for name, r in d.resources.items():
        out["quota"][name] = r.quota
        out["allocated"][name] = r.allocated
        if r.used is not None:
            out["used_mean"][name] = r.used.mean
            out["used_p95"][name] = r.used.p95
            out["provisioned"][name] = r.used.provisioned
    return out


def cloud_data(headroom: CloudHeadroom) -> dict[str, Any]:
    total = headroom.total
    return {
        "resources": {
            rc: {"capacity": r.capacity, "allocated": r.allocated, "total": r.total, "reserved": r.reserved}
            for rc, r in (total.resources.items() if total else ())
        },
        "zones": {
            z.name: {rc: {"capacity": r.capacity, "allocated": r.allocated} for rc, r in z.resources.items()}
            for z in headroom.zones
        },
        "free_slots": {f.flavor: f.total for f in headroom.flavors},
    }


@dataclass(frozen=True)
class SnapshotResult:
    day: str
    written: tuple[str, ...]  # subjects written now
    kept: tuple[str, ...]  # subjects that already had this day's snapshot
    cloud: bool  # the cloud's headroom was written (or kept)


def record(
    store: Store, report: CapacityReport, headroom: CloudHeadroom | None, *, force_day: str | None = None
) -> SnapshotResult:
    """Write the report's day (and the headroom) unless that day is stored already."""
    day = force_day or day_of(report.end)
    stamp = taken_at(day)
    have = {s["subject"] for s in store.snapshots(SCOPE_DEPARTMENT, since=stamp) if s["taken_at"] == stamp}
    written, kept = [], []
    for d in report.departments:
        if d.code in have:
            kept.append(d.code)
            continue
        store.record_snapshot(SCOPE_DEPARTMENT, d.code, {"day": day, **department_data(report, d.code)}, stamp)
        written.append(d.code)
    cloud = False
    if headroom is not None and headroom.placement:
        stored = [s for s in store.snapshots(SCOPE_CLOUD, CLOUD_SUBJECT, since=stamp) if s["taken_at"] == stamp]
        if not stored:
            store.record_snapshot(SCOPE_CLOUD, CLOUD_SUBJECT, {"day": day, **cloud_data(headroom)}, stamp)
        cloud = True
    return SnapshotResult(day, tuple(written), tuple(kept), cloud)


def load_daily(store: Store, scope: str, start: float, end: float) -> dict[str, dict[str, Mapping[str, Any]]]:
    """{subject: {day: data}} for the days from ``start`` to before ``end`` (one per day: the first stored)."""
    first, last = day_of(start), day_of(end - 1)
    out: dict[str, dict[str, Mapping[str, Any]]] = {}
    for s in store.snapshots(scope, since=taken_at(first)):
        day = str(s["data"].get("day") or str(s["taken_at"])[:10])
        if first <= day <= last:
            out.setdefault(str(s["subject"]), {}).setdefault(day, s["data"])
    return out


def take_snapshot(
    store: Store,
    departments: Departments,
    metrics: MetricsPort,
    cloud: CloudPort | None,
    *,
    at: str | None = None,
    step: str = "1h",
    labelling: Labelling | None = None,
    host_label: str = "host",
    observer: Observer | None = None,
) -> tuple[SnapshotResult, CapacityReport, CloudHeadroom | None]:
    """The day ending at ``at``: its capacity report (window 1 d) and the cloud's headroom, stored
    unless that day is stored already."""
    from govops.capacity.assemble import ReportRequest, build_report
    from govops.capacity.headroom import HeadroomService

    request = ReportRequest(window="1d", step=step, at=at)
    report = build_report(departments, metrics, cloud, request, labelling=labelling, observer=observer)
    headroom = None
    if cloud is not None:
        headroom = HeadroomService(cloud, metrics, observer, host_label=host_label).headroom(
            report.end, step=report.step
        )
    return record(store, report, headroom), report, headroom
