"""Synthetic but realistic Prometheus history for the lab cloud's servers, and its ground truth.

Series carry the names and labels real exporters give them (see ``metrics.py``): per VM the libvirt
exporter's CPU counter, memory and block-device gauges; per hypervisor and per project the
openstack-exporter's nova and cinder gauges. Behaviour a capacity report must find is planted
deliberately and recorded in the truth: departments that grow, one department running towards its
volume quota, office-hours and weekend seasonality, idle VMs and VMs that were shut off.

Everything is a pure function of (seed, inventory, window): the same inputs give byte-identical
OpenMetrics files, and the truth is computed from the same functions rather than read back.

The CPU counter must stay monotonic across the per-day files generated in parallel, so its value at
sample i is computed in closed form from prefix sums of the (shared) load profile plus noise that
sums to zero inside each chunk: no chunk needs another chunk's samples.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import accumulate

from govops.departments import Departments
from govops.lab.processes import LabError
from govops.lab.prometheus import metrics as m
from govops.lab.prometheus.inventory import CloudInventory, Hypervisor, Server, department_index

GENERATOR_VERSION = 3
DAY = 86400
LOCAL_OFFSET = 8 * 3600  # the city's time zone (UTC+8): office hours drive the load
MIB = 1024 * 1024
GIB = 1024 * MIB
GROWING_SHARE = 0.2  # of departments with servers
IDLE_SHARE = 0.08  # of servers
HOST_RESERVED_MB = 512  # nova's reserved_host_memory_mb, counted in a hypervisor's memory_used
# openstack's defaults when a department leaves a quota unset
DEFAULT_QUOTAS = {"cores": 20, "ram_gb": 50, "instances": 10, "volume_gb": 1000}
NEAR_QUOTA_START, NEAR_QUOTA_END = 0.62, 0.91  # volume use / quota at the window's start and end
NEAR_QUOTA_NOISE = 0.003  # +- share of the quota around that line: a forecast's range must hold the date
# Workloads are planted so that a rightsizing rule (p95 x headroom 1.3 fits the smallest flavor) finds
# exactly the oversized servers: those use a small share of their flavor (two sizes above need), every
# other busy server too much of its RAM for a flavor half its size, and of its vCPUs for one a quarter.
OVERSIZED_CPU = (0.07, 0.12)
OVERSIZED_MEM = (0.09, 0.13)
BUSY_CPU = (0.25, 0.45)
BUSY_MEM = (0.45, 0.6)


@dataclass(frozen=True)
class Window:
    start: int  # timestamp of the first sample (s)
    step: int
    count: int  # samples per series

    @classmethod
    def ending(cls, now: float, days: int, step: int) -> Window:
        end = int(now) // step * step
        count = max(2, days * DAY // step)
        return cls(end - (count - 1) * step, step, count)

    @property
    def end(self) -> int:
        return self.start + (self.count - 1) * self.step

    @property
    def span_days(self) -> float:
        return (self.end - self.start) / DAY

    def chunks(self, seconds: int = DAY) -> list[tuple[int, int]]:
        """Sample index ranges [a, b) split at multiples of ``seconds`` (UTC midnight by default)."""
        return self.split(0, self.count, seconds)

    def split(self, a: int, b: int, seconds: int) -> list[tuple[int, int]]:
        """Samples [a, b) cut where a multiple of ``seconds`` since the epoch begins."""
        out: list[tuple[int, int]] = []
        while a < b:
            t = self.start + a * self.step
            boundary = (t // seconds + 1) * seconds
            end = min(b, -(-(boundary - self.start) // self.step))
            out.append((a, end))
            a = end
        return out


def load_profile(t: int) -> float:
    """CPU load multiplier in [0.3, 1]: office hours on weekdays, a little at weekends, low at night."""
    local = t + LOCAL_OFFSET
    hour = (local % DAY) / 3600
    weekday = (local // DAY + 3) % 7 < 5  # 1970-01-01 was a Thursday
    office = math.sin(math.pi * (hour - 7) / 13) if 7 < hour < 20 else 0.0
    return 0.3 + (0.7 if weekday else 0.15) * office


@dataclass(frozen=True)
class Profiles:
    """Per-sample arrays shared by every VM of a window, with prefix sums for closed-form counters."""

    frac: list[float]  # position in the window, 0 .. 1
    load: list[float]
    p_load: list[float]  # p_x[i] = sum of x[:i]
    p_frac_load: list[float]
    p_frac: list[float]

    @classmethod
    def of(cls, w: Window) -> Profiles:
        n1 = max(1, w.count - 1)
        frac = [i / n1 for i in range(w.count)]
        load = [load_profile(w.start + i * w.step) for i in range(w.count)]
        fl = [f * x for f, x in zip(frac, load, strict=True)]
        return cls(
            frac,
            load,
            [0.0, *accumulate(load)],
            [0.0, *accumulate(fl)],
            [0.0, *accumulate(frac)],
        )


@dataclass(frozen=True)
class VmPlan:
    server: Server
    domain: str
    idle: bool
    oversized: bool  # the cloud plan gave it a flavor above its workload (and it is not idle)
    cpu_base: float  # usage ratio at full office load at the window's start
    cpu_growth: float  # relative growth of that level over the window
    mem_base: float  # share of memory used at the start
    mem_growth: float  # share points gained over the window
    disk_start: float  # share of the disk allocated at the start / end
    disk_end: float
    stop: int  # index of the first sample after the VM was shut off (window.count: never)
    cpu_seconds0: float  # counter value at the first sample (uptime before the window)

    @property
    def mem_available(self) -> int:
        # what the guest sees: the flavor's RAM minus what firmware and kernel keep
        return int(self.server.ram_mb * MIB * 0.97) // 4096 * 4096

    @property
    def disk_capacity(self) -> int:
        return self.server.disk_gb * GIB


@dataclass(frozen=True)
class ProjectPlan:
    id: str
    name: str
    department: str
    cores: int
    ram_mb: int
    instances: int
    volume_gb: int
    vcpus_used: int
    ram_used_mb: int
    instances_used: int
    volume_start: float  # volume use as a share of the quota
    volume_end: float
    volume_noise: float = 0.0  # +- share of the quota, drawn per sample

    def volume_used(self, frac: float, index: int | None = None) -> int:
        """Volume GiB in use at ``frac`` of the window: the planted line, plus sample ``index``'s noise."""
        cap = self.volume_gb if self.volume_gb > 0 else 1000
        share = self.volume_start + (self.volume_end - self.volume_start) * frac
        if index is not None and self.volume_noise:
            share += self.volume_noise * random.Random(f"{self.id}:{index}").uniform(-1.0, 1.0)
        return round(cap * share)


