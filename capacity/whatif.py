"""What-if: would these VMs fit the department's quota and the cloud (``govops capacity whatif``)?

Nothing is created. The answer has four parts:

- **quota**: each resource the VMs take (cores, RAM, instances, volumes, volume GiB, ports) against
  what is free in the department's quota, as Nova/Cinder/Neutron would check it; a shortfall is named
  with its size ("cores, 12 short");
- **cloud**: the VMs placed host by host on Placement's free capacity (largest first, on the host
  with the most free vCPUs of the allowed zone), each resource class of a flavor on one host, as the
  scheduler would; per zone, the free slots of each requested flavor (``capacity cloud``);
- **runs out first**: the quota resource reached first after the addition (by days at the
  department's allocation growth when known, else by the smallest share left);
- **days earlier**: how much sooner each quota is reached given the department's growth (from the
  capacity report's allocation history).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from govops.capacity.headroom import PLACEMENT_NOTES, CloudHeadroom, HostHeadroom, flavor_needs, is_note
from govops.errors import GovopsError, InputError
from govops.i18n import Msg, Text
from govops.observer import NullObserver, Observer

if TYPE_CHECKING:
    from govops.capacity.labels import Labelling
    from govops.capacity.ports import MetricsPort
    from govops.capacity.service import CapacityReport
    from govops.cloud.ports import CloudPort, Flavor
    from govops.cloud.spec import BatchSpec
    from govops.departments import Department, Departments

_ADD = re.compile(r"^\s*(\d+)\s*[x×*]\s*(\S+)\s*$")
# quota resource -> capacity report resource and factor from the quota's unit to the report's
_REPORT_RESOURCE = {
    "cores": ("cpu", 1.0),
    "ram_mb": ("ram", 1 / 1024),
    "instances": ("instances", 1.0),
    "gigabytes": ("storage", 1.0),
}
QUOTA_ORDER = ("cores", "ram_mb", "instances", "volumes", "gigabytes", "ports")


@dataclass(frozen=True)
class Addition:
    count: int
    flavor: str
    az: str | None = None
    volume_gb: int = 0  # per VM (data volume and boot volume together)


def parse_add(text: str, az: str | None = None) -> Addition:
    """``40xm1.large`` (also ``40×m1.large``, ``40*m1.large``)."""
    match = _ADD.match(text)
    if not match or int(match.group(1)) < 1:
        raise InputError(Msg("err.cap.add_syntax", text=text))
    return Addition(int(match.group(1)), match.group(2), az)


def additions_of_spec(spec: BatchSpec) -> list[Addition]:
    """A ``cloud apply`` spec's VMs as additions (same flavor, zone and volumes grouped)."""
    groups: dict[tuple[str, str | None, int], int] = {}
    for vm in spec.vms:
        key = (vm.flavor, vm.az, vm.volume_gb)
        groups[key] = groups.get(key, 0) + 1
    return [Addition(n, f, az, gb) for (f, az, gb), n in groups.items()]


@dataclass(frozen=True)
class QuotaCheck:
    resource: str  # cores | ram_mb | instances | volumes | gigabytes | ports
    needed: int
    limit: int | None  # None: unlimited
    in_use: int
    free: int | None

    @property
    def short(self) -> int:
        return 0 if self.free is None else max(0, self.needed - self.free)

    @property
    def fits(self) -> bool:
        return self.short == 0

    @property
    def left_after(self) -> int | None:
        return None if self.free is None else self.free - self.needed


@dataclass(frozen=True)
class Placement:
    """How the VMs land on the cloud: per zone, placed and not placed VMs, and the free slots of
    each requested flavor there before the addition."""

    placed: Mapping[str, int]  # az -> VMs placed
    unplaced: Mapping[str, int]  # flavor -> VMs that found no host
    free_slots: Mapping[str, Mapping[str, int]]  # flavor -> az -> slots before the addition
    hosts: Mapping[str, int] = field(default_factory=dict)  # host -> VMs placed on it

    @property
    def fits(self) -> bool:
        return not any(self.unplaced.values())


@dataclass(frozen=True)
class Earlier:
    resource: str
    growth_per_day: float | None  # the department's allocation growth (quota units per day)
    days_before: float | None  # until the quota at today's growth, without the addition
    days_after: float | None  # with it
    days_earlier: float | None


