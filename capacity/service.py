"""Capacity per department and for the city: quota, allocated, actually used, utilisation, forecasts.

Sources, each behind its port:

- **allocated and quota** (vCPU, RAM, volume GiB, instances): OpenStack through ``CloudPort`` when a
  cloud is given (the same figures as ``openstack quota show --usage``), else the openstack-exporter's
  ``openstack_{nova,cinder}_limits_*`` gauges in Prometheus. Their daily history (exporter) gives the
  allocation growth and the days until each quota is reached.
- **actually used** (Prometheus, libvirt exporter): CPU cores from ``rate()`` of the CPU-time counter,
  memory used (available - usable), disk written (block allocation), each with what the running
  VMs were given (vCPUs, memory, disk capacity).

Queries are batched by department (``sum by (department)``): seven requests give every figure of
every department, whatever their number: three usage range queries (sent side by side), the sizes
the running VMs were given at the end, the CPU mean, and the quota/allocation history and the
hypervisors, each of the unions one request for several metrics told apart by a ``label_replace``
tag. The service never prints: it returns a ``CapacityReport`` and reports each request to the observer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from govops.capacity import forecast as fc
from govops.capacity import metrics as m
from govops.capacity import rules
from govops.capacity.labels import Labelling
from govops.capacity.ports import BadQuery, MetricsError, MetricsPort, Series
from govops.capacity.rules import SeriesChoice
from govops.departments import Department
from govops.errors import InputError
from govops.i18n import Msg, Text
from govops.observer import NullObserver, Observer

if TYPE_CHECKING:
    from govops.capacity.cloudfull import CloudFull
    from govops.capacity.headroom import CloudHeadroom
    from govops.capacity.rightsize import RightsizeReport
    from govops.cloud.ports import CloudPort
    from govops.store import Store

SCHEMA = "govops.capacity/1"
GIB = 1024**3
RESOURCES = ("cpu", "ram", "storage", "instances")
USED_RESOURCES = ("cpu", "ram", "storage")
UNITS = {"cpu": "cores", "ram": "GiB", "storage": "GiB", "instances": "VMs"}
TAG = "govops_series"  # the label a batched query's parts are told apart by
USAGE_WORKERS = 3  # usage range queries in flight at once: Prometheus evaluates each on its own cores
MAX_POINTS = 11000  # Prometheus refuses range queries with more points per series
P95 = 0.95

# (exporter metric, divisor to the report's unit) for each resource's quota and allocation
_LIMITS: dict[str, tuple[tuple[str, float], tuple[str, float]]] = {
    "cpu": ((m.Q_VCPUS_MAX, 1.0), (m.Q_VCPUS_USED, 1.0)),
    "ram": ((m.Q_MEMORY_MAX, 1024.0), (m.Q_MEMORY_USED, 1024.0)),  # MiB -> GiB
    "storage": ((m.Q_VOLUME_MAX, 1.0), (m.Q_VOLUME_USED, 1.0)),
    "instances": ((m.Q_INSTANCES_MAX, 1.0), (m.Q_INSTANCES_USED, 1.0)),
}
# CloudPort quota resource and divisor to the report's unit
_CLOUD: dict[str, tuple[str, float]] = {
    "cpu": ("cores", 1.0),
    "ram": ("ram_mb", 1024.0),
    "storage": ("gigabytes", 1.0),
    "instances": ("instances", 1.0),
}


@dataclass(frozen=True)
class Options:
    at: float  # evaluation time (Unix seconds)
    window: float = 30 * fc.DAY  # seconds of history for usage statistics and growth
    step: float = 3600.0  # resolution of usage series (seconds)
    horizon_days: float = 90.0  # flag departments that reach a quota within this many days
    growth_threshold_pct: float = 20.0  # "growing": used CPU or RAM up this much per 30 days
    reclaim_below_pct: float = 20.0  # "over-allocated": p95 use below this share of allocated
    label: str = "department"  # the Prometheus label holding the department code
    # how series name departments (label / project name / project ID, info-metric join); None: ``label``
    labelling: Labelling | None = None
    confidence: float = 0.8  # of the forecasts' prediction intervals
    host_label: str = "host"  # the label naming a VM's hypervisor on libvirt series
    # False: quotas, allocations and their forecasts only (``capacity forecast`` as a table shows no
    # use): the usage queries, the bulk of Prometheus' work, are not sent and ``used`` stays None
    usage: bool = True
    # usage series: "auto" reads the recorded series of `govops capacity rules` when Prometheus holds them
    # for the whole window (at a 1-hour step), "raw" always the exporters' series
    series: SeriesChoice = "auto"

    @property
    def labels(self) -> Labelling:
        return self.labelling or Labelling(department_label=self.label)

    def check(self) -> None:
        if self.step < 1 or self.window < 2 * self.step:
            raise InputError(Msg("err.cap.window_two_steps", window=f"{self.window:g}", step=f"{self.step:g}"))
        points = self.window / self.step
        if points > MAX_POINTS:
            raise InputError(
                Msg("err.cap.too_many_points", points=f"{points:.0f}", max=MAX_POINTS),
                hint=Msg("err.cap.hint_points"),
            )
        if self.horizon_days <= 0:
            raise InputError(Msg("err.cap.horizon"))


@dataclass(frozen=True)
class Used:
    """What the department's VMs actually used over the window (Prometheus, libvirt exporter)."""

    mean: float | None
    p95: float | None
    latest: float | None
    provisioned: float | None  # what its running VMs were given at the end (vCPUs, RAM, disk)
    growth_per_day: float | None  # of the daily means (weekly seasonality removed)
    growth_pct_30d: float | None  # that growth over 30 days, as a share of the current level
    days: int  # whole days of history behind the growth figure