@dataclass(frozen=True)
class Plan:
    seed: int
    window: Window
    vms: tuple[VmPlan, ...]
    projects: tuple[ProjectPlan, ...]
    hypervisors: tuple[Hypervisor, ...]
    growing: tuple[str, ...]
    near_quota: str
    chunk_seconds: int = DAY
    _profiles: list[Profiles] = field(default_factory=list, compare=False, repr=False)

    @property
    def profiles(self) -> Profiles:
        if not self._profiles:  # built on first use, shared by every chunk
            self._profiles.append(Profiles.of(self.window))
        return self._profiles[0]

    @property
    def series_count(self) -> int:
        return (
            len(self.vms) * len(m.VM_METRICS)
            + len(self.hypervisors) * len(m.HYPERVISOR_METRICS)
            + len(self.projects) * len(m.PROJECT_METRICS)
        )

    @property
    def sample_count(self) -> int:
        n = self.window.count
        vm = sum(min(v.stop, n) for v in self.vms) * len(m.VM_METRICS)
        return vm + n * (
            len(self.hypervisors) * len(m.HYPERVISOR_METRICS) + len(self.projects) * len(m.PROJECT_METRICS)
        )


def _quota(value: int | None, name: str, scale: int = 1) -> int:
    if value is None:
        return DEFAULT_QUOTAS[name] * scale
    return value if value < 0 else value * scale