@dataclass(frozen=True)
class WhatIf:
    department: str
    project: str
    additions: tuple[Addition, ...]
    quota: tuple[QuotaCheck, ...]
    placement: Placement | None  # None: Placement not readable (non-admin) or no cloud figures
    runs_out_first: str | None
    earlier: tuple[Earlier, ...]
    warnings: tuple[Text, ...] = ()

    @property
    def quota_fits(self) -> bool:
        return all(q.fits for q in self.quota)

    @property
    def cloud_fits(self) -> bool | None:
        return None if self.placement is None else self.placement.fits

    @property
    def fits(self) -> bool:
        return self.quota_fits and self.cloud_fits is not False

    @property
    def shortfalls(self) -> tuple[QuotaCheck, ...]:
        return tuple(q for q in self.quota if not q.fits)


# -- pure parts --------------------------------------------------------------------------------------


def place(
    hosts: Sequence[HostHeadroom], additions: Sequence[Addition], flavors: Mapping[str, Flavor]
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Place every VM on a host of its zone: largest flavors first, each on the host with the most free
    vCPUs that holds all of the flavor's resource classes. Returns (az -> placed, flavor -> unplaced,
    host -> placed)."""
    free = {h.name: {rc: r.free for rc, r in h.resources.items()} for h in hosts}
    max_unit = {h.name: {rc: r.max_unit for rc, r in h.resources.items()} for h in hosts}
    az_of = {h.name: h.az for h in hosts}
    vms = [(a.az, a.flavor) for a in additions for _ in range(a.count)]
    vms.sort(key=lambda v: (-flavors[v[1]].vcpus, -flavors[v[1]].ram_mb, v[1]))
    placed: dict[str, int] = {}
    unplaced: dict[str, int] = {}
    on_host: dict[str, int] = {}
    for az, name in vms:
        needs = flavor_needs(flavors[name])
        candidates = [
            h
            for h in free
            if (az is None or az_of[h] == az)
            and all(
                rc in free[h] and free[h][rc] >= n and (max_unit[h][rc] is None or n <= (max_unit[h][rc] or 0))
                for rc, n in needs.items()
            )
        ]
        if not candidates:
            unplaced[name] = unplaced.get(name, 0) + 1
            continue
        host = max(candidates, key=lambda h: (free[h].get("VCPU", 0), free[h].get("MEMORY_MB", 0), h))
        for rc, n in needs.items():
            free[host][rc] -= n
        placed[az_of[host]] = placed.get(az_of[host], 0) + 1
        on_host[host] = on_host.get(host, 0) + 1
    return placed, unplaced, on_host


def earlier(checks: Sequence[QuotaCheck], report: CapacityReport | None, code: str) -> list[Earlier]:
    """Days until each quota at the department's growth, before and after the addition."""
    dept = next((d for d in report.departments if d.code == code), None) if report else None
    out = []
    for q in checks:
        if q.resource not in _REPORT_RESOURCE or q.needed <= 0:
            continue
        name, factor = _REPORT_RESOURCE[q.resource]
        r = dept.resources.get(name) if dept else None
        growth = r.allocation_growth_per_day / factor if r and r.allocation_growth_per_day is not None else None
        if q.free is None or growth is None or growth <= 0:
            out.append(Earlier(q.resource, growth, None, None, None))
            continue
        before = max(0.0, q.free / growth)
        after = max(0.0, (q.free - q.needed) / growth)
        out.append(Earlier(q.resource, growth, before, after, before - after))
    return out


def runs_out_first(checks: Sequence[QuotaCheck], later: Sequence[Earlier]) -> str | None:
    """The quota resource reached first once the VMs are added."""
    short = [q for q in checks if not q.fits]
    if short:
        return max(short, key=lambda q: (q.short / max(1, q.needed), q.resource)).resource
    by_days = [(e.days_after, e.resource) for e in later if e.days_after is not None]
    if by_days:
        return min(by_days)[1]
    shares = [
        ((q.left_after or 0) / q.limit, QUOTA_ORDER.index(q.resource), q.resource)
        for q in checks
        if q.limit and q.limit > 0 and q.needed > 0 and q.left_after is not None
    ]
    return min(shares)[2] if shares else None


# -- the service -------------------------------------------------------------------------------------


