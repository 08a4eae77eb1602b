"""The stable machine-readable form of a capacity report: ``govops.capacity/1`` (json) and its CSV rows.

Keys are only ever added within one schema version; a removal or a change of meaning makes it
``govops.capacity/2``. Numbers are in the report's units (cores, GiB, VMs), rounded for reading;
``null`` means unknown (no data, no quota, no growth).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from govops.capacity.service import SCHEMA, CapacityReport, DepartmentCapacity, ResourceCapacity

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
        "warnings": list(report.warnings),
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
                }
            )
    return rows
