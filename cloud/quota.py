"""Department quotas against the cloud: what is used and free, pre-checks, and ``quota sync``.

The departments file names quotas in its own units (``ram_gb``, ``volume_gb``); the cloud in the
APIs' (``ram_mb``, ``gigabytes``). ``FILE_TO_CLOUD`` is the one place that maps between them.
A quota the file leaves out is never part of a sync plan, so govops never zeroes or resets it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from govops.cloud.ports import QUOTA_RESOURCES, CloudPort, Flavor, Project, QuotaSet, Shortfall
from govops.departments import Department, Departments
from govops.errors import NotFoundError
from govops.i18n import Joined, Msg
from govops.observer import NullObserver, Observer

# departments.yaml field -> (cloud resource, factor from the file's unit to the cloud's)
FILE_TO_CLOUD: dict[str, tuple[str, int]] = {
    "cores": ("cores", 1),
    "ram_gb": ("ram_mb", 1024),
    "instances": ("instances", 1),
    "volumes": ("volumes", 1),
    "volume_gb": ("gigabytes", 1),
    "floating_ips": ("floating_ips", 1),
    "ports": ("ports", 1),
}
RESOURCES = tuple(QUOTA_RESOURCES)


def wanted_limits(dept: Department) -> dict[str, int]:
    """The cloud limits the departments file asks for: only the fields it sets (-1 stays unlimited)."""
    out = {}
    for key, value in dept.quotas.set_fields().items():
        resource, factor = FILE_TO_CLOUD[key]
        out[resource] = value if value < 0 else value * factor
    return out


def department_project(port: CloudPort, dept: Department) -> Project:
    project = port.find_project(dept.project)
    if project is None:
        raise NotFoundError(
            Msg("err.cloud.no_project", dept=dept.code, project=dept.project),
            hint=Msg("err.cloud.hint_project"),
        )
    return project


@dataclass(frozen=True)
class DepartmentQuota:
    department: Department
    project: Project
    quotas: QuotaSet


@dataclass(frozen=True)
class QuotaReport:
    rows: tuple[DepartmentQuota, ...]
    missing: tuple[str, ...]  # department codes whose project is not in the cloud


READ_WORKERS = 8  # concurrent quota reads: 4 API calls per department, each mostly waiting


def _read_quotas(
    port: CloudPort,
    depts: list[Department],
    workers: int,
    observer: Observer,
    resources: Collection[str] | None = None,
) -> list[tuple[Department, Project | None, QuotaSet | None]]:
    """Each department's project (one listing for all) and quotas (``resources`` only, when given),
    read ``workers`` at a time, in the departments' order. A missing project gives (dept, None, None)."""
    from concurrent.futures import ThreadPoolExecutor

    projects = {p.name: p for p in port.projects()}

    def one(d: Department) -> tuple[Department, Project | None, QuotaSet | None]:
        project = projects.get(d.project)
        if project is None:
            observer.advanced(d.code, "missing", f"no project {d.project}")
            return d, None, None
        quotas = port.get_quotas(project.id, resources=resources)
        observer.advanced(d.code, "ok")
        return d, project, quotas

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, depts))


def quota_report(
    port: CloudPort,
    departments: Iterable[Department],
    observer: Observer | None = None,
    *,
    workers: int = READ_WORKERS,
    resources: Collection[str] | None = None,
) -> QuotaReport:
    """Each department's quotas; a department without a project is listed in ``missing``, not fatal.
    ``resources``: the quotas the caller needs (the APIs owning none of them are not asked)."""
    obs = observer or NullObserver()
    depts = list(departments)
    obs.started(len(depts), Msg("progress.quotas.read"))
    rows, missing = [], []
    for d, project, quotas in _read_quotas(port, depts, workers, obs, resources):
        if project is None or quotas is None:
            missing.append(d.code)
        else:
            rows.append(DepartmentQuota(d, project, quotas))
    obs.finished()
    return QuotaReport(tuple(rows), tuple(missing))