@dataclass(frozen=True)
class ResourceCapacity:
    resource: str  # cpu | ram | storage | instances
    unit: str
    quota: float | None  # None: unlimited or not reported
    allocated: float | None  # counted against the quota (shut-off servers included)
    used: Used | None  # None for instances
    allocation_growth_per_day: float | None
    days_to_quota: float | None  # 0: at or over quota; None: no quota or no growth
    quota_date: str | None
    forecast: str  # ok | at_quota | flat | short_history | no_quota | no_data
    # the range of days_to_quota at the report's confidence (forecast.days_range): conservative is the
    # earliest (upper prediction bound reaches the quota), aggressive the latest (lower bound does)
    days_to_quota_conservative: float | None = None
    days_to_quota_aggressive: float | None = None
    quota_date_conservative: str | None = None
    quota_date_aggressive: str | None = None
    from_snapshots_days: int = 0  # daily allocation points taken from stored snapshots (before Prometheus' data)

    @property
    def quota_pct(self) -> float | None:
        if self.quota is None or self.allocated is None or self.quota <= 0:
            return None
        return 100.0 * self.allocated / self.quota

    @property
    def utilisation_pct(self) -> float | None:
        """Mean use over what it is measured against: allocated vCPU/RAM, provisioned disk."""
        if self.used is None or self.used.mean is None:
            return None
        base = self.used.provisioned if self.resource == "storage" else self.allocated
        return 100.0 * self.used.mean / base if base else None

    @property
    def p95_utilisation_pct(self) -> float | None:
        if self.used is None or self.used.p95 is None or self.resource == "storage":
            return None
        return 100.0 * self.used.p95 / self.allocated if self.allocated else None

    @property
    def over_quota(self) -> bool:
        return self.quota is not None and self.allocated is not None and self.allocated > self.quota


@dataclass(frozen=True)
class DepartmentCapacity:
    code: str
    name_zh: str
    name_en: str
    project: str
    resources: Mapping[str, ResourceCapacity]
    near_quota: tuple[str, ...]  # resources reaching their quota within the horizon (or already at it)
    over_quota: tuple[str, ...]
    growing: bool
    reclaim: tuple[str, ...]  # resources allocated far above their use (p95 below the threshold)

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en

    @property
    def finding(self) -> bool:
        return bool(self.near_quota or self.over_quota)


@dataclass(frozen=True)
class Hypervisor:
    name: str
    az: str
    vcpus: float
    vcpus_used: float
    memory_gib: float
    memory_used_gib: float
    running_vms: float


@dataclass(frozen=True)
class CapacityReport:
    at: float
    start: float
    end: float  # the window actually queried (aligned to the step)
    step: float
    horizon_days: float
    allocation_source: str  # openstack | prometheus
    data_end: float | None  # newest usage sample found
    departments: tuple[DepartmentCapacity, ...]
    city: Mapping[str, ResourceCapacity]
    hypervisors: tuple[Hypervisor, ...]
    warnings: tuple[Text, ...]
    queries: int
    options: Options = field(repr=False, compare=False, default=Options(at=0))
    # -- added for capacity planning (all optional: a report without them is as before) --
    # the city's daily allocation per resource (report units), from Prometheus and snapshots
    allocation_history: Mapping[str, tuple[tuple[float, float], ...]] = field(default_factory=dict, repr=False)
    headroom: CloudHeadroom | None = None  # Placement's capacity, allocated, free and free slots
    cloud_full: Mapping[str, CloudFull] = field(default_factory=dict)  # cpu, ram: when the cloud is full
    rightsize: RightsizeReport | None = None  # idle, oversized and long-stopped VMs per department
    snapshot_days: int = 0  # days of the window served from stored snapshots (Prometheus no longer holds them)
    failed_sources: tuple[str, ...] = ()  # "prometheus", "placement": a source failed, the rest is shown
    usage_series: str = "raw"  # recorded (`govops capacity rules`) | raw: which series the use figures come from

    @property
    def findings(self) -> tuple[DepartmentCapacity, ...]:
        return tuple(d for d in self.departments if d.finding)


