"""What the lab cloud is seeded with: hypervisors, flavors, quotas, servers and volumes.

Pure and deterministic (same departments, server count and seed -> same plan), so it is unit-tested
without a cloud and the cloud's real answers can be checked against it.

Quotas are the departments' own from inventories/departments.yaml (OpenStack's defaults where one is
left out), so ``openstack quota show dept-x`` in the lab says what the inventory says. Servers are
spread over departments in proportion to their instances quota; the city's quotas allow ~30 cores per
instance, so with a few hundred servers departments use a realistic share of their instances quota
and a small one of their cores.

One department (the first with the smallest instances quota) is filled to its instances quota, so any
new server there is refused by Nova with HTTP 403 ("Quota exceeded for instances").
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from govops.departments import Department

SHUTOFF_SHARE = 0.08
OVERSIZED_SHARE = 0.12
VOLUME_SHARE = 0.5
SERVERS_PER_HOST = 40  # ~70 % of a host's vCPUs (ratio 4) and RAM at the mean flavor
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
    vcpus: int = 64  # two 16-core sockets with hyper-threading
    memory_mb: int = 512 * 1024
    disk_gb: int = 20000
    # What nova-compute reports to Placement as allocation_ratio and reserved (nova.conf's defaults
    # of the lab); one host differs on purpose, as a host kept for a database cluster would, so that
    # capacity figures are checked against a per-host ratio and reservation, not only the defaults.
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    reserved_host_cpus: int = 0
    reserved_host_memory_mb: int = 8192

    def nova_options(self) -> dict[str, str]:
        """The per-compute ``[DEFAULT]`` options that give Placement this host's ratios and reservations."""
        return {
            "cpu_allocation_ratio": f"{self.cpu_allocation_ratio:g}",
            "ram_allocation_ratio": f"{self.ram_allocation_ratio:g}",
            "reserved_host_cpus": str(self.reserved_host_cpus),
            "reserved_host_memory_mb": str(self.reserved_host_memory_mb),
        }


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
    near_quota: str  # department code, filled to its instances quota

    @property
    def servers(self) -> list[PlannedServer]:
        return [s for d in self.departments for s in d.servers]


def flavor(name: str) -> Flavor:
    for f in (*FLAVORS, *EXTRA_FLAVORS):
        if f.name == name:
            return f
    raise KeyError(name)


# The last host: CPU overcommit 2 instead of 4, 4 cores and 32 GiB kept for the host itself.
SPECIAL_HOST = {"cpu_allocation_ratio": 2.0, "reserved_host_cpus": 4, "reserved_host_memory_mb": 32768}


def hypervisors(servers: int) -> tuple[Hypervisor, ...]:
    """At least three hosts over two AZs; one more per ``SERVERS_PER_HOST`` servers; the last one with
    a non-default CPU allocation ratio and reservations (``SPECIAL_HOST``)."""
    count = max(3, math.ceil(servers / SERVERS_PER_HOST))
    hosts = [Hypervisor(f"hv-{AZS[i % 2]}-{i // 2 + 1:02d}", AZS[i % 2]) for i in range(count)]
    last = hosts[-1]
    hosts[-1] = Hypervisor(
        last.name,
        last.az,
        cpu_allocation_ratio=float(SPECIAL_HOST["cpu_allocation_ratio"]),
        reserved_host_cpus=int(SPECIAL_HOST["reserved_host_cpus"]),
        reserved_host_memory_mb=int(SPECIAL_HOST["reserved_host_memory_mb"]),
    )
    return tuple(hosts)


# OpenStack's own defaults (nova, cinder, neutron) for a quota a department leaves out.
DEFAULT_QUOTAS = {"cores": 20, "ram_gb": 50, "instances": 10, "volume_gb": 1000, "volumes": 10}
DEFAULT_FLOATING_IPS = 50
DEFAULT_PORTS = 500


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def department_quotas(dept: Department) -> LabQuotas:
    q = dept.quotas
    ram_gb = _or(q.ram_gb, DEFAULT_QUOTAS["ram_gb"])
    return LabQuotas(
        cores=_or(q.cores, DEFAULT_QUOTAS["cores"]),
        ram_mb=ram_gb if ram_gb < 0 else ram_gb * 1024,
        instances=_or(q.instances, DEFAULT_QUOTAS["instances"]),
        gigabytes=_or(q.volume_gb, DEFAULT_QUOTAS["volume_gb"]),
        volumes=_or(q.volumes, DEFAULT_QUOTAS["volumes"]),
        floating_ips=_or(q.floating_ips, DEFAULT_FLOATING_IPS),
        ports=_or(q.ports, DEFAULT_PORTS),
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


def near_quota_department(departments: Sequence[Department]) -> Department:
    """The department the lab fills to its instances quota: the first with the smallest one."""
    limited = [d for d in departments if department_quotas(d).instances > 0] or list(departments)
    return min(limited, key=lambda d: department_quotas(d).instances)


def plan(departments: Sequence[Department], servers: int = 300, seed: int = 1) -> CloudPlan:
    if servers < 1:
        raise ValueError("servers must be >= 1")
    if not departments:
        raise ValueError("no departments to seed")
    rng = random.Random(f"govops-lab-cloud:{seed}")
    depts = list(departments)
    near = near_quota_department(depts)
    full = max(1, department_quotas(near).instances)
    others = [d for d in depts if d.code != near.code]
    shares = _shares(max(servers - full, len(others)), [max(department_quotas(d).instances, 1) for d in others])
    counts = {near.code: full} | {d.code: n for d, n in zip(others, shares, strict=True)}
    out: list[DepartmentPlan] = []
    for dept in depts:
        dp = DepartmentPlan(dept, department_quotas(dept))
        usage = _Usage(dp.quotas)
        count = counts[dept.code]
        systems = rng.sample(SYSTEMS, k=min(len(SYSTEMS), 1 + count // 4))
        while len(dp.servers) < count:
            base = rng.choices(range(len(FLAVORS)), weights=FLAVOR_WEIGHTS)[0]
            oversized = rng.random() < OVERSIZED_SHARE
            index = min(base + 2, len(FLAVORS) - 1) if oversized else base
            # Too big for what is left of the quota: step down; nothing fits: the department is full.
            while index >= 0 and not usage.fits(FLAVORS[index]):
                index -= 1
            if index < 0:
                break
            chosen = FLAVORS[index]
            usage.take(chosen)
            # A system's servers share a size, as in a real estate of web tiers and databases; it also lets
            # the seeder create them in one multi-create request (same flavor, same metadata).
            system = systems[index % len(systems)]
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
    total = sum(len(d.servers) for d in out)
    return CloudPlan(
        hypervisors=hypervisors(total),
        flavors=(*EXTRA_FLAVORS[:1], *FLAVORS, *EXTRA_FLAVORS[1:]),
        departments=tuple(out),
        near_quota=near.code,
    )