def make_plan(inventory: CloudInventory, departments: Departments, seed: int, window: Window) -> Plan:
    """Decide every VM's and project's behaviour from the seed; no sample is computed here."""
    rng = random.Random(f"govops-prometheus-plan:{seed}")
    by_ref = department_index(departments)
    with_servers = sorted({s.department for s in inventory.servers})
    growing = tuple(sorted(rng.sample(with_servers, max(1, round(len(with_servers) * GROWING_SHARE)))))
    # the near-quota department needs a project to carry its volume quota
    near_quota = rng.choice([d for d in growing if any(p.department == d for p in inventory.projects)] or growing)
    vms: list[VmPlan] = []
    for s in sorted(inventory.servers, key=lambda s: s.id):
        grows = s.department in growing
        stop = window.count
        if not s.active:
            stop = max(2, int(window.count * rng.uniform(0.2, 0.9)))
        idle = rng.random() < IDLE_SHARE
        over = s.id in inventory.oversized and not idle
        if idle:
            cpu, cpu_growth, mem = rng.uniform(0.003, 0.012), 0.0, rng.uniform(0.12, 0.25)
        elif over:  # steady and small: what it runs would fit a flavor two sizes down
            cpu, cpu_growth, mem = rng.uniform(*OVERSIZED_CPU), 0.0, rng.uniform(*OVERSIZED_MEM)
        else:
            cpu = rng.uniform(*BUSY_CPU)
            cpu_growth = rng.uniform(0.35, 0.7) if grows else rng.uniform(-0.05, 0.05)
            mem = rng.uniform(*BUSY_MEM)
        vms.append(
            VmPlan(
                server=s,
                domain=f"instance-{int(s.id.replace('-', '')[:8], 16) & 0xFFFFFF:08x}",
                idle=idle,
                oversized=over,
                cpu_base=cpu,
                cpu_growth=cpu_growth,
                mem_base=mem,
                mem_growth=rng.uniform(0.1, 0.2) if grows and not (idle or over) else rng.uniform(-0.02, 0.0),
                disk_start=(d0 := rng.uniform(0.15, 0.5)),
                disk_end=d0 + (rng.uniform(0.15, 0.3) if grows else rng.uniform(0.0, 0.05)),
                stop=stop,
                cpu_seconds0=round(rng.uniform(5, 200) * DAY * s.vcpus * 0.2, 2),
            )
        )
    projects: list[ProjectPlan] = []
    for p in sorted(inventory.projects, key=lambda p: p.name):
        dept = by_ref.get(p.department) or by_ref.get(p.name)
        q = dept.quotas if dept else None
        mine = [s for s in inventory.servers if s.project_id == p.id]
        if p.department == near_quota:
            v0, v1 = NEAR_QUOTA_START, NEAR_QUOTA_END
        else:
            v0 = rng.uniform(0.1, 0.5)
            v1 = v0 + (rng.uniform(0.08, 0.15) if p.department in growing else rng.uniform(0.0, 0.08))
        projects.append(
            ProjectPlan(
                id=p.id,
                name=p.name,
                department=p.department,
                cores=_quota(q.cores if q else None, "cores"),
                ram_mb=_quota(q.ram_gb if q else None, "ram_gb", 1024),
                instances=_quota(q.instances if q else None, "instances"),
                volume_gb=_quota(q.volume_gb if q else None, "volume_gb"),
                # nova counts shut-off servers against the quota too
                vcpus_used=sum(s.vcpus for s in mine),
                ram_used_mb=sum(s.ram_mb for s in mine),
                instances_used=len(mine),
                volume_start=v0,
                volume_end=v1,
                volume_noise=NEAR_QUOTA_NOISE if p.department == near_quota else 0.0,
            )
        )
    return Plan(seed, window, tuple(vms), tuple(projects), inventory.hypervisors, growing, near_quota)