# -- queries -----------------------------------------------------------------------------------------


def department_keys(
    departments: Sequence[Department],
    lab: Labelling,
    cloud: CloudPort | None = None,
    project_ids: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Department code -> the value its series carry under ``lab``: the code, the project's name
    (departments.yaml ``project``) or its ID (``project_ids``, else from the cloud's project list)."""
    if lab.department_from == "label":
        return {d.code: d.code for d in departments}
    if lab.department_from == "project_name":
        return {d.code: d.project for d in departments}
    ids = dict(project_ids or {})
    if not ids and cloud is not None:
        by_name = {p.name: p.id for p in cloud.projects()}
        ids = {d.code: by_name[d.project] for d in departments if d.project in by_name}
    if not ids:
        raise InputError(
            Msg("err.cap.project_id_needs_cloud"),
            hint=Msg("err.cap.hint_project_id"),
        )
    return {d.code: ids[d.code] for d in departments if d.code in ids}


def duration(seconds: float) -> str:
    """A PromQL duration: whole seconds (PromQL has no exponent notation)."""
    return f"{max(1, round(seconds))}s"


def _selector(metric: str, label: str, codes: Sequence[str] | None) -> str:
    if not codes:
        return metric
    # codes are validated as [a-z][a-z0-9-]*: nothing to escape
    return f'{metric}{{{label}=~"{"|".join(codes)}"}}'


def _vm_part(
    lab: Labelling, codes: Sequence[str] | None, lookback: str
) -> tuple[str, Callable[[str], str], Callable[[str], str]]:
    """(the ``by`` label, a selector maker, a per-VM wrapper) for VM expressions under ``lab``."""
    return lab.vm_key, (lambda metric: lab.vm_selector(metric, codes)), (lambda expr: lab.vm(expr, codes, lookback))


def union(parts: Mapping[str, str]) -> str:
    """One query returning several expressions, each tagged ``TAG=name`` so they stay apart."""
    return " or ".join(f'label_replace({expr}, "{TAG}", "{name}", "", "")' for name, expr in parts.items())


def usage_queries(label: str | Labelling, step: float, codes: Sequence[str] | None = None) -> dict[str, str]:
    """The usage series, one range query each. Not one union: Prometheus evaluates ``or`` between
    range results step by step, which made the union several times slower than its parts. ``codes``:
    values of the grouping label to keep (department codes, or project names/IDs)."""
    key, s, j = _vm_part(Labelling.of(label), codes, duration(2 * step))
    by = f"sum by ({key})"
    last = duration(step)
    # a range just short of two steps holds two samples at the step's resolution whether Prometheus
    # closes ranges at their start (2.x) or not (3.x); with finer scrapes it is a 2-step mean
    rate = duration(2 * step - 1)
    mem_used = f"last_over_time({s(m.MEM_AVAILABLE)}[{last}]) - last_over_time({s(m.MEM_USABLE)}[{last}])"
    return {
        "cpu_used": f"{by} ({j(f'rate({s(m.CPU_SECONDS)}[{rate}])')})",
        "ram_used": f"{by} ({j(mem_used)})",
        "storage_used": f"{by} ({j(f'last_over_time({s(m.DISK_ALLOCATION)}[{last}])')})",
    }


def provisioned_query(label: str | Labelling, step: float, codes: Sequence[str] | None = None) -> str:
    """What the running VMs were given at the report time (vCPUs, memory, disk size): one instant
    request. Only the latest value is reported, so no range query carries it over the window."""
    lookback = duration(2 * step)
    key, s, j = _vm_part(Labelling.of(label), codes, lookback)
    by = f"sum by ({key})"
    parts = {
        "cpu_prov": f"{by} ({j(f'last_over_time({s(m.VCPUS)}[{lookback}])')})",
        "ram_prov": f"{by} ({j(f'last_over_time({s(m.MEM_AVAILABLE)}[{lookback}])')})",
        "storage_prov": f"{by} ({j(f'last_over_time({s(m.DISK_CAPACITY)}[{lookback}])')})",
    }
    return union(parts)


def cpu_mean_query(label: str | Labelling, window: float, codes: Sequence[str] | None = None) -> str:
    """Mean cores over the whole window, exact from the counter (not from the sampled series)."""
    key, s, j = _vm_part(Labelling.of(label), codes, duration(window))
    return f"sum by ({key}) ({j(f'rate({s(m.CPU_SECONDS)}[{duration(window)}])')})"


def limits_lookback(step: float) -> str:
    """Two usage steps, at most a day (openstack-exporter is scraped every few minutes)."""
    return duration(min(2 * step, fc.DAY))


def limits_query(label: str | Labelling, codes: Sequence[str] | None = None, lookback: str = "1d") -> str:
    """Quotas and allocations per department, one value a day (range query at a 1-day step): the
    latest sample within ``lookback`` before each day's end. A short lookback (two usage steps) reads
    about half the samples of a whole day's and finds the exporter's value just as well."""
    lab = Labelling.of(label)
    key = lab.tenant_key
    parts: dict[str, str] = {}
    for resource, ((q_metric, _), (a_metric, _)) in _LIMITS.items():
        for kind, metric in (("quota", q_metric), ("alloc", a_metric)):
            parts[f"{resource}_{kind}"] = (
                f"sum by ({key}) (last_over_time({lab.tenant_selector(metric, codes)}[{lookback}]))"
            )
    return union(parts)


def hypervisor_query(window: float) -> str:
    by = "sum by (hostname, availability_zone)"
    metrics = {
        "vcpus": m.HV_VCPUS,
        "vcpus_used": m.HV_VCPUS_USED,
        "memory": m.HV_MEMORY,
        "memory_used": m.HV_MEMORY_USED,
        "running": m.HV_RUNNING,
    }
    return union({k: f"{by} (last_over_time({v}[{duration(window)}]))" for k, v in metrics.items()})


# -- figures -------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks, as numpy's default and Prometheus' quantile."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _add(series: Iterable[Sequence[tuple[float, float]]]) -> list[tuple[float, float]]:
    """Point-wise sum by timestamp (a series missing a point adds nothing there)."""
    total: dict[float, float] = {}
    for points in series:
        for t, v in points:
            total[t] = total.get(t, 0.0) + v
    return sorted(total.items())


def _fill(points: Sequence[tuple[float, float]], grid: Sequence[float]) -> list[tuple[float, float]]:
    """The series on every grid time from its first point on, 0 where it has none: a department's
    sum disappears when its last VM is shut off, and from then on it uses nothing."""
    if not points:
        return []
    have = dict(points)
    first = points[0][0]
    return [(t, have.get(t, 0.0)) for t in grid if t >= first]


def _used(
    points: Sequence[tuple[float, float]],
    prov: Sequence[tuple[float, float]],
    step: float,
    exact_mean: float | None,
    grid: Sequence[float],
) -> Used | None:
    points = _fill(points, grid)
    if not points:
        return None
    values = [v for _, v in points]
    daily = fc.daily_means(points, step)
    f = fc.fit([d for d, _ in daily], [v for _, v in daily], weekdays=[fc.weekday(d) for d, _ in daily])
    growth = f.slope_per_day if f else None
    # relative to the window's mean level: the fitted end level nears zero when VMs were shut off
    level = sum(v for _, v in daily) / len(daily) if daily else 0.0
    pct = 100.0 * growth * 30 / level if growth is not None and level > 0 else None
    return Used(
        mean=exact_mean if exact_mean is not None else sum(values) / len(values),
        p95=percentile(values, P95),
        latest=values[-1],
        provisioned=prov[-1][1] if prov else 0.0,  # none at the end: every VM was gone
        growth_per_day=growth,
        growth_pct_30d=pct,
        days=f.days if f else len(daily),
    )


def _resource(
    resource: str,
    quota: float | None,
    allocated: float | None,
    history: Sequence[tuple[float, float]],
    used: Used | None,
    at: float,
    confidence: float = 0.8,
) -> ResourceCapacity:
    f = fc.fit([t / fc.DAY for t, _ in history], [v for _, v in history])
    growth = f.slope_per_day if f else None
    days = fc.days_to_limit(allocated, quota, growth) if allocated is not None else None
    low, high = (
        fc.days_range(allocated, quota, f, confidence) if allocated is not None and days is not None else (None, None)
    )
    if allocated is None:
        status = "no_data"
    elif quota is None:
        status = "no_quota"
    elif allocated >= quota:
        status = "at_quota"
    elif f is None:
        status = "short_history"
    elif days is None:
        status = "flat"
    else:
        status = "ok"
    return ResourceCapacity(
        resource=resource,
        unit=UNITS[resource],
        quota=quota,
        allocated=allocated,
        used=used,
        allocation_growth_per_day=growth,
        days_to_quota=days,
        quota_date=fc.date_after(at, days),
        forecast=status,
        days_to_quota_conservative=low,
        days_to_quota_aggressive=high,
        quota_date_conservative=fc.date_after(at, low),
        quota_date_aggressive=fc.date_after(at, high),
    )


@dataclass
class _Figures:
    """Everything known about one department (or the city) before it becomes a result."""

    used: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # cpu_used, ram_prov, ...
    limits: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # cpu_quota, cpu_alloc, ...
    cloud: dict[str, tuple[float | None, float]] = field(default_factory=dict)  # resource -> (quota, allocated)
    cpu_mean: float | None = None


# snapshot "used" resource -> (usage series tag, factor from report units to the series' units)
_SNAPSHOT_USED = {"cpu": ("cpu", 1.0), "ram": ("ram", float(GIB)), "storage": ("storage", float(GIB))}


def _grid(start: float, end: float, step: float) -> list[float]:
    return [start + i * step for i in range(int((end - start) // step) + 1)]


def _scale(points: Sequence[tuple[float, float]], divisor: float) -> list[tuple[float, float]]:
    return [(t, v / divisor) for t, v in points]


def _build(fig: _Figures, opts: Options, end: float, source: str, grid: Sequence[float]) -> dict[str, ResourceCapacity]:
    out: dict[str, ResourceCapacity] = {}
    for resource in RESOURCES:
        (_, q_div), (_, a_div) = _LIMITS[resource]
        q_hist = _scale(fig.limits.get(f"{resource}_quota", []), q_div)
        a_hist = _scale(fig.limits.get(f"{resource}_alloc", []), a_div)
        if source == "openstack":
            quota, allocated = fig.cloud.get(resource, (None, math.nan))
            alloc: float | None = None if math.isnan(allocated) else allocated
        else:
            quota = q_hist[-1][1] if q_hist else None
            alloc = a_hist[-1][1] if a_hist else None
        if quota is not None and quota < 0:
            quota = None  # -1: unlimited
        used = None
        if resource in USED_RESOURCES:
            div = 1.0 if resource == "cpu" else GIB
            used = _used(
                _scale(fig.used.get(f"{resource}_used", []), div),
                _scale(fig.used.get(f"{resource}_prov", []), div),
                opts.step,
                fig.cpu_mean if resource == "cpu" else None,
                grid,
            )
        out[resource] = _resource(resource, quota, alloc, a_hist, used, end, opts.confidence)
    return out


def _flags(
    res: Mapping[str, ResourceCapacity], opts: Options
) -> tuple[tuple[str, ...], tuple[str, ...], bool, tuple[str, ...]]:
    near = tuple(r for r, x in res.items() if x.days_to_quota is not None and x.days_to_quota <= opts.horizon_days)
    over = tuple(r for r, x in res.items() if x.over_quota)
    growing = any(
        x.used is not None and x.used.growth_pct_30d is not None and x.used.growth_pct_30d >= opts.growth_threshold_pct
        for r, x in res.items()
        if r in ("cpu", "ram")
    )
    reclaim = tuple(
        r for r in ("cpu", "ram") if (p := res[r].p95_utilisation_pct) is not None and p < opts.reclaim_below_pct
    )
    return near, over, growing, reclaim


class CapacityService:
    """Capacity figures from a ``MetricsPort`` (and a ``CloudPort`` for allocations when given)."""

    def __init__(
        self,
        metrics: MetricsPort,
        cloud: CloudPort | None = None,
        observer: Observer | None = None,
        *,
        project_ids: Mapping[str, str] | None = None,
        store: Store | None = None,
    ) -> None:
        self.store = store  # daily snapshots for the part of a window Prometheus no longer holds
        self.metrics = metrics
        self.cloud = cloud
        self.observer = observer or NullObserver()
        self.project_ids = project_ids  # department code -> project ID, for department_from: project_id

    def _split(
        self, series: Iterable[Series], label: str, code_of: Mapping[str, str] | None = None
    ) -> dict[str, dict[str, list[tuple[float, float]]]]:
        """{department code: {tag: points}} (series of a key ``code_of`` does not know keep the key)."""
        out: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for s in series:
            key = s.labels.get(label)
            tag = s.labels.get(TAG)
            if key and tag:
                code = (code_of or {}).get(key, key)
                out.setdefault(code, {})[tag] = list(s.points)
        return out

    def department_keys(self, departments: Sequence[Department], lab: Labelling) -> dict[str, str]:
        return department_keys(departments, lab, self.cloud, self.project_ids)

    def _usage(
        self,
        parts: Mapping[str, str],
        start: float,
        end: float,
        step: float,
        label: str,
        code_of: Mapping[str, str] | None = None,
    ) -> dict[str, dict[str, list[tuple[float, float]]]]:
        """{department code: {part: points}}, the parts' range queries sent side by side."""
        from concurrent.futures import ThreadPoolExecutor

        def one(tag: str, promql: str) -> tuple[str, list[Series]]:
            series = self.metrics.query_range(promql, start, end, step)
            self.observer.advanced(tag, "ok", f"{len(series)} series")
            return tag, series

        out: dict[str, dict[str, list[tuple[float, float]]]] = {}
        with ThreadPoolExecutor(max_workers=USAGE_WORKERS) as pool:
            for tag, series in pool.map(lambda kv: one(*kv), parts.items()):
                for s in series:
                    key = s.labels.get(label)
                    if key:
                        out.setdefault((code_of or {}).get(key, key), {})[tag] = list(s.points)
        return out

    def report(self, departments: Sequence[Department], opts: Options, *, only: bool = False) -> CapacityReport:
        """Capacity of ``departments``; ``only``: they are a selection (``--dept``), so queries are
        filtered to them and Prometheus data of other departments is not reported as unknown."""
        opts.check()
        obs = self.observer
        lab = opts.labels
        keys = self.department_keys(departments, lab)
        code_of = {v: k for k, v in keys.items()}
        codes = [keys[d.code] for d in departments if d.code in keys] if only else None
        end = math.floor(opts.at / opts.step) * opts.step
        start = end - math.floor(opts.window / opts.step) * opts.step
        day_start = end - max(1, math.floor(opts.window / fc.DAY)) * fc.DAY
        warnings: list[Text] = []
        choice = rules.Choice("raw")
        try:
            choice = rules.choose(
                self.metrics,
                lab,
                rules.DEPARTMENT_SERIES if opts.usage else rules.LIMIT_SERIES,
                end=end,
                window=end - start,
                step=opts.step,
                wanted=opts.series,
                host_label=opts.host_label,
            )
        except MetricsError as exc:
            if isinstance(exc, BadQuery):
                raise
            choice = rules.Choice("raw")  # the usage queries below meet the same failure and say so
        if choice.note:
            warnings.append(choice.note)
        recorded = choice.series == "recorded"
        if not opts.usage:
            parts = {}
        elif recorded:
            parts = rules.recorded_usage_queries(lab, codes)
        else:
            parts = usage_queries(lab, opts.step, codes)
        probes = 1 if opts.series != "raw" and opts.step == rules.RULES_STEP else 0
        total = len(parts) + (4 if opts.usage else 2) + (1 if self.cloud is not None else 0)
        obs.started(total, Msg("progress.cap.prometheus"))

        from concurrent.futures import ThreadPoolExecutor

        # the cloud's quota reads (a few requests per department) run while Prometheus answers
        cloud_pool = ThreadPoolExecutor(max_workers=1)
        cloud_f = cloud_pool.submit(self._cloud, departments) if self.cloud is not None else None
        cloud_pool.shutdown(wait=False)
        usage: dict[str, dict[str, list[tuple[float, float]]]] = {}
        limits: dict[str, dict[str, list[tuple[float, float]]]] = {}
        cpu_mean: dict[str, float] = {}
        hv: tuple[Hypervisor, ...] = ()
        failed: list[str] = []
        try:
            # the three small requests run while the usage range queries are evaluated
            with ThreadPoolExecutor(max_workers=1) as side:
                if opts.usage:
                    mean_q = (
                        rules.recorded_cpu_mean_query(lab, end - start, codes)
                        if recorded
                        else cpu_mean_query(lab, end - start, codes)
                    )
                    mean_f = side.submit(self.metrics.query, mean_q, end)
                limits_f = side.submit(
                    self.metrics.query_range,
                    rules.recorded_limits_query(lab, codes)
                    if recorded
                    else limits_query(lab, codes, limits_lookback(opts.step)),
                    day_start,
                    end,
                    fc.DAY,
                )
                hv_f = side.submit(self._hypervisors, end - start, end)
                if opts.usage:
                    prov_f = side.submit(self.metrics.query, provisioned_query(lab, opts.step, codes), end)
                    usage = self._usage(parts, start, end, opts.step, lab.vm_key, code_of)
                    for sample in prov_f.result():
                        k, tag = sample.labels.get(lab.vm_key), sample.labels.get(TAG)
                        if k and tag:
                            usage.setdefault(code_of.get(k, k), {})[tag] = [(end, sample.value)]
                    obs.advanced("provisioned", "ok")
                    cpu_mean = {
                        code_of.get(k, k): s.value for s in mean_f.result() if (k := s.labels.get(lab.vm_key, ""))
                    }
                    obs.advanced("cpu mean", "ok")
                limits = self._split(limits_f.result(), lab.tenant_key, code_of)
                obs.advanced("quotas", "ok", f"{len(limits)} departments")
                hv = hv_f.result()
                obs.advanced("hypervisors", "ok", f"{len(hv)} hypervisors")
        except MetricsError as exc:
            # with the cloud (or stored snapshots) there is still something to show: say what is missing
            if isinstance(exc, BadQuery) or (self.cloud is None and self.store is None):
                raise
            warnings.append(Msg("cap.warn.prom_failed", error=exc))
            failed.append("prometheus")
            usage, limits, cpu_mean, hv = {}, {}, {}, ()

        snapshot_days = 0
        if self.store is not None:
            snapshot_days = self._from_snapshots(departments, usage, limits, start, end, day_start, opts.step)
            if snapshot_days:
                cpu_mean = {}  # the counter's exact mean covers Prometheus' days only: use the daily points
                warnings.append(Msg("cap.warn.snapshot_days", days=snapshot_days))

        cloud_figures: dict[str, dict[str, tuple[float | None, float]]] = {}
        source = "prometheus"
        if cloud_f is not None:
            source = "openstack"
            cloud_figures, missing = cloud_f.result()
            if missing:
                warnings.append(Msg("cap.warn.no_project", names=", ".join(missing)))
            obs.advanced("openstack quotas", "ok", f"{len(cloud_figures)} departments")

        known = {d.code for d in departments}
        unknown = sorted((set(usage) | set(limits)) - known)
        if unknown and not only:
            what = "cap.warn.unknown_departments" if lab.department_from == "label" else "cap.warn.unknown_projects"
            warnings.append(Msg(what, names=", ".join(unknown)))

        figures: dict[str, _Figures] = {}
        for d in departments:
            figures[d.code] = _Figures(
                used=usage.get(d.code, {}),
                limits=limits.get(d.code, {}),
                cloud=cloud_figures.get(d.code, {}),
                cpu_mean=cpu_mean.get(d.code),
            )
        without = [d.code for d in departments if not usage.get(d.code)] if opts.usage else []
        if without and len(without) < len(departments):
            warnings.append(Msg("cap.warn.no_usage", names=", ".join(without)))
        elif without:
            warnings.append(Msg("cap.warn.no_usage_any"))

        grid = sorted(
            {t for fig in figures.values() for tag, pts in fig.used.items() if tag.endswith("_used") for t, _ in pts}
        )
        data_end = grid[-1] if grid else None
        if data_end is not None and data_end < end - 2 * opts.step:
            warnings.append(Msg("cap.warn.stale", hours=f"{(end - data_end) / 3600:.1f}"))

        rows = []
        for d in departments:
            res = _build(figures[d.code], opts, end, source, grid)
            near, over, growing, reclaim = _flags(res, opts)
            rows.append(DepartmentCapacity(d.code, d.name_zh, d.name_en, d.project, res, near, over, growing, reclaim))
        city_figures = _city(list(figures.values()))
        city = _build(city_figures, opts, end, source, grid)
        history = {r: tuple(_scale(city_figures.limits.get(f"{r}_alloc", []), _LIMITS[r][1][1])) for r in RESOURCES}
        obs.finished()
        return CapacityReport(
            at=opts.at,
            start=start,
            end=end,
            step=opts.step,
            horizon_days=opts.horizon_days,
            allocation_source=source,
            data_end=data_end,
            departments=tuple(rows),
            city=city,
            hypervisors=hv,
            warnings=tuple(warnings),
            queries=len(parts) + (4 if opts.usage else 2) + probes,
            options=opts,
            allocation_history=history,
            snapshot_days=snapshot_days,
            failed_sources=tuple(failed),
            usage_series=choice.series,
        )

    def _from_snapshots(
        self,
        departments: Sequence[Department],
        usage: dict[str, dict[str, list[tuple[float, float]]]],
        limits: dict[str, dict[str, list[tuple[float, float]]]],
        start: float,
        end: float,
        day_start: float,
        step: float,
    ) -> int:
        """Days of the window before Prometheus' first sample, filled in place from stored daily
        snapshots; returns how many days were filled."""
        from govops.capacity.snapshots import SCOPE_DEPARTMENT, load_daily

        firsts = [pts[0][0] for per in usage.values() for pts in per.values() if pts]
        first = min(firsts) if firsts else end + step
        if first <= start + step:
            return 0  # Prometheus holds the whole window
        assert self.store is not None
        daily = load_daily(self.store, SCOPE_DEPARTMENT, start, min(first, end + step))
        filled_days: set[str] = set()
        for d in departments:
            mine = daily.get(d.code, {})
            if not mine:
                continue
            used = usage.setdefault(d.code, {})
            lim = limits.setdefault(d.code, {})
            for day, data in sorted(mine.items()):
                day_t = fc.day_start_of(day)
                steps = [t for t in _grid(start, end, step) if day_t <= t < day_t + fc.DAY and t < first]
                for resource, (tag, scale) in _SNAPSHOT_USED.items():
                    value = (data.get("used_mean") or {}).get(resource)
                    prov = (data.get("provisioned") or {}).get(resource)
                    if value is not None and steps:
                        used.setdefault(f"{tag}_used", [])
                        used[f"{tag}_used"] = sorted([*used[f"{tag}_used"], *((t, value * scale) for t in steps)])
                        filled_days.add(day)
                    if prov is not None and steps:
                        used.setdefault(f"{tag}_prov", [])
                        used[f"{tag}_prov"] = sorted([*used[f"{tag}_prov"], *((t, prov * scale) for t in steps)])
                # the allocation history is daily: one point per day before Prometheus' first
                grid_t = day_start + math.floor((day_t + fc.DAY - 1 - day_start) / fc.DAY) * fc.DAY
                if grid_t < day_start or grid_t >= first:
                    continue
                for resource in RESOURCES:
                    div = _LIMITS[resource][0][1]
                    for kind, key in (("quota", "quota"), ("alloc", "allocated")):
                        v = (data.get(key) or {}).get(resource)
                        tag = f"{resource}_{kind}"
                        if v is not None and not any(t == grid_t for t, _ in lim.get(tag, [])):
                            lim[tag] = sorted([*lim.get(tag, []), (grid_t, v * div)])
                            filled_days.add(day)
        return len(filled_days)

    def _hypervisors(self, window: float, end: float) -> tuple[Hypervisor, ...]:
        rows: dict[tuple[str, str], dict[str, float]] = {}
        for s in self.metrics.query(hypervisor_query(window), end):
            key = (s.labels.get("hostname", ""), s.labels.get("availability_zone", ""))
            rows.setdefault(key, {})[s.labels.get(TAG, "")] = s.value
        return tuple(
            Hypervisor(
                name=name,
                az=az,
                vcpus=v.get("vcpus", 0.0),
                vcpus_used=v.get("vcpus_used", 0.0),
                memory_gib=v.get("memory", 0.0) / GIB,
                memory_used_gib=v.get("memory_used", 0.0) / GIB,
                running_vms=v.get("running", 0.0),
            )
            for (name, az), v in sorted(rows.items())
        )

    def _cloud(
        self, departments: Sequence[Department]
    ) -> tuple[dict[str, dict[str, tuple[float | None, float]]], list[str]]:
        from govops.cloud.quota import quota_report

        assert self.cloud is not None
        # only the quotas the report shows: Neutron's (ports, addresses), the slowest answer, is not asked
        report = quota_report(self.cloud, departments, resources=[name for name, _ in _CLOUD.values()])
        out: dict[str, dict[str, tuple[float | None, float]]] = {}
        for row in report.rows:
            fig: dict[str, tuple[float | None, float]] = {}
            for resource, (name, div) in _CLOUD.items():
                u = row.quotas.get(name)
                if u is not None:
                    fig[resource] = (None if u.unlimited else u.limit / div, u.in_use / div)
            out[row.department.code] = fig
        return out, list(report.missing)


def _city(figures: Sequence[_Figures]) -> _Figures:
    """The city as one department: every series summed point-wise, quotas summed (unlimited wins)."""
    city = _Figures()
    tags = {t for f in figures for t in f.used}
    city.used = {t: _add(f.used.get(t, []) for f in figures) for t in tags}
    ltags = {t for f in figures for t in f.limits}
    city.limits = {t: _add(f.limits.get(t, []) for f in figures) for t in ltags}
    for t in ltags:
        if t.endswith("_quota") and any(f.limits.get(t) and f.limits[t][-1][1] < 0 for f in figures):
            city.limits[t] = [(city.limits[t][-1][0], -1.0)]  # one unlimited department: the city is too
    means = [f.cpu_mean for f in figures if f.cpu_mean is not None]
    city.cpu_mean = sum(means) if means else None
    for resource in RESOURCES:
        pairs = [f.cloud[resource] for f in figures if resource in f.cloud]
        if pairs:
            quotas = [q for q, _ in pairs]
            quota = None if any(q is None for q in quotas) else sum(q for q in quotas if q is not None)
            city.cloud[resource] = (quota, sum(a for _, a in pairs))
    return city
