"""When the cloud is full: the city's allocation growth against Placement's effective capacity.

Capacity and "allocated now" are Placement's (``capacity.headroom``): vCPUs and RAM summed over every
resource provider, capacity = (total - reserved) x allocation_ratio. Growth is the least-squares
slope of the city's daily allocation (every department's quota usage, from openstack-exporter's
history and stored snapshots), as for a department's quota, with the same prediction-interval range.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from govops.capacity import forecast as fc
from govops.capacity.headroom import PLACEMENT_NOTES, HeadroomService, is_note

if TYPE_CHECKING:
    from govops.capacity.headroom import CloudHeadroom
    from govops.capacity.ports import MetricsPort
    from govops.capacity.service import CapacityReport
    from govops.cloud.ports import CloudPort
    from govops.observer import Observer

# report resource -> (Placement resource class, divisor to the report's unit)
PLACEMENT_CLASSES = {"cpu": ("VCPU", 1.0), "ram": ("MEMORY_MB", 1024.0)}


@dataclass(frozen=True)
class CloudFull:
    resource: str  # cpu | ram
    unit: str
    capacity: float  # effective: (total - reserved) x allocation_ratio
    allocated: float  # Placement usages now
    growth_per_day: float | None  # of the city's allocation
    days_to_full: float | None
    full_date: str | None
    days_to_full_conservative: float | None
    days_to_full_aggressive: float | None
    full_date_conservative: str | None
    full_date_aggressive: str | None
    forecast: str  # ok | full | flat | short_history
    history_days: int

    @property
    def allocated_pct(self) -> float | None:
        return 100.0 * self.allocated / self.capacity if self.capacity > 0 else None


def cloud_full(report: CapacityReport, headroom: CloudHeadroom) -> dict[str, CloudFull]:
    out: dict[str, CloudFull] = {}
    if headroom.total is None or not headroom.placement:
        return out
    at = report.end
    for resource, (rc, div) in PLACEMENT_CLASSES.items():
        r = headroom.total.resources.get(rc)
        if r is None:
            continue
        capacity, allocated = r.capacity / div, r.allocated / div
        history = report.allocation_history.get(resource, ())
        f = fc.fit([t / fc.DAY for t, _ in history], [v for _, v in history])
        growth = f.slope_per_day if f else None
        days = fc.days_to_limit(allocated, capacity, growth)
        low, high = (
            # the history (the departments' summed allocation) may sit below Placement's figure (projects
            # outside the departments, allocations of deleted servers): the range starts from Placement's
            fc.days_range(allocated, capacity, f, report.options.confidence, level=allocated)
            if days is not None
            else (None, None)
        )
        if allocated >= capacity:
            status = "full"
        elif f is None:
            status = "short_history"
        elif days is None:
            status = "flat"
        else:
            status = "ok"
        out[resource] = CloudFull(
            resource=resource,
            unit="cores" if resource == "cpu" else "GiB",
            capacity=capacity,
            allocated=allocated,
            growth_per_day=growth,
            days_to_full=days,
            full_date=fc.date_after(at, days),
            days_to_full_conservative=low,
            days_to_full_aggressive=high,
            full_date_conservative=fc.date_after(at, low),
            full_date_aggressive=fc.date_after(at, high),
            forecast=status,
            history_days=f.days if f else len(history),
        )
    return out


def add_cloud_full(
    report: CapacityReport,
    cloud: CloudPort | None,
    metrics: MetricsPort | None,
    observer: Observer,
    *,
    headroom: CloudHeadroom | None = None,
) -> CapacityReport:
    """The report with the cloud's headroom and full dates (Placement failing is a warning, not an
    error); ``headroom``: already read (at the report's end and step), so none is asked for here."""
    if headroom is None:
        service = HeadroomService(cloud, metrics, observer, host_label=report.options.host_label)
        headroom = service.headroom(report.end, step=report.step)
    failed = tuple(report.failed_sources) + (() if headroom.placement or cloud is None else ("placement",))
    placement = (*PLACEMENT_NOTES, "cap.warn.no_cloud_placement")
    warnings = tuple(report.warnings) + tuple(w for w in headroom.warnings if is_note(w, placement))
    return replace(
        report,
        headroom=headroom,
        cloud_full=cloud_full(report, headroom),
        warnings=warnings,
        failed_sources=failed,
    )
