"""Rightsizing: idle VMs, oversized VMs and VMs stopped for long (``govops capacity rightsize``).

Per VM, over the window: the p95 of its CPU use (cores, ``rate()`` of the libvirt CPU counter every
step) and of its memory used (available - usable, as its size now minus the p5 of usable). Then, for
running VMs:

- **idle**: p95 CPU below ``idle_cpu_pct`` % of its vCPUs, with data for (nearly) the whole window;
  deleting it frees its whole flavor;
- **oversized**: the smallest flavor of the cloud (fewest vCPUs, then least RAM) whose vCPUs hold p95
  CPU x ``headroom`` and whose RAM holds p95 memory x ``headroom`` is smaller than its own; resizing
  frees the difference (Nova does not shrink a root disk: a smaller disk is reported, not changed);
- **stopped**: SHUTOFF for more than ``stopped_days`` days (``govops cloud orphans``' rule); deleting it
  frees its flavor (Nova counts stopped servers against the quota).

One instant request (five tagged parts: subqueries over the window, sizes at the end) gives every
VM's figures, whatever their number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from govops.capacity import metrics as m
from govops.capacity import rules
from govops.capacity.labels import Labelling
from govops.capacity.ports import BadQuery, MetricsError, MetricsPort
from govops.capacity.rules import SeriesChoice
from govops.capacity.service import department_keys, duration
from govops.errors import GovopsError, InputError
from govops.i18n import Msg, Text
from govops.observer import NullObserver, Observer

if TYPE_CHECKING:
    from govops.cloud.ports import CloudPort, Flavor, Server
    from govops.departments import Department, Departments

Kind = Literal["idle", "oversized", "stopped"]
TAG = "govops_series"
MIB = 1024**2
COVERAGE = 0.9  # share of the window's steps a VM must have data for to be called idle


@dataclass(frozen=True)
class RightsizeOptions:
    at: float
    window: float = 30 * 86400.0
    step: float = 3600.0
    idle_cpu_pct: float = 5.0  # p95 CPU below this % of the vCPUs: idle
    headroom: float = 1.3  # the suggested flavor holds p95 x this
    stopped_days: float = 30.0
    series: SeriesChoice = "auto"  # "auto": the recorded series of `govops capacity rules` when they cover the window

    def check(self) -> None:
        if not 0 < self.idle_cpu_pct < 100:
            raise InputError(Msg("err.cap.idle_below", value=f"{self.idle_cpu_pct:g}"))
        if self.headroom < 1:
            raise InputError(Msg("err.cap.headroom", value=f"{self.headroom:g}"))
        if self.stopped_days < 0:
            raise InputError(Msg("err.cap.stopped_days"))
        if self.step < 1 or self.window < 2 * self.step or self.window / self.step > 11000:
            raise InputError(Msg("err.cap.window_steps"))


@dataclass(frozen=True)
class VmUse:
    """One VM's figures from Prometheus."""

    uuid: str
    name: str
    key: str  # the department label's value (code, project name or ID)
    host: str
    vcpus: float | None
    mem_available_gib: float | None
    cpu_p95: float | None  # cores
    mem_p95_gib: float | None
    coverage: float  # share of the window's steps with data
    running: bool  # data at the report time


@dataclass(frozen=True)
class RightsizeItem:
    kind: Kind
    id: str
    name: str
    department: str | None
    project: str
    host: str | None
    status: str
    flavor: str | None
    vcpus: int
    ram_mb: int
    cpu_p95_cores: float | None
    mem_p95_gib: float | None
    suggested_flavor: str | None  # oversized: the smaller flavor; idle/stopped: None (delete)
    frees_cores: int
    frees_ram_mb: int
    idle_days: float | None = None  # stopped: days since its last change
    disk_shrinks: bool = False  # the suggested flavor's root disk is smaller (Nova cannot resize down)

    @property
    def cpu_p95_pct(self) -> float | None:
        return 100.0 * self.cpu_p95_cores / self.vcpus if self.cpu_p95_cores is not None and self.vcpus else None

    @property
    def mem_p95_pct(self) -> float | None:
        if self.mem_p95_gib is None or not self.ram_mb:
            return None
        return 100.0 * self.mem_p95_gib * 1024 / self.ram_mb


