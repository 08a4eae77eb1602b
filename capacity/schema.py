"""The stable machine-readable form of a capacity report: ``govops.capacity/1`` (json) and its CSV rows.

Keys are only ever added within one schema version; a removal or a change of meaning makes it
``govops.capacity/2``. Numbers are in the report's units (cores, GiB, VMs), rounded for reading;
``null`` means unknown (no data, no quota, no growth).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from govops.capacity.cloudfull import CloudFull
from govops.capacity.forecast import METHOD
from govops.capacity.headroom import CloudHeadroom, PhysicalUse, ResourceHeadroom, ZoneHeadroom
from govops.capacity.rightsize import RightsizeItem, RightsizeReport
from govops.capacity.service import SCHEMA, CapacityReport, DepartmentCapacity, ResourceCapacity
from govops.capacity.whatif import WhatIf

CSV_COLUMNS = (
    "department",
    "name",
    "resource",
    "unit",
    "quota",
    "allocated",
    "quota_pct",
    "used_mean",
    "used_p95",
    "used_latest",
    "provisioned",
    "utilisation_pct",
    "used_growth_pct_30d",
    "allocation_growth_per_day",
    "days_to_quota",
    "quota_date",
    "forecast",
    "flags",
    "days_to_quota_conservative",
    "days_to_quota_aggressive",
    "quota_date_conservative",
    "quota_date_aggressive",
)


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def num(value: float | None, digits: int = 2) -> float | None:
    if value is None:
        return None
    return round(value, digits) + 0.0  # + 0.0 turns -0.0 into 0.0


def resource_dict(r: ResourceCapacity) -> dict[str, Any]:
    used = None
    if r.used is not None:
        u = r.used
        used = {
            "mean": num(u.mean, 4),
            "p95": num(u.p95, 4),
            "latest": num(u.latest, 4),
            "provisioned": num(u.provisioned, 4),
            "growth_per_day": num(u.growth_per_day, 4),
            "growth_pct_30d": num(u.growth_pct_30d, 1),
            "history_days": u.days,
        }
    return {
        "unit": r.unit,
        "quota": num(r.quota),
        "allocated": num(r.allocated),
        "quota_pct": num(r.quota_pct, 1),
        "used": used,
        "utilisation_pct": num(r.utilisation_pct, 1),
        "p95_utilisation_pct": num(r.p95_utilisation_pct, 1),
        "allocation_growth_per_day": num(r.allocation_growth_per_day, 3),
        "days_to_quota": num(r.days_to_quota, 1),
        "quota_date": r.quota_date,
        "forecast": r.forecast,
        "days_to_quota_conservative": num(r.days_to_quota_conservative, 1),
        "days_to_quota_aggressive": num(r.days_to_quota_aggressive, 1),
        "quota_date_conservative": r.quota_date_conservative,
        "quota_date_aggressive": r.quota_date_aggressive,
    }


def flags(d: DepartmentCapacity) -> list[str]:
    out = [f"over_quota:{r}" for r in d.over_quota]
    out += [f"near_quota:{r}" for r in d.near_quota if r not in d.over_quota]
    out += ["growing"] if d.growing else []
    out += [f"reclaim:{r}" for r in d.reclaim]
    return out


def department_dict(d: DepartmentCapacity) -> dict[str, Any]:
    return {
        "code": d.code,
        "name_zh": d.name_zh,
        "name_en": d.name_en,
        "project": d.project,
        "flags": {
            "near_quota": list(d.near_quota),
            "over_quota": list(d.over_quota),
            "growing": d.growing,
            "reclaim": list(d.reclaim),
        },
        "resources": {k: resource_dict(v) for k, v in d.resources.items()},
    }


def report_dict(report: CapacityReport) -> dict[str, Any]:
    o = report.options
    return {
        "schema": SCHEMA,
        "at": iso(report.at),
        "window": {
            "start": iso(report.start),
            "end": iso(report.end),
            "days": num((report.end - report.start) / 86400, 2),
            "step_seconds": report.step,
        },
        "data_end": iso(report.data_end),
        "horizon_days": report.horizon_days,
        "thresholds": {"growth_pct_30d": o.growth_threshold_pct, "reclaim_below_pct": o.reclaim_below_pct},
        "allocation_source": report.allocation_source,
        "usage_series": report.usage_series,
        "city": {k: resource_dict(v) for k, v in report.city.items()},
        "hypervisors": [
            {
                "name": h.name,
                "availability_zone": h.az,
                "vcpus": num(h.vcpus),
                "vcpus_allocated": num(h.vcpus_used),
                "memory_gib": num(h.memory_gib),
                "memory_allocated_gib": num(h.memory_used_gib),
                "running_vms": num(h.running_vms, 0),
            }
            for h in report.hypervisors
        ],
        "departments": [department_dict(d) for d in report.departments],
        "findings": [d.code for d in report.findings],
        "warnings": [str(x) for x in report.warnings],
        "forecast_method": {"confidence": o.confidence, "text": METHOD.format(confidence=o.confidence)},
        "snapshot_days": report.snapshot_days,
        "failed_sources": list(report.failed_sources),
        "cloud_headroom": headroom_dict(report.headroom) if report.headroom else None,
        "cloud_full": {k: cloud_full_dict(v) for k, v in report.cloud_full.items()},
        "rightsize": rightsize_dict(report.rightsize) if report.rightsize else None,
    }


def csv_rows(report: CapacityReport, lang: str = "en") -> list[dict[str, Any]]:
    """One row per department and resource, keys ``CSV_COLUMNS``."""
    rows = []
    for d in report.departments:
        for name, r in d.resources.items():
            u = r.used
            rows.append(
                {
                    "department": d.code,
                    "name": d.name(lang),
                    "resource": name,
                    "unit": r.unit,
                    "quota": num(r.quota),
                    "allocated": num(r.allocated),
                    "quota_pct": num(r.quota_pct, 1),
                    "used_mean": num(u.mean, 3) if u else None,
                    "used_p95": num(u.p95, 3) if u else None,
                    "used_latest": num(u.latest, 3) if u else None,
                    "provisioned": num(u.provisioned, 3) if u else None,
                    "utilisation_pct": num(r.utilisation_pct, 1),
                    "used_growth_pct_30d": num(u.growth_pct_30d, 1) if u else None,
                    "allocation_growth_per_day": num(r.allocation_growth_per_day, 3),
                    "days_to_quota": num(r.days_to_quota, 1),
                    "quota_date": r.quota_date,
                    "forecast": r.forecast,
                    "flags": ";".join(f for f in flags(d) if f.endswith(name) or f == "growing"),
                    "days_to_quota_conservative": num(r.days_to_quota_conservative, 1),
                    "days_to_quota_aggressive": num(r.days_to_quota_aggressive, 1),
                    "quota_date_conservative": r.quota_date_conservative,
                    "quota_date_aggressive": r.quota_date_aggressive,
                }
            )
    return rows


# -- capacity planning: keys added within govops.capacity/1 ------------------------------------------


def _rc_dict(r: ResourceHeadroom) -> dict[str, Any]:
    return {
        "total": r.total,
        "reserved": r.reserved,
        "allocation_ratio": r.allocation_ratio,
        "capacity": r.capacity,
        "allocated": r.allocated,
        "free": r.free,
        "allocated_pct": num(r.allocated_pct, 1),
    }


def _use_dict(u: PhysicalUse) -> dict[str, Any]:
    return {"cpu_cores": num(u.cpu_cores, 3), "ram_gib": num(u.ram_gib, 3), "vms": u.vms}


def headroom_dict(h: CloudHeadroom) -> dict[str, Any]:
    """``cloud_headroom``: Placement's figures per host, zone and cloud, physical use, free slots."""

    def zone(z: ZoneHeadroom) -> dict[str, Any]:
        return {
            "name": z.name,
            "hosts": z.hosts,
            "resources": {rc: _rc_dict(r) for rc, r in z.resources.items()},
            "used": _use_dict(z.used),
        }

    return {
        "at": iso(h.at),
        "placement": h.placement,
        "prometheus": h.metrics,
        "hosts": [
            {
                "name": x.name,
                "availability_zone": x.az,
                "resources": {rc: _rc_dict(r) for rc, r in x.resources.items()},
                "used": _use_dict(x.used),
            }
            for x in h.hosts
        ],
        "zones": [zone(z) for z in h.zones],
        "aggregates": [zone(a) for a in h.aggregates],
        "total": zone(h.total) if h.total else None,
        "free_slots": [
            {
                "flavor": f.flavor,
                "vcpus": f.vcpus,
                "ram_mb": f.ram_mb,
                "disk_gb": f.disk_gb,
                "per_az": dict(f.per_az),
                "total": f.total,
                "limited_by": f.limited_by,
            }
            for f in h.flavors
        ],
        "warnings": [str(x) for x in h.warnings],
    }


