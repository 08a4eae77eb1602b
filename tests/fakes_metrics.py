"""An in-memory ``MetricsPort`` for unit tests: departments described by functions of time.

It answers exactly the queries ``govops.capacity.service`` builds (recognised by rebuilding them,
with the same department filter), and raises ``BadQuery`` for anything else, as Prometheus answers
HTTP 400 to PromQL it cannot parse. Range results follow Prometheus' rules: points on the
``start + i * step`` grid up to ``end`` inclusive, a series only where it has a value, series without
any point left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from govops.capacity import service as svc
from govops.capacity.ports import BadQuery, MetricsUnreachable, Sample, Series
from govops.capacity.rules import PROBE_TAG

GIB = 1024**3
Fn = Callable[[float], float | None]  # value at time t, None: no sample (VM not there yet / gone)


def const(v: float) -> Fn:
    return lambda t: v


def linear(v0: float, per_day: float, t0: float) -> Fn:
    """``v0`` at ``t0``, growing ``per_day`` each day."""
    return lambda t: v0 + per_day * (t - t0) / 86400


@dataclass
class FakeDepartment:
    cpu_used: Fn = field(default_factory=lambda: const(1.0))  # cores
    cpu_prov: Fn = field(default_factory=lambda: const(4.0))  # vCPUs
    ram_used: Fn = field(default_factory=lambda: const(4.0))  # GiB
    ram_prov: Fn = field(default_factory=lambda: const(8.0))
    disk_used: Fn = field(default_factory=lambda: const(20.0))
    disk_prov: Fn = field(default_factory=lambda: const(80.0))
    # resource (cpu, ram in MiB as the exporter has it, storage, instances) -> (quota, allocated)
    limits: dict[str, tuple[Fn, Fn]] = field(default_factory=dict)


@dataclass
class FakeHypervisor:
    name: str
    az: str = "az1"
    vcpus: float = 64
    vcpus_used: float = 0
    memory_bytes: float = 512 * GIB
    memory_used_bytes: float = 0
    running: float = 0


class FakeMetrics:
    url = "http://fake-prometheus:9090"

    def __init__(self, label: str = "department") -> None:
        self.label = label
        self.departments: dict[str, FakeDepartment] = {}
        self.hypervisors: list[FakeHypervisor] = []
        self.requests: list[str] = []
        self.down = False

    def add(self, code: str, **kwargs: object) -> FakeDepartment:
        d = self.departments[code] = FakeDepartment(**kwargs)  # type: ignore[arg-type]
        return d

    # -- the port -------------------------------------------------------------------------------
    def _enter(self, promql: str) -> list[str] | None:
        if self.down:
            raise MetricsUnreachable("cannot connect (Connection refused)", query=promql, url=self.url)
        self.requests.append(promql)
        match = re.search(rf'{self.label}=~"([^"]*)"', promql)
        return match.group(1).split("|") if match else None

    def _codes(self, only: list[str] | None) -> list[str]:
        return [c for c in self.departments if only is None or c in only]

    def query(self, promql: str, at: float) -> list[Sample]:
        only = self._enter(promql)
        if PROBE_TAG in promql:
            return []  # no recorded series (`govops capacity rules`): the raw queries follow
        if "quantile_over_time" in promql and svc.TAG in promql:
            return []  # rightsizing's per-VM query: the fake describes departments, not VMs
        window = re.search(r"\[(\d+)s\]", promql)
        if window and promql == svc.cpu_mean_query(self.label, float(window.group(1)), only):
            span = float(window.group(1))
            out = []
            for code in self._codes(only):
                fn = self.departments[code].cpu_used
                # the counter's mean rate over the window: the function's mean at 10-minute steps
                values = [fn(at - span + i * 600.0) for i in range(1, int(span // 600) + 1)]
                got = [v for v in values if v is not None]
                if got:
                    out.append(Sample({self.label: code}, sum(got) * 600.0 / span))
            return out
        if window and promql == svc.hypervisor_query(float(window.group(1))):
            out = []
            for h in self.hypervisors:
                labels = {"hostname": h.name, "availability_zone": h.az}
                for tag, v in (
                    ("vcpus", h.vcpus),
                    ("vcpus_used", h.vcpus_used),
                    ("memory", h.memory_bytes),
                    ("memory_used", h.memory_used_bytes),
                    ("running", h.running),
                ):
                    out.append(Sample({**labels, svc.TAG: tag}, v))
            return out
        if window and promql == svc.provisioned_query(self.label, float(window.group(1)) / 2, only):
            out = []
            for code in self._codes(only):
                d = self.departments[code]
                for tag, fn, factor in (
                    ("cpu_prov", d.cpu_prov, 1.0),
                    ("ram_prov", d.ram_prov, GIB),
                    ("storage_prov", d.disk_prov, GIB),
                ):
                    v = fn(at)
                    if v is not None:
                        out.append(Sample({self.label: code, svc.TAG: tag}, v * factor))
            return out
        raise BadQuery("bad_data: query not understood by the fake", query=promql, status=400, url=self.url)

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[Series]:
        only = self._enter(promql)
        if step <= 0 or end < start:
            raise BadQuery("bad_data: invalid range", query=promql, status=400, url=self.url)
        times = [start + i * step for i in range(int((end - start) // step) + 1)]
        usage: dict[str, Callable[[FakeDepartment], Fn | None]] = {
            "cpu_used": lambda d: d.cpu_used,
            "ram_used": lambda d: _scaled(d.ram_used, GIB),
            "storage_used": lambda d: _scaled(d.disk_used, GIB),
        }
        fns: dict[str, Callable[[FakeDepartment], Fn | None]]
        tagged = True  # a union of several expressions carries the tag label; a single one does not
        part = {q: tag for tag, q in svc.usage_queries(self.label, step, only).items()}.get(promql)
        if part is not None:
            fns, tagged = {part: usage[part]}, False
        elif _any_lookback(promql) == _any_lookback(svc.limits_query(self.label, only)):
            fns = {}
            for resource in svc.RESOURCES:
                fns[f"{resource}_quota"] = lambda d, r=resource: d.limits[r][0] if r in d.limits else None
                fns[f"{resource}_alloc"] = lambda d, r=resource: d.limits[r][1] if r in d.limits else None
        else:
            raise BadQuery("bad_data: query not understood by the fake", query=promql, status=400, url=self.url)
        out = []
        for code in self._codes(only):
            for tag, pick in fns.items():
                fn = pick(self.departments[code])
                if fn is None:
                    continue
                points = tuple((t, float(v)) for t in times if (v := fn(t)) is not None)
                if points:
                    labels = {self.label: code, svc.TAG: tag} if tagged else {self.label: code}
                    out.append(Series(labels, points))
        return out


def _any_lookback(promql: str) -> str:
    """The query with its range selectors' durations blanked (the service picks them from --step)."""
    return re.sub(r"\[[0-9]+[smhdw]\]", "[_]", promql)


def _scaled(fn: Fn, factor: float) -> Fn:
    def scaled(t: float) -> float | None:
        v = fn(t)
        return None if v is None else v * factor

    return scaled
