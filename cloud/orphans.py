"""``govops cloud orphans``: what could be reclaimed, with its department and the quota it frees.

Found: servers stopped (SHUTOFF) for more than N days, servers without a department tag, servers
in ERROR (Nova still counts them against the quota), volumes attached to nothing, floating IPs
associated with no port. "Stopped since" is the server's ``updated_at``: Nova moves it on every
change of the server, so it is the last time anything happened to it (a lower bound of the idle
time, never an overstatement).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from govops.cloud.ports import ERROR_STATES, META_DEPARTMENT, CloudPort, Project, Server
from govops.cloud.quota import department_project
from govops.departments import Department, Departments
from govops.i18n import Msg
from govops.observer import NullObserver, Observer

Resource = Literal["server", "volume", "floating_ip"]
FREES_KEYS = ("instances", "cores", "ram_mb", "volumes", "gigabytes", "floating_ips")


@dataclass(frozen=True)
class Orphan:
    resource: Resource
    id: str
    name: str
    reasons: tuple[str, ...]  # stopped, untagged, error, unattached, unassociated
    department: str | None  # code; None when neither its metadata nor its project names one
    project: str  # project name (or ID when the project is unknown)
    status: str
    idle_days: float | None = None
    detail: str = ""
    frees: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "id": self.id,
            "name": self.name,
            "reasons": list(self.reasons),
            "department": self.department,
            "project": self.project,
            "status": self.status,
            "idle_days": None if self.idle_days is None else round(self.idle_days, 1),
            "detail": self.detail,
            "frees": self.frees,
        }


@dataclass(frozen=True)
class OrphanReport:
    items: tuple[Orphan, ...]
    stopped_days: float
    taken_at: str

    def totals(self) -> dict[str, dict[str, int]]:
        """Quota freed per department code ("" for resources of no known department)."""
        out: dict[str, dict[str, int]] = {}
        for o in self.items:
            bucket = out.setdefault(o.department or "", dict.fromkeys(FREES_KEYS, 0))
            for k, v in o.frees.items():
                bucket[k] += v
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "taken_at": self.taken_at,
            "stopped_days": self.stopped_days,
            "items": [o.to_dict() for o in self.items],
            "totals": self.totals(),
        }


def _age_days(stamp: str | None, now: datetime) -> float | None:
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # Nova's timestamps are UTC, sometimes without the zone
    return max(0.0, (now - when).total_seconds() / 86400)


class _Owners:
    """Which department a resource belongs to: its own tag when it names one, else its project's."""

    def __init__(self, departments: Departments, projects: list[Project]) -> None:
        self.codes = {d.code for d in departments}
        by_project = departments.by_project()
        self.project_names = {p.id: p.name for p in projects}
        self.by_project_id = {p.id: by_project[p.name].code for p in projects if p.name in by_project}

    def of(self, project_id: str | None, metadata: dict[str, str] | None = None) -> str | None:
        tagged = (metadata or {}).get(META_DEPARTMENT)
        if tagged in self.codes:
            return tagged
        return self.by_project_id.get(project_id or "")

    def project(self, project_id: str | None) -> str:
        return self.project_names.get(project_id or "", project_id or "")


def _server_orphan(s: Server, owners: _Owners, stopped_days: float, now: datetime) -> Orphan | None:
    reasons = []
    idle = _age_days(s.updated_at, now)
    if s.status == "SHUTOFF" and idle is not None and idle >= stopped_days:
        reasons.append("stopped")
    if not s.metadata.get(META_DEPARTMENT):
        reasons.append("untagged")
    if s.status in ERROR_STATES:
        reasons.append("error")
    if not reasons:
        return None
    detail = s.fault or ""
    if "stopped" in reasons:
        detail = f"stopped, last change {idle:.0f} days ago" + (f"; {detail}" if detail else "")
    return Orphan(
        "server",
        s.id,
        s.name,
        tuple(reasons),
        owners.of(s.project_id, dict(s.metadata)),
        owners.project(s.project_id),
        s.status,
        idle,
        detail,
        {"instances": 1, "cores": s.vcpus, "ram_mb": s.ram_mb},
    )


def find_orphans(
    cloud: CloudPort,
    departments: Departments,
    *,
    department: Department | None = None,
    stopped_days: float = 30,
    now: datetime | None = None,
    observer: Observer | None = None,
) -> OrphanReport:
    """Every reclaimable resource of one department's project, or of every project (admin)."""
    obs = observer or NullObserver()
    when = now or datetime.now(UTC)
    obs.started(3, Msg("progress.orphans"))
    if department is not None:
        project = department_project(cloud, department)
        projects, scope = [project], project.id
    else:
        projects, scope = cloud.projects(), None
    owners = _Owners(departments, projects)
    items: list[Orphan] = []
    for s in cloud.servers(scope):
        found = _server_orphan(s, owners, stopped_days, when)
        if found is not None:
            items.append(found)
    obs.advanced("servers", "ok")
    for v in cloud.volumes(scope):
        if v.attached_to or v.status not in ("available", "error"):
            continue
        items.append(
            Orphan(
                "volume",
                v.id,
                v.name,
                ("unattached",),
                owners.of(v.project_id, dict(v.metadata)),
                owners.project(v.project_id),
                v.status,
                _age_days(v.created_at, when),
                f"{v.size_gb} GiB",
                {"volumes": 1, "gigabytes": v.size_gb},
            )
        )
    obs.advanced("volumes", "ok")
    for f in cloud.floating_ips(scope):
        if f.port_id:
            continue
        items.append(
            Orphan(
                "floating_ip",
                f.id,
                f.address,
                ("unassociated",),
                owners.of(f.project_id),
                owners.project(f.project_id),
                f.status,
                frees={"floating_ips": 1},
            )
        )
    obs.advanced("floating IPs", "ok")
    obs.finished()
    items.sort(key=lambda o: (o.department or "~", o.resource, o.name, o.id))
    return OrphanReport(tuple(items), stopped_days, when.isoformat(timespec="seconds"))