def cloud_full_dict(c: CloudFull) -> dict[str, Any]:
    return {
        "unit": c.unit,
        "capacity": num(c.capacity),
        "allocated": num(c.allocated),
        "allocated_pct": num(c.allocated_pct, 1),
        "growth_per_day": num(c.growth_per_day, 3),
        "days_to_full": num(c.days_to_full, 1),
        "full_date": c.full_date,
        "days_to_full_conservative": num(c.days_to_full_conservative, 1),
        "days_to_full_aggressive": num(c.days_to_full_aggressive, 1),
        "full_date_conservative": c.full_date_conservative,
        "full_date_aggressive": c.full_date_aggressive,
        "forecast": c.forecast,
        "history_days": c.history_days,
    }


def rightsize_item_dict(i: RightsizeItem) -> dict[str, Any]:
    return {
        "kind": i.kind,
        "id": i.id,
        "name": i.name,
        "department": i.department,
        "project": i.project,
        "host": i.host,
        "status": i.status,
        "flavor": i.flavor,
        "vcpus": i.vcpus,
        "ram_mb": i.ram_mb,
        "cpu_p95_cores": num(i.cpu_p95_cores, 3),
        "cpu_p95_pct": num(i.cpu_p95_pct, 1),
        "mem_p95_gib": num(i.mem_p95_gib, 3),
        "mem_p95_pct": num(i.mem_p95_pct, 1),
        "suggested_flavor": i.suggested_flavor,
        "frees": {"cores": i.frees_cores, "ram_mb": i.frees_ram_mb},
        "idle_days": num(i.idle_days, 1),
        "disk_shrinks": i.disk_shrinks,
    }