# --- per-sample values --------------------------------------------------------------------------


def _noise(plan: Plan, vm: VmPlan, a: int, b: int) -> tuple[list[float], list[float]]:
    """CPU noise summing to zero over the chunk's counter increments, and memory noise, for [a, b)."""
    rng = random.Random(f"{plan.seed}:{vm.server.id}:{a}")
    n = b - a
    raw = [rng.uniform(-1.0, 1.0) for _ in range(n)]
    first = 1 if a == 0 else 0  # the window's first sample is no increment
    body = raw[first:]
    mean = sum(body) / len(body) if body else 0.0
    amp = vm.cpu_base * (0.3 if vm.idle else 0.12)
    cpu = [0.0] * first + [amp * (r - mean) for r in body]
    mem = [rng.uniform(-1.0, 1.0) for _ in range(n)]
    return cpu, mem


def vm_values(plan: Plan, vm: VmPlan, a: int, b: int) -> dict[str, list[float]] | None:
    """Every per-VM metric for samples [a, b) (cut at the VM's stop), keyed by metric name."""
    b = min(b, vm.stop)
    if b <= a:
        return None
    pr = plan.profiles
    w = plan.window
    k = w.step * vm.server.vcpus
    base, g = vm.cpu_base, vm.cpu_growth
    cpu_noise, mem_noise = _noise(plan, vm, a, b)
    cum = list(accumulate(cpu_noise))
    if vm.idle:  # flat load: idle machines do not follow office hours
        p_l, p_fl = None, pr.p_frac
    else:
        p_l, p_fl = pr.p_load, pr.p_frac_load
    cpu: list[float] = []
    for j, i in enumerate(range(a, b)):
        smooth_l = (i if p_l is None else p_l[i + 1] - p_l[1]) if i > 0 else 0.0
        smooth_fl = p_fl[i + 1] - p_fl[1] if i > 0 else 0.0
        cpu.append(vm.cpu_seconds0 + k * (base * (smooth_l + g * smooth_fl) + cum[j]))
    avail = vm.mem_available
    mem_used: list[float] = []
    for j, i in enumerate(range(a, b)):
        share = vm.mem_base + vm.mem_growth * pr.frac[i] + 0.03 * (pr.load[i] - 0.5) + 0.01 * mem_noise[j]
        mem_used.append(float(int(avail * min(0.95, max(0.05, share))) // 4096 * 4096))
    cap = vm.disk_capacity
    d0, dd = vm.disk_start, vm.disk_end - vm.disk_start
    alloc = [float(int(cap * min(0.98, d0 + dd * pr.frac[i])) // 4096 * 4096) for i in range(a, b)]
    return {
        m.CPU_SECONDS: cpu,
        m.VCPUS: [float(vm.server.vcpus)] * (b - a),
        m.MEM_AVAILABLE: [float(avail)] * (b - a),
        m.MEM_USABLE: [avail - u for u in mem_used],
        m.DISK_CAPACITY: [float(cap)] * (b - a),
        m.DISK_ALLOCATION: alloc,
        m.INFO_META: [1.0] * (b - a),
    }


def hypervisor_values(plan: Plan, hv: Hypervisor, a: int, b: int) -> dict[str, list[float]]:
    mine = [v for v in plan.vms if v.server.host == hv.name]
    n = b - a
    used_mb = sum(v.server.ram_mb for v in mine) + HOST_RESERVED_MB
    return {
        m.HV_VCPUS: [float(hv.vcpus)] * n,
        m.HV_VCPUS_USED: [float(sum(v.server.vcpus for v in mine))] * n,
        m.HV_MEMORY: [float(hv.memory_mb * MIB)] * n,
        m.HV_MEMORY_USED: [float(used_mb * MIB)] * n,
        m.HV_RUNNING: [float(sum(1 for v in mine if v.stop > i)) for i in range(a, b)],
    }


def project_values(plan: Plan, p: ProjectPlan, a: int, b: int) -> dict[str, list[float]]:
    n = b - a
    frac = plan.profiles.frac
    return {
        m.Q_VCPUS_MAX: [float(p.cores)] * n,
        m.Q_VCPUS_USED: [float(p.vcpus_used)] * n,
        m.Q_MEMORY_MAX: [float(p.ram_mb)] * n,
        m.Q_MEMORY_USED: [float(p.ram_used_mb)] * n,
        m.Q_INSTANCES_MAX: [float(p.instances)] * n,
        m.Q_INSTANCES_USED: [float(p.instances_used)] * n,
        m.Q_VOLUME_MAX: [float(p.volume_gb)] * n,
        m.Q_VOLUME_USED: [float(p.volume_used(frac[i], i)) for i in range(a, b)],
    }


# --- OpenMetrics text ---------------------------------------------------------------------------


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in pairs) + "}"


def vm_labels(vm: VmPlan) -> list[tuple[str, str]]:
    s = vm.server
    return [
        ("job", "libvirt"),
        ("host", s.host),
        ("domain", vm.domain),
        ("uuid", s.id),
        ("instance_name", s.name),
        ("project_name", s.project),
        ("project_uuid", s.project_id),
        ("department", s.department),
    ]


def hypervisor_labels(hv: Hypervisor) -> list[tuple[str, str]]:
    return [("job", "openstack"), ("hostname", hv.name), ("availability_zone", hv.az), ("aggregates", "")]


def project_labels(p: ProjectPlan) -> list[tuple[str, str]]:
    return [("job", "openstack"), ("tenant", p.name), ("tenant_id", p.id), ("department", p.department)]


def _fmt(metric: str, value: float) -> str:
    if metric == m.CPU_SECONDS:
        return f"{value:.2f}"
    return str(int(value))


Rows = list[tuple[Sequence[m.Metric], list[tuple[list[tuple[str, str]], dict[str, list[float]]]]]]
ValuesOf = Callable[[int, int], dict[str, list[float]] | None]  # one series' values for chunk [a, b)


def _joined(pieces: Sequence[tuple[int, int]], lo: int, hi: int, values_of: ValuesOf) -> dict[str, list[float]] | None:
    """One series' values for samples [lo, hi): each chunk computed whole (noise is drawn per chunk), cut, joined."""
    out: dict[str, list[float]] = {}
    for a, b in pieces:
        values = values_of(a, b)
        if values is None:  # a VM shut off before this chunk has no values in any later one either
            break
        for name, vals in values.items():
            out.setdefault(name, []).extend(vals[max(a, lo) - a : min(b, hi) - a])
    return out if any(out.values()) else None


def file_lines(plan: Plan, lo: int, hi: int) -> Iterator[str]:
    """The OpenMetrics text of samples [lo, hi), which may span chunks: one family after another, one
    series after another (OpenMetrics keeps a family's samples together, a series' in time order)."""
    pieces = [(a, b) for a, b in plan.window.chunks(plan.chunk_seconds) if a < hi and b > lo]
    series: list[tuple[Sequence[m.Metric], list[tuple[list[tuple[str, str]], ValuesOf]]]] = [
        (m.VM_METRICS, [(vm_labels(v), partial(vm_values, plan, v)) for v in plan.vms]),
        (m.HYPERVISOR_METRICS, [(hypervisor_labels(h), partial(hypervisor_values, plan, h)) for h in plan.hypervisors]),
        (m.PROJECT_METRICS, [(project_labels(p), partial(project_values, plan, p)) for p in plan.projects]),
    ]
    groups: Rows = [
        (metrics, [(labels, vals) for labels, of in rows if (vals := _joined(pieces, lo, hi, of)) is not None])
        for metrics, rows in series
    ]
    w = plan.window
    ts = [str(w.start + i * w.step) for i in range(lo, hi)]
    for metrics, rows in groups:
        for metric in metrics:
            family = metric.name.removesuffix("_total") if metric.type == "counter" else metric.name
            yield f"# HELP {family} {metric.help}\n# TYPE {family} {metric.type}\n"
            extra = list(metric.labels)
            for labels, values in rows:
                prefix = metric.name + _labels(labels + extra) + " "
                yield "".join(
                    f"{prefix}{_fmt(metric.name, v)} {t}\n" for v, t in zip(values[metric.name], ts, strict=False)
                )
    yield "# EOF\n"


def chunk_lines(plan: Plan, a: int, b: int) -> Iterator[str]:
    """The OpenMetrics text of one chunk's samples [a, b)."""
    return file_lines(plan, a, b)


# --- ground truth -------------------------------------------------------------------------------


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _counter_at(plan: Plan, vm: VmPlan, i: int) -> float:
    """The CPU counter at sample i where the chunk noise has summed to zero (a chunk's last sample)."""
    pr = plan.profiles
    if i == 0:
        return vm.cpu_seconds0
    smooth_l = i if vm.idle else pr.p_load[i + 1] - pr.p_load[1]
    p_fl = pr.p_frac if vm.idle else pr.p_frac_load
    smooth_fl = p_fl[i + 1] - p_fl[1]
    return vm.cpu_seconds0 + plan.window.step * vm.server.vcpus * vm.cpu_base * (smooth_l + vm.cpu_growth * smooth_fl)


def _slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def _utc_date(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).date().isoformat()


def truth(plan: Plan, inventory: CloudInventory) -> dict[str, object]:
    """What capacity reports must find in this history, computed from the generator itself."""
    w = plan.window
    chunks = w.chunks(plan.chunk_seconds)
    last = w.count - 1
    last_a, last_b = chunks[-1]
    depts: dict[str, dict[str, object]] = {}
    # A whole day holds every interval ending in it; the window's first sample ends no interval,
    # so a day starting at sample 0 is one interval short and is not whole.
    per_day = DAY // w.step if DAY % w.step == 0 and plan.chunk_seconds == DAY else 0
    full_days = [(a, b) for a, b in chunks if per_day and a >= 1 and b - a == per_day]
    for dept in sorted({v.server.department for v in plan.vms}):
        vms = [v for v in plan.vms if v.server.department == dept]
        cpu_seconds = sum(_counter_at(plan, v, min(v.stop, w.count) - 1) - v.cpu_seconds0 for v in vms)
        # daily mean cores over whole days, for the growth slope a report would fit
        daily: list[float] = []
        for a, b in full_days:
            tot = 0.0
            for v in vms:
                if v.stop <= a:
                    continue
                lo = max(a - 1, 0)
                hi = min(b, v.stop) - 1
                tot += _counter_at(plan, v, hi) - _counter_at(plan, v, lo)
            daily.append(tot / DAY)
        at_end = [v for v in vms if v.stop > last]
        mem_used = 0
        for v in at_end:
            vals = vm_values(plan, v, last_a, last_b)  # the noise is drawn per chunk, as written
            assert vals is not None
            mem_used += int(vals[m.MEM_AVAILABLE][-1] - vals[m.MEM_USABLE][-1])
        proj = next((p for p in plan.projects if p.department == dept), None)
        depts[dept] = {
            "project": vms[0].server.project,
            "growing": dept in plan.growing,
            "vms": len(vms),
            "vms_running_at_end": len(at_end),
            "idle_vms": sum(1 for v in vms if v.idle),
            "stopped_vms": sum(1 for v in vms if v.stop < w.count),
            "vcpus": sum(v.server.vcpus for v in vms),
            "vcpus_running_at_end": sum(v.server.vcpus for v in at_end),
            "cpu_seconds": round(cpu_seconds, 2),
            "cpu_mean_cores": cpu_seconds / (w.end - w.start),
            "cpu_daily_mean_cores": [round(x, 4) for x in daily],
            "cpu_daily_dates": [_utc_date(w.start + a * w.step) for a, _ in full_days],
            "cpu_growth_cores_per_day": _slope(range(len(daily)), daily),
            "memory_used_bytes_latest": mem_used,
            "memory_available_bytes_latest": sum(v.mem_available for v in at_end),
            "memory_growth_bytes_per_day": sum(v.mem_available * v.mem_growth for v in at_end) / w.span_days,
            "disk_capacity_bytes": sum(v.disk_capacity for v in at_end),
            "volume_quota_gb": proj.volume_gb if proj else None,
            "volume_used_gb_latest": proj.volume_used(1.0, last) if proj else None,
        }
    near = next((p for p in plan.projects if p.department == plan.near_quota), None)
    if near is None:
        raise LabError(f"cloud inventory: department {plan.near_quota} has servers but no project")
    gb_per_day = near.volume_gb * (near.volume_end - near.volume_start) / w.span_days
    used_end = near.volume_used(1.0)  # the planted line's end: what the forecast aims at
    days_left = (near.volume_gb - used_end) / gb_per_day
    n_vm = sum(v.stop for v in plan.vms)
    return {
        "generator": "govops.lab.prometheus",
        "version": GENERATOR_VERSION,
        "seed": plan.seed,
        "window": {
            "start": w.start,
            "end": w.end,
            "start_iso": _iso(w.start),
            "end_iso": _iso(w.end),
            "step_seconds": w.step,
            "samples_per_series": w.count,
            "days": round(w.span_days, 4),
            "chunk_seconds": plan.chunk_seconds,
            "local_utc_offset_hours": LOCAL_OFFSET // 3600,
        },
        "inventory": {
            "synthetic": inventory.synthetic,
            "servers": len(inventory.servers),
            "projects": len(inventory.projects),
            "hypervisors": len(inventory.hypervisors),
        },
        "series": plan.series_count,
        "samples": plan.sample_count,
        "vm_samples": n_vm * len(m.VM_METRICS),
        "metrics": m.catalogue(),
        "growing_departments": list(plan.growing),
        "near_quota": {
            "department": near.department,
            "project": near.name,
            "resource": "volume_gb",
            "metric_used": m.Q_VOLUME_USED,
            "metric_max": m.Q_VOLUME_MAX,
            "quota_gb": near.volume_gb,
            "used_gb_at_start": near.volume_used(0.0),
            "used_gb_at_end": near.volume_used(1.0, last),
            "used_gb_line_at_end": used_end,
            "noise_share_of_quota": near.volume_noise,
            "growth_gb_per_day": gb_per_day,
            "days_to_quota": days_left,
            "quota_reached_at": _iso(w.end + days_left * DAY),
        },
        "idle_vms": sorted(v.server.id for v in plan.vms if v.idle),
        # running at the end, not idle, planted with a small workload on a flavor two sizes too big
        "oversized_vms": sorted(v.server.id for v in plan.vms if v.oversized and v.stop >= w.count),
        "rightsize_rule": {"headroom": 1.3, "idle_cpu_p95_ratio": 0.05},
        "stopped_vms": {v.server.id: _iso(w.start + (v.stop - 1) * w.step) for v in plan.vms if v.stop < w.count},
        "hypervisors": {
            h.name: {
                "vcpus": h.vcpus,
                "vcpus_used": sum(v.server.vcpus for v in plan.vms if v.server.host == h.name),
                "memory_bytes": h.memory_mb * MIB,
                "running_vms_at_end": sum(1 for v in plan.vms if v.server.host == h.name and v.stop > last),
            }
            for h in plan.hypervisors
        },
        "departments": depts,
    }
