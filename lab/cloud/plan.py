"""What the lab cloud is seeded with: hypervisors, flavors, scaled quotas, servers and volumes.

Pure and deterministic (same departments, server count and seed -> same plan), so it is unit-tested
without a cloud and the cloud's real answers can be checked against it.

Scaling: the city's quotas are sized for thousands of cores; the lab has a few hypervisors. Two
factors bring them down so that, on average, departments use ``TARGET_FILL`` of their quotas:

- size quotas (cores, RAM, volume gigabytes) x ``size_factor`` = servers x mean flavor vCPUs /
  (TARGET_FILL x the city's total cores quota) — about 1/17 for 300 servers;
- count quotas (instances, volumes, floating IPs) x ``count_factor`` = servers / (TARGET_FILL x the
  city's total instances quota) — about 1/2 for 300 servers.

One department (``NEAR_QUOTA_DEPARTMENT``, else the first) is filled to >= 90 % of its cores quota, so
an ordinary new server there is refused with HTTP 403 by Nova.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from govops.departments import Department

TARGET_FILL = 0.6
NEAR_QUOTA_DEPARTMENT = "gaj"
NEAR_QUOTA_FILL = 0.9
SHUTOFF_SHARE = 0.08
OVERSIZED_SHARE = 0.12
VOLUME_SHARE = 0.5
SERVERS_PER_HOST = 75
AZS = ("az1", "az2")
SYSTEMS = ("portal", "oa", "db", "gis", "approval", "archive", "exchange", "report", "video", "mail")
VOLUME_SIZES_GB = (50, 100, 200, 500, 1000)


@dataclass(frozen=True)
class Flavor:
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int


# Ordered by size; the ladder an oversized server climbs. Weights: small flavors dominate.
FLAVORS: tuple[Flavor, ...] = (
    Flavor("m1.small", 1, 2048, 20),
    Flavor("m1.medium", 2, 4096, 40),
    Flavor("m1.large", 4, 8192, 80),
    Flavor("m1.xlarge", 8, 16384, 160),
    Flavor("c1.2xlarge", 16, 32768, 160),
    Flavor("c1.4xlarge", 32, 65536, 200),
)
EXTRA_FLAVORS: tuple[Flavor, ...] = (
    Flavor("m1.tiny", 1, 512, 1),
    Flavor("r1.xlarge", 8, 65536, 160),
)
FLAVOR_WEIGHTS = (0.34, 0.30, 0.20, 0.10, 0.05, 0.01)


@dataclass(frozen=True)
class Hypervisor:
    name: str
    az: str
    vcpus: int = 128  # two 32-core sockets with hyper-threading
    memory_mb: int = 1024 * 1024
    disk_gb: int = 40000


@dataclass(frozen=True)
class LabQuotas:
    cores: int
    ram_mb: int
    instances: int
    gigabytes: int
    volumes: int
    floating_ips: int
    ports: int


@dataclass(frozen=True)
class PlannedServer:
    name: str
    department: str
    system: str
    flavor: str
    stopped: bool
    oversized: bool
    volume_gb: int | None


@dataclass
class DepartmentPlan:
    department: Department
    quotas: LabQuotas
    servers: list[PlannedServer] = field(default_factory=list)

    @property
    def owner(self) -> str:
        owner = self.department.owner
        if owner is not None and owner.email:
            return owner.email
        return f"{self.department.code}-it"


@dataclass(frozen=True)
class CloudPlan:
    hypervisors: tuple[Hypervisor, ...]
    flavors: tuple[Flavor, ...]
    departments: tuple[DepartmentPlan, ...]
    size_factor: float
    count_factor: float
    near_quota: str

    @property
    def servers(self) -> list[PlannedServer]:
        return [s for d in self.departments for s in d.servers]


def flavor(name: str) -> Flavor:
    for f in (*FLAVORS, *EXTRA_FLAVORS):
        if f.name == name:
            return f
    raise KeyError(name)


def hypervisors(servers: int) -> tuple[Hypervisor, ...]:
    """At least three hosts over two AZs; one more per ``SERVERS_PER_HOST`` servers."""
    count = max(3, math.ceil(servers / SERVERS_PER_HOST))
    return tuple(Hypervisor(f"hv-{AZS[i % 2]}-{i // 2 + 1:02d}", AZS[i % 2]) for i in range(count))


def _mean_vcpus() -> float:
    return sum(f.vcpus * w for f, w in zip(FLAVORS, FLAVOR_WEIGHTS, strict=True)) / sum(FLAVOR_WEIGHTS)


def _scaled(value: int | None, factor: float, floor: int, default: int) -> int:
    if value is None:
        return default
    if value < 0:
        return -1  # unlimited stays unlimited
    return max(floor, math.ceil(value * factor))


def scale_quotas(dept: Department, size_factor: float, count_factor: float) -> LabQuotas:
    q = dept.quotas
    ram_gb = _scaled(q.ram_gb, size_factor, 8, 64)
    instances = _scaled(q.instances, count_factor, 2, 10)
    return LabQuotas(
        cores=_scaled(q.cores, size_factor, 4, 20),
        ram_mb=ram_gb if ram_gb < 0 else ram_gb * 1024,
        instances=instances,
        gigabytes=_scaled(q.volume_gb, size_factor, 100, 1000),
        volumes=_scaled(q.volumes, count_factor, 2, 10),
        floating_ips=_scaled(q.floating_ips, count_factor, 1, 5),
        ports=_scaled(q.ports, count_factor, 10, max(50, 2 * instances)),
    )


def _shares(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainder), at least one each."""
    whole = sum(weights)
    raw = [total * w / whole for w in weights]
    counts = [max(1, int(r)) for r in raw]
    order = sorted(range(len(weights)), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    i = 0
    while sum(counts) < total:
        counts[order[i % len(order)]] += 1
        i += 1
    return counts


class _Usage:
    def __init__(self, quotas: LabQuotas) -> None:
        self.q = quotas
        self.cores = 0
        self.ram_mb = 0
        self.instances = 0
        self.gigabytes = 0
        self.volumes = 0

    @staticmethod
    def _fits(used: int, add: int, limit: int) -> bool:
        return limit < 0 or used + add <= limit

    def fits(self, f: Flavor) -> bool:
        return (
            self._fits(self.cores, f.vcpus, self.q.cores)
            and self._fits(self.ram_mb, f.ram_mb, self.q.ram_mb)
            and self._fits(self.instances, 1, self.q.instances)
            and self._fits(self.instances, 1, self.q.ports)
        )

    def take(self, f: Flavor) -> None:
        self.cores += f.vcpus
        self.ram_mb += f.ram_mb
        self.instances += 1

    def volume(self, size: int) -> bool:
        if self._fits(self.gigabytes, size, self.q.gigabytes) and self._fits(self.volumes, 1, self.q.volumes):
            self.gigabytes += size
            self.volumes += 1
            return True
        return False


def plan(departments: Sequence[Department], servers: int = 300, seed: int = 1) -> CloudPlan:
    if servers < 1:
        raise ValueError("servers must be >= 1")
    rng = random.Random(f"govops-lab-cloud:{seed}")
    depts = list(departments)
    total_instances = sum(max(d.quotas.instances or 10, 1) for d in depts)
    total_cores = sum(max(d.quotas.cores or 20, 1) for d in depts)
    count_factor = servers / (TARGET_FILL * total_instances)
    size_factor = servers * _mean_vcpus() / (TARGET_FILL * total_cores)
    near = next((d.code for d in depts if d.code == NEAR_QUOTA_DEPARTMENT), depts[0].code)
    counts = _shares(servers, [max(d.quotas.instances or 10, 1) for d in depts])
    out: list[DepartmentPlan] = []
    for dept, count in zip(depts, counts, strict=True):
        dp = DepartmentPlan(dept, scale_quotas(dept, size_factor, count_factor))
        usage = _Usage(dp.quotas)
        systems = rng.sample(SYSTEMS, k=min(len(SYSTEMS), 1 + count // 4))
        wanted = count
        while len(dp.servers) < wanted:
            base = rng.choices(range(len(FLAVORS)), weights=FLAVOR_WEIGHTS)[0]
            oversized = rng.random() < OVERSIZED_SHARE
            index = min(base + 2, len(FLAVORS) - 1) if oversized else base
            # Too big for what is left of the quota: step down; nothing fits: the department is full.
            while index >= 0 and not usage.fits(FLAVORS[index]):
                index -= 1
            if index < 0:
                break
            if dept.code == near and len(dp.servers) + 1 == wanted:
                # The near-quota department keeps growing until its cores are >= 90 % used.
                remaining = dp.quotas.cores - usage.cores - FLAVORS[index].vcpus
                if dp.quotas.cores > 0 and remaining > (1 - NEAR_QUOTA_FILL) * dp.quotas.cores:
                    wanted += 1
            chosen = FLAVORS[index]
            usage.take(chosen)
            system = systems[len(dp.servers) % len(systems)]
            size = rng.choice(VOLUME_SIZES_GB) if rng.random() < VOLUME_SHARE else None
            if size is not None and not usage.volume(size):
                size = None
            dp.servers.append(
                PlannedServer(
                    name=f"{dept.code}-{system}-{len(dp.servers) + 1:02d}",
                    department=dept.code,
                    system=system,
                    flavor=chosen.name,
                    stopped=rng.random() < SHUTOFF_SHARE,
                    oversized=oversized and index > base,
                    volume_gb=size,
                )
            )
        out.append(dp)
    return CloudPlan(
        hypervisors=hypervisors(servers),
        flavors=(*EXTRA_FLAVORS[:1], *FLAVORS, *EXTRA_FLAVORS[1:]),
        departments=tuple(out),
        size_factor=size_factor,
        count_factor=count_factor,
        near_quota=near,
    )