@dataclass(frozen=True)
class RightsizeTotals:
    idle: int = 0
    oversized: int = 0
    stopped: int = 0
    frees_cores: int = 0
    frees_ram_mb: int = 0

    @property
    def frees_ram_gib(self) -> float:
        return self.frees_ram_mb / 1024


@dataclass(frozen=True)
class RightsizeReport:
    at: float
    options: RightsizeOptions
    items: tuple[RightsizeItem, ...]
    vms_seen: int  # VMs Prometheus reported in the window
    warnings: tuple[Text, ...] = ()
    failed_sources: tuple[str, ...] = ()
    totals: Mapping[str, RightsizeTotals] = field(default_factory=dict)  # department code ("" unknown)
    usage_series: str = "raw"  # recorded (`govops capacity rules`) | raw: which series the p95 figures come from

    @property
    def findings(self) -> bool:
        return bool(self.items)


# -- the query ---------------------------------------------------------------------------------------


def vm_query(
    lab: Labelling,
    window: float,
    step: float,
    host_label: str,
    values: Sequence[str] | None = None,
    *,
    recorded: bool = False,
) -> str:
    """Every VM's p95 CPU and memory over the window, its size, coverage and presence: one request.
    ``recorded``: the window parts from the recorded per-VM series (``rules``; a 1-hour step)."""
    by = rules.vm_by(lab, host_label)
    w, s = duration(window), duration(step)
    rate = duration(2 * step - 1)

    def sel(metric: str) -> str:
        return lab.vm_selector(metric, values)

    now = duration(2 * step)
    # (expression, how far back its VM's project labels are looked for on an info metric). Only VMs
    # running at the end are judged, so their size is read at the end, not over the window: a
    # ``last_over_time`` over 90 days decodes every sample of the series for its last one.
    parts = {
        "cpu_p95": (f"quantile_over_time(0.95, rate({sel(m.CPU_SECONDS)}[{rate}])[{w}:{s}])", w),
        # used = available - usable, available being the VM's memory size: p95(used) = size - p05(usable).
        # One series per VM instead of a subtraction matched VM by VM at every step (3x the cost on
        # 1,000 VMs x 90 days); a VM resized within the window is judged at its current size.
        "usable_p05": (f"quantile_over_time(0.05, {sel(m.MEM_USABLE)}[{w}:{s}])", w),
        "steps": (f"count_over_time({sel(m.VCPUS)}[{w}:{s}])", w),
        "vcpus": (f"last_over_time({sel(m.VCPUS)}[{now}])", now),
        "mem": (f"last_over_time({sel(m.MEM_AVAILABLE)}[{now}])", now),
    }
    done: dict[str, str] = {}
    if recorded:
        # the recorded series carry the department key already: no join
        done = dict(rules.recorded_vm_parts(lab, window, values))
    return " or ".join(
        f'label_replace({by} ({done.get(tag) or lab.vm(expr, values, back)}), "{TAG}", "{tag}", "", "")'
        for tag, (expr, back) in parts.items()
    )


def smallest_flavor(
    flavors: Sequence[Flavor], cores: float, ram_mb: float, current: Flavor | None = None
) -> Flavor | None:
    """The smallest flavor (fewest vCPUs, then least RAM) holding ``cores`` and ``ram_mb``; None when
    none is smaller than ``current``."""
    fits = [f for f in flavors if f.vcpus >= cores and f.ram_mb >= ram_mb]
    if not fits:
        return None
    best = min(fits, key=lambda f: (f.vcpus, f.ram_mb, f.disk_gb, f.name))
    if current is not None:
        if best.vcpus > current.vcpus or best.ram_mb > current.ram_mb:
            return None
        if (best.vcpus, best.ram_mb) == (current.vcpus, current.ram_mb):
            return None
    return best


def totals(items: Sequence[RightsizeItem]) -> dict[str, RightsizeTotals]:
    out: dict[str, dict[str, int]] = {}
    for i in items:
        t = out.setdefault(i.department or "", {"idle": 0, "oversized": 0, "stopped": 0, "cores": 0, "ram": 0})
        t[i.kind] += 1
        t["cores"] += i.frees_cores
        t["ram"] += i.frees_ram_mb
    return {
        k: RightsizeTotals(v["idle"], v["oversized"], v["stopped"], v["cores"], v["ram"])
        for k, v in sorted(out.items())
    }