class WhatIfService:
    def __init__(self, cloud: CloudPort, observer: Observer | None = None) -> None:
        self.cloud = cloud
        self.observer = observer or NullObserver()

    def whatif(
        self,
        department: Department,
        additions: Sequence[Addition],
        *,
        headroom: CloudHeadroom | None = None,
        report: CapacityReport | None = None,
        warnings: Sequence[Text] = (),
    ) -> WhatIf:
        """``headroom``: the cloud's (``HeadroomService``), None when it could not be read;
        ``report``: the department's capacity report, for its growth (None: no growth figures)."""
        from govops.cloud.quota import add_needs, department_project, server_needs

        if not additions:
            raise InputError(Msg("err.cap.nothing_to_add"))
        notes = list(warnings)
        flavors: dict[str, Flavor] = {}
        for a in additions:
            if a.flavor not in flavors:
                f = self.cloud.find_flavor(a.flavor)
                if f is None:
                    known = ", ".join(sorted(x.name for x in self.cloud.flavors()))
                    raise InputError(
                        Msg("err.vm.unknown_flavor", ref=a.flavor), hint=Msg("err.vm.hint_flavors", names=known)
                    )
                flavors[a.flavor] = f
        project = department_project(self.cloud, department)
        quotas = self.cloud.get_quotas(project.id)
        need = add_needs(*(server_needs(flavors[a.flavor], count=a.count, volume_gb=a.volume_gb) for a in additions))
        checks = []
        for resource in QUOTA_ORDER:
            n = need.get(resource, 0)
            u = quotas.get(resource)
            if u is None or n <= 0:
                continue
            checks.append(QuotaCheck(resource, n, None if u.unlimited else u.limit, u.in_use, u.free))
        placement = None
        if headroom is not None and headroom.placement:
            zones = {h.az for h in headroom.hosts}
            for a in additions:
                if a.az is not None and a.az not in zones:
                    raise InputError(
                        Msg("err.cap.unknown_az", az=a.az),
                        hint=Msg("err.cap.hint_known", names=", ".join(sorted(zones))),
                    )
            placed, unplaced, on_host = place(headroom.hosts, additions, flavors)
            slots = {s.flavor: dict(s.per_az) for s in headroom.flavors if s.flavor in flavors}
            placement = Placement(placed, unplaced, slots, on_host)
        elif headroom is not None:
            notes.extend(w for w in headroom.warnings if is_note(w, PLACEMENT_NOTES))
        later = earlier(checks, report, department.code)
        if report is None:
            notes.append(Msg("cap.warn.no_growth"))
        return WhatIf(
            department=department.code,
            project=project.name,
            additions=tuple(additions),
            quota=tuple(checks),
            placement=placement,
            runs_out_first=runs_out_first(checks, later),
            earlier=tuple(later),
            warnings=tuple(notes),
        )


def describe(w: WhatIf) -> str:
    """One line: ``fits`` or ``does not fit: cores, 12 short; cloud: 3 m1.large find no host``."""
    if w.fits:
        return "fits"
    parts = [f"{q.resource}, {q.short} short" for q in w.shortfalls]
    if w.placement is not None and not w.placement.fits:
        parts.append(
            "cloud: " + ", ".join(f"{n} {f} find no host" for f, n in sorted(w.placement.unplaced.items()) if n)
        )
    return "does not fit: " + "; ".join(parts)


def run_whatif(
    departments: Departments,
    department: Department,
    additions: Sequence[Addition],
    cloud: CloudPort,
    metrics: MetricsPort | None,
    *,
    at: float,
    window: str = "30d",
    labelling: Labelling | None = None,
    host_label: str = "host",
    observer: Observer | None = None,
    warnings: Sequence[Text] = (),
) -> WhatIf:
    """The what-if with its inputs gathered: the department's growth from its capacity report
    (Prometheus; a failure leaves the growth unknown, one note), the cloud's headroom (Placement;
    forbidden leaves the cloud part unknown, one note), then the check."""
    from govops.capacity.assemble import ReportRequest, build_report
    from govops.capacity.headroom import HeadroomService

    obs = observer or NullObserver()
    notes = list(warnings)
    report = None
    if metrics is not None:
        try:
            request = ReportRequest(dept=department.code, window=window, at=str(at))
            report = build_report(departments, metrics, cloud, request, labelling=labelling, observer=obs)
        except GovopsError as exc:
            if isinstance(exc, InputError):
                raise
            notes.append(Msg("cap.warn.error_because", error=exc, consequence=Msg("cap.warn.growth_unknown")))
    step = report.step if report is not None else 3600.0
    headroom = HeadroomService(cloud, metrics, obs, host_label=host_label).headroom(at, step=step)
    return WhatIfService(cloud, obs).whatif(department, additions, headroom=headroom, report=report, warnings=notes)