def rightsize_dict(r: RightsizeReport) -> dict[str, Any]:
    o = r.options
    return {
        "at": iso(r.at),
        "window_days": num(o.window / 86400, 2),
        "step_seconds": o.step,
        "rule": {"idle_cpu_p95_pct": o.idle_cpu_pct, "headroom": o.headroom, "stopped_days": o.stopped_days},
        "vms_seen": r.vms_seen,
        "usage_series": r.usage_series,
        "items": [rightsize_item_dict(i) for i in r.items],
        "totals": {
            code: {
                "idle": t.idle,
                "oversized": t.oversized,
                "stopped": t.stopped,
                "frees_cores": t.frees_cores,
                "frees_ram_gib": num(t.frees_ram_gib, 2),
            }
            for code, t in r.totals.items()
        },
        "warnings": [str(x) for x in r.warnings],
    }


def whatif_dict(w: WhatIf) -> dict[str, Any]:
    p = w.placement
    return {
        "department": w.department,
        "project": w.project,
        "fits": w.fits,
        "quota_fits": w.quota_fits,
        "cloud_fits": w.cloud_fits,
        "add": [{"count": a.count, "flavor": a.flavor, "az": a.az, "volume_gb": a.volume_gb} for a in w.additions],
        "quota": [
            {
                "resource": q.resource,
                "needed": q.needed,
                "limit": q.limit,
                "in_use": q.in_use,
                "free": q.free,
                "short": q.short,
                "fits": q.fits,
            }
            for q in w.quota
        ],
        "placement": None
        if p is None
        else {
            "fits": p.fits,
            "placed": dict(p.placed),
            "unplaced": dict(p.unplaced),
            "free_slots": {f: dict(v) for f, v in p.free_slots.items()},
            "hosts": dict(p.hosts),
        },
        "runs_out_first": w.runs_out_first,
        "earlier": [
            {
                "resource": e.resource,
                "growth_per_day": num(e.growth_per_day, 3),
                "days_before": num(e.days_before, 1),
                "days_after": num(e.days_after, 1),
                "days_earlier": num(e.days_earlier, 1),
            }
            for e in w.earlier
        ],
        "warnings": [str(x) for x in w.warnings],
    }


def document(at: float, **parts: Any) -> dict[str, Any]:
    """A ``govops.capacity/1`` document holding only some of its keys (``capacity cloud|whatif|rightsize``)."""
    return {"schema": SCHEMA, "at": iso(at), **parts}