def server_needs(flavor: Flavor, *, count: int = 1, volume_gb: int = 0, ports: int = 1) -> dict[str, int]:
    """What ``count`` servers of ``flavor`` take from a quota (each with one volume when volume_gb)."""
    return {
        "cores": flavor.vcpus * count,
        "ram_mb": flavor.ram_mb * count,
        "instances": count,
        "volumes": count if volume_gb else 0,
        "gigabytes": volume_gb * count,
        "ports": ports * count,
    }


def add_needs(*needs: Mapping[str, int]) -> dict[str, int]:
    total: dict[str, int] = {}
    for need in needs:
        for k, v in need.items():
            total[k] = total.get(k, 0) + v
    return total


def shortfalls(quotas: QuotaSet, need: Mapping[str, int]) -> list[Shortfall]:
    """Each resource ``need`` asks more of than is free (unlimited and unreported ones never fall short)."""
    out = []
    for resource in RESOURCES:
        wanted = need.get(resource, 0)
        usage = quotas.get(resource)
        if wanted <= 0 or usage is None or usage.free is None:
            continue
        if wanted > usage.free:
            out.append(Shortfall(resource, wanted, usage.free))
    return out


def describe_shortfalls(dept_name: str, found: Iterable[Shortfall]) -> Msg:
    """``公安局 needs 32 cores, 12 free; needs 4 instances, 1 free``."""
    return Msg("err.quota.shortfalls", dept=dept_name, items=Joined(tuple(found), "; "))


# -- quota sync -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaChange:
    department: str  # code
    project_id: str
    resource: str
    current: int
    wanted: int
    in_use: int

    @property
    def below_use(self) -> bool:
        """The new limit is under what is already used: allowed by the APIs, but worth a warning."""
        return 0 <= self.wanted < self.in_use


@dataclass(frozen=True)
class SyncPlan:
    changes: tuple[QuotaChange, ...]
    unchanged: int  # resources the file sets that already match
    missing_projects: tuple[str, ...]  # department codes whose project is not in the cloud

    def by_project(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for c in self.changes:
            out.setdefault(c.project_id, {})[c.resource] = c.wanted
        return out


def plan_sync(
    port: CloudPort, departments: Departments | Iterable[Department], *, workers: int = READ_WORKERS
) -> SyncPlan:
    changes: list[QuotaChange] = []
    missing: list[str] = []
    unchanged = 0
    depts = [d for d in departments if wanted_limits(d)]
    for d, project, current in _read_quotas(port, depts, workers, NullObserver()):
        if project is None or current is None:
            missing.append(d.code)
            continue
        for resource, value in wanted_limits(d).items():
            usage = current.get(resource)
            if usage is None:
                continue  # the API owning it is not in this cloud: nothing to set
            if usage.limit == value:
                unchanged += 1
                continue
            changes.append(QuotaChange(d.code, project.id, resource, usage.limit, value, usage.in_use))
    return SyncPlan(tuple(changes), unchanged, tuple(missing))


@dataclass(frozen=True)
class SyncResult:
    applied: tuple[str, ...]  # department codes
    failed: tuple[tuple[str, str], ...]  # (code, error)


def apply_sync(port: CloudPort, plan: SyncPlan, observer: Observer | None = None) -> SyncResult:
    """Set exactly the planned limits, department by department; one failure does not stop the rest."""
    from govops.errors import GovopsError

    obs = observer or NullObserver()
    per_project = plan.by_project()
    code_of = {c.project_id: c.department for c in plan.changes}
    obs.started(len(per_project), Msg("progress.quotas.set"))
    applied, failed = [], []
    for project_id, limits in per_project.items():
        code = code_of[project_id]
        try:
            port.set_quotas(project_id, limits)
        except GovopsError as exc:
            failed.append((code, exc.message))
            obs.advanced(code, "failed", exc.message)
            continue
        applied.append(code)
        obs.advanced(code, "changed")
    obs.finished()
    return SyncResult(tuple(applied), tuple(failed))