# -- the service -------------------------------------------------------------------------------------


class RightsizeService:
    def __init__(
        self,
        metrics: MetricsPort | None,
        cloud: CloudPort | None,
        observer: Observer | None = None,
        *,
        labelling: Labelling | None = None,
        host_label: str = m.VM_HOST,
    ) -> None:
        self.metrics = metrics
        self.cloud = cloud
        self.observer = observer or NullObserver()
        self.labelling = labelling or Labelling()
        self.host_label = host_label
        self.choice = rules.Choice("raw")  # which series the last vm_use read

    def vm_use(self, keys: Mapping[str, str], opts: RightsizeOptions, only: bool) -> list[VmUse]:
        assert self.metrics is not None
        lab = self.labelling
        end = math.floor(opts.at / opts.step) * opts.step
        values = list(keys.values()) if only else None
        rows: dict[tuple[str, str], dict[str, float]] = {}
        meta: dict[tuple[str, str], dict[str, str]] = {}
        self.choice = rules.choose(
            self.metrics,
            lab,
            rules.VM_SERIES,
            end=end,
            window=opts.window,
            step=opts.step,
            wanted=opts.series,
            host_label=self.host_label,
        )
        recorded = self.choice.series == "recorded"
        promql = vm_query(lab, opts.window, opts.step, self.host_label, values, recorded=recorded)
        for s in self.metrics.query(promql, end):
            ident = (s.labels.get(m.VM_UUID) or s.labels.get(m.DOMAIN, ""), s.labels.get(self.host_label, ""))
            rows.setdefault(ident, {})[s.labels.get(TAG, "")] = s.value
            meta.setdefault(ident, {}).update({k: v for k, v in s.labels.items() if v})
        expected = max(1.0, opts.window / opts.step)
        out = []
        for ident, v in rows.items():
            labels = meta[ident]
            out.append(
                VmUse(
                    uuid=labels.get(m.VM_UUID) or ident[0],
                    name=labels.get(m.VM_NAME) or labels.get(m.DOMAIN, ""),
                    key=labels.get(lab.vm_key, ""),
                    host=ident[1],
                    vcpus=v.get("vcpus"),
                    mem_available_gib=v["mem"] / 1024**3 if "mem" in v else None,
                    cpu_p95=v.get("cpu_p95"),
                    mem_p95_gib=(v["mem"] - v["usable_p05"]) / 1024**3 if "mem" in v and "usable_p05" in v else None,
                    coverage=min(1.0, v.get("steps", 0.0) / expected),
                    running="vcpus" in v,  # a size at the end: the VM is there now
                )
            )
        return out

    def rightsize(
        self, departments: Departments, opts: RightsizeOptions, *, department: Department | None = None
    ) -> RightsizeReport:
        opts.check()
        obs = self.observer
        obs.started(3, Msg("progress.cap.rightsizing"))
        warnings: list[Text] = []
        failed: list[str] = []
        chosen = [department] if department is not None else list(departments)
        keys = department_keys(chosen, self.labelling, self.cloud)
        code_of = {v: k for k, v in keys.items()}
        use: list[VmUse] = []
        if self.metrics is None:
            warnings.append(Msg("cap.warn.no_prom_rightsize"))
        else:
            try:
                use = self.vm_use(keys, opts, department is not None)
                if self.choice.note:
                    warnings.append(self.choice.note)
                obs.advanced("prometheus", "ok", f"{len(use)} VMs")
            except MetricsError as exc:
                if isinstance(exc, BadQuery) or self.cloud is None:
                    raise
                warnings.append(Msg("cap.warn.prom_rightsize", error=exc))
                failed.append("prometheus")
        servers: dict[str, Server] = {}
        flavors: list[Flavor] = []
        stopped: list[RightsizeItem] = []
        if self.cloud is None:
            warnings.append(Msg("cap.warn.no_cloud_rightsize"))
        else:
            try:
                from govops.cloud.orphans import find_orphans

                scope = None if department is None else department_project_id(self.cloud, department)
                servers = {s.id: s for s in self.cloud.servers(scope)}
                flavors = [f for f in self.cloud.flavors() if f.is_public]
                orphans = find_orphans(self.cloud, departments, department=department, stopped_days=opts.stopped_days)
                for o in orphans.items:
                    if o.resource != "server" or "stopped" not in o.reasons:
                        continue
                    srv = servers.get(o.id)
                    stopped.append(
                        RightsizeItem(
                            "stopped",
                            o.id,
                            o.name,
                            o.department,
                            o.project,
                            srv.host if srv else None,
                            o.status,
                            srv.flavor if srv else None,
                            srv.vcpus if srv else o.frees.get("cores", 0),
                            srv.ram_mb if srv else o.frees.get("ram_mb", 0),
                            None,
                            None,
                            None,
                            o.frees.get("cores", 0),
                            o.frees.get("ram_mb", 0),
                            o.idle_days,
                        )
                    )
                obs.advanced("cloud", "ok", f"{len(servers)} servers, {len(stopped)} stopped")
            except GovopsError as exc:
                warnings.append(Msg("cap.warn.cloud_rightsize", error=exc))
                failed.append("cloud")
        by_flavor = {(f.vcpus, f.ram_mb, f.name): f for f in flavors}
        items: list[RightsizeItem] = list(stopped)
        stopped_ids = {i.id for i in stopped}
        unknown_keys: set[str] = set()
        for u in use:
            code = code_of.get(u.key)
            if code is None:
                unknown_keys.add(u.key)
                continue
            srv = servers.get(u.uuid)
            if not u.running or u.uuid in stopped_ids or (srv is not None and srv.status != "ACTIVE"):
                continue
            vcpus = srv.vcpus if srv else int(u.vcpus or 0)
            ram_mb = srv.ram_mb if srv else round((u.mem_available_gib or 0) * 1024)
            flavor_name = srv.flavor if srv else None
            project = srv.project_id if srv else u.key
            if (
                u.cpu_p95 is not None
                and vcpus
                and u.coverage >= COVERAGE
                and u.cpu_p95 < vcpus * opts.idle_cpu_pct / 100
            ):
                items.append(
                    RightsizeItem(
                        "idle",
                        u.uuid,
                        srv.name if srv else u.name,
                        code,
                        project,
                        u.host,
                        "ACTIVE",
                        flavor_name,
                        vcpus,
                        ram_mb,
                        u.cpu_p95,
                        u.mem_p95_gib,
                        None,
                        vcpus,
                        ram_mb,
                    )
                )
                continue
            if not flavors or u.cpu_p95 is None or u.mem_p95_gib is None:
                continue
            current = next((f for f in by_flavor.values() if f.name == flavor_name), None)
            if current is None:
                current = next((f for (v, r, _), f in by_flavor.items() if v == vcpus and r == ram_mb), None)
            need_ram = u.mem_p95_gib * 1024 * opts.headroom
            best = smallest_flavor(flavors, u.cpu_p95 * opts.headroom, need_ram, current)
            if best is None or current is None:
                continue
            items.append(
                RightsizeItem(
                    "oversized",
                    u.uuid,
                    srv.name if srv else u.name,
                    code,
                    project,
                    u.host,
                    "ACTIVE",
                    current.name,
                    current.vcpus,
                    current.ram_mb,
                    u.cpu_p95,
                    u.mem_p95_gib,
                    best.name,
                    current.vcpus - best.vcpus,
                    current.ram_mb - best.ram_mb,
                    disk_shrinks=best.disk_gb < current.disk_gb,
                )
            )
        if unknown_keys and department is None:
            what = (
                "cap.warn.vms_unknown_departments"
                if self.labelling.department_from == "label"
                else "cap.warn.vms_unknown_projects"
            )
            warnings.append(Msg(what, names=", ".join(sorted(unknown_keys))))
        order = {"stopped": 0, "idle": 1, "oversized": 2}
        items.sort(key=lambda i: (i.department or "~", order[i.kind], i.name))
        obs.finished()
        return RightsizeReport(
            at=opts.at,
            options=opts,
            items=tuple(items),
            vms_seen=len(use),
            warnings=tuple(warnings),
            failed_sources=tuple(failed),
            totals=totals(items),
            usage_series=self.choice.series,
        )


def department_project_id(cloud: CloudPort, department: Department) -> str:
    from govops.cloud.quota import department_project

    return department_project(cloud, department).id
