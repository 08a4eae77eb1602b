"""Cloud headroom from Placement: capacity, allocated and free per host, availability zone and cloud,
and how many more VMs of each flavor fit (``govops capacity cloud``).

Figures are Placement's own, so they equal ``openstack resource provider inventory list`` and
``openstack resource provider usage show``: per resource class, capacity = (total - reserved) x
allocation_ratio (rounded down, as Placement checks it), allocated = the provider's usage, free =
capacity - allocated. Physical use (what the VMs on a host actually consume) comes from Prometheus
next to it, as the libvirt exporter's series summed by host.

Free slots per flavor are counted host by host, as the scheduler places VMs: a flavor fits on a
host as many times as *every* resource class it needs fits there (VCPU, MEMORY_MB and DISK_GB when
the flavor has a root disk), each request within the inventory's ``max_unit`` and ``step_size``.
Summing free vCPUs over a zone and dividing would count fragments no single host can hold.

Sources fail independently: Placement forbidden (non-admin credentials) leaves the Prometheus
figures, and Prometheus down leaves Placement's; each failure is one line in ``warnings``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from govops.capacity import metrics as m
from govops.capacity.ports import MetricsError, MetricsPort
from govops.errors import GovopsError
from govops.i18n import Msg, Text
from govops.observer import NullObserver, Observer

if TYPE_CHECKING:
    from govops.cloud.ports import CloudPort, Flavor, ProviderInventory, ResourceProvider

RESOURCE_CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB")
DEFAULT_AZ = "nova"  # Nova's default_availability_zone for hosts in no AZ aggregate
TAG = "govops_series"
GIB = 1024**3
PLACEMENT_NOTES = ("cap.warn.placement", "cap.warn.placement_hint")
NO_PROMETHEUS_NOTES = ("cap.warn.no_prom_physical", "cap.warn.no_prom_rightsize")


def is_note(note: Text, keys: Sequence[str]) -> bool:
    """Whether a warning is one of these catalog messages: notes are picked by key, not by wording."""
    return isinstance(note, Msg) and note.key in keys


@dataclass(frozen=True)
class ResourceHeadroom:
    """One resource class of a host, a zone or the cloud (sums for zones and the cloud)."""

    resource_class: str
    total: int
    reserved: int
    allocation_ratio: float | None  # None for a sum of hosts with different ratios
    capacity: int  # (total - reserved) x allocation_ratio
    allocated: int  # Placement usages
    max_unit: int | None = None

    @property
    def free(self) -> int:
        """Never negative: over-allocation (a ratio lowered after the fact) shows as 0 free."""
        return max(0, self.capacity - self.allocated)

    @property
    def allocated_pct(self) -> float | None:
        return 100.0 * self.allocated / self.capacity if self.capacity > 0 else None


@dataclass(frozen=True)
class PhysicalUse:
    """What the VMs on a host (zone, cloud) actually use, from Prometheus at the report time."""

    cpu_cores: float | None = None
    ram_gib: float | None = None
    vms: int | None = None  # VMs the libvirt exporter reports (running)


@dataclass(frozen=True)
class HostHeadroom:
    name: str
    az: str
    resources: Mapping[str, ResourceHeadroom]
    used: PhysicalUse = field(default_factory=PhysicalUse)


@dataclass(frozen=True)
class ZoneHeadroom:
    name: str  # availability zone, or "" for the whole cloud
    hosts: int
    resources: Mapping[str, ResourceHeadroom]
    used: PhysicalUse = field(default_factory=PhysicalUse)


@dataclass(frozen=True)
class FlavorSlots:
    """How many more VMs of one flavor fit, per availability zone and in total."""

    flavor: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    per_az: Mapping[str, int]
    total: int
    limited_by: str | None  # the resource class that bounds the most hosts (None when nothing fits anywhere)


@dataclass(frozen=True)
class CloudHeadroom:
    at: float
    hosts: tuple[HostHeadroom, ...]
    zones: tuple[ZoneHeadroom, ...]
    total: ZoneHeadroom | None
    flavors: tuple[FlavorSlots, ...]
    warnings: tuple[Text, ...]
    placement: bool  # Placement answered
    metrics: bool  # Prometheus answered
    aggregates: tuple[ZoneHeadroom, ...] = ()  # every host aggregate (AZ or not), by its name

    @property
    def complete(self) -> bool:
        return self.placement and self.metrics

    def zone(self, name: str) -> ZoneHeadroom | None:
        return next((z for z in self.zones if z.name == name), None)


# -- pure figures ----------------------------------------------------------------------------------


def _headroom(rc: str, inv: ProviderInventory, used: int) -> ResourceHeadroom:
    return ResourceHeadroom(rc, inv.total, inv.reserved, inv.allocation_ratio, inv.capacity, used, inv.max_unit)


def host_resources(rp: ResourceProvider) -> dict[str, ResourceHeadroom]:
    return {rc: _headroom(rc, inv, int(rp.usages.get(rc, 0))) for rc, inv in sorted(rp.inventories.items())}


def sum_resources(parts: Sequence[Mapping[str, ResourceHeadroom]]) -> dict[str, ResourceHeadroom]:
    out: dict[str, ResourceHeadroom] = {}
    classes = sorted({rc for p in parts for rc in p})
    for rc in classes:
        rows = [p[rc] for p in parts if rc in p]
        ratios = {r.allocation_ratio for r in rows}
        out[rc] = ResourceHeadroom(
            rc,
            sum(r.total for r in rows),
            sum(r.reserved for r in rows),
            ratios.pop() if len(ratios) == 1 else None,
            sum(r.capacity for r in rows),
            sum(r.allocated for r in rows),
            max((r.max_unit or 0) for r in rows) or None,
        )
    return out


def flavor_needs(flavor: Flavor) -> dict[str, int]:
    """The resource classes one VM of ``flavor`` asks Placement for (no root disk: boot from volume)."""
    needs = {"VCPU": flavor.vcpus, "MEMORY_MB": flavor.ram_mb}
    if flavor.disk_gb > 0:
        needs["DISK_GB"] = flavor.disk_gb
    return needs


def fits_on(resources: Mapping[str, ResourceHeadroom], needs: Mapping[str, int]) -> tuple[int, str | None]:
    """How many VMs asking ``needs`` fit on one host, and the resource class that bounds it."""
    best, bound = math.inf, None
    for rc, amount in needs.items():
        if amount <= 0:
            continue
        r = resources.get(rc)
        if r is None or (r.max_unit is not None and amount > r.max_unit):
            return 0, rc
        n = r.free // amount
        if n < best:
            best, bound = n, rc
    return (0 if best is math.inf else int(best)), bound


def flavor_slots(hosts: Sequence[HostHeadroom], flavors: Sequence[Flavor]) -> list[FlavorSlots]:
    out = []
    for f in sorted(flavors, key=lambda f: (f.vcpus, f.ram_mb, f.disk_gb, f.name)):
        needs = flavor_needs(f)
        per_az: dict[str, int] = {}
        bounds: dict[str, int] = {}
        for h in hosts:
            n, bound = fits_on(h.resources, needs)
            per_az[h.az] = per_az.get(h.az, 0) + n
            if bound is not None:
                bounds[bound] = bounds.get(bound, 0) + 1
        limited = max(sorted(bounds), key=lambda rc: bounds[rc]) if bounds else None
        out.append(
            FlavorSlots(
                f.name, f.vcpus, f.ram_mb, f.disk_gb, dict(sorted(per_az.items())), sum(per_az.values()), limited
            )
        )
    return out


def az_of_hosts(aggregates: Sequence[object]) -> dict[str, str]:
    """Host name -> availability zone, from aggregates that carry one."""
    out: dict[str, str] = {}
    for a in aggregates:
        az = getattr(a, "availability_zone", None)
        if az:
            for h in getattr(a, "hosts", ()):
                out.setdefault(h, az)
    return out


def _host_key(name: str) -> str:
    """Placement names a libvirt node by its FQDN, Nova's aggregates by the service's short host name."""
    return name.split(".", 1)[0]


def physical_query(host_label: str, step: float) -> str:
    """One request for every host's CPU cores, memory used and running VMs (libvirt exporter)."""
    by = f"sum by ({host_label})"
    rng = f"{max(1, round(2 * step - 1))}s"
    last = f"{max(1, round(step))}s"
    parts = {
        "cpu": f"{by} (rate({m.CPU_SECONDS}[{rng}]))",
        "ram": f"{by} (last_over_time({m.MEM_AVAILABLE}[{last}]) - last_over_time({m.MEM_USABLE}[{last}]))",
        "vms": f"count by ({host_label}) (last_over_time({m.VCPUS}[{last}]))",
    }
    return " or ".join(f'label_replace({e}, "{TAG}", "{k}", "", "")' for k, e in parts.items())


def _add_use(parts: Sequence[PhysicalUse]) -> PhysicalUse:
    def total(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    vms = total([float(p.vms) if p.vms is not None else None for p in parts])
    return PhysicalUse(
        total([p.cpu_cores for p in parts]), total([p.ram_gib for p in parts]), int(vms) if vms is not None else None
    )


# -- the service -------------------------------------------------------------------------------------


class HeadroomService:
    """Headroom from a ``CloudPort`` (Placement, aggregates, flavors) and a ``MetricsPort`` (physical use)."""

    def __init__(
        self,
        cloud: CloudPort | None,
        metrics: MetricsPort | None,
        observer: Observer | None = None,
        *,
        host_label: str = m.VM_HOST,
    ) -> None:
        self.cloud = cloud
        self.metrics = metrics
        self.observer = observer or NullObserver()
        self.host_label = host_label

    def physical(self, at: float, step: float = 300.0) -> dict[str, PhysicalUse]:
        """Host -> what its VMs use at ``at``; raises ``MetricsError`` when Prometheus fails."""
        assert self.metrics is not None
        rows: dict[str, dict[str, float]] = {}
        for s in self.metrics.query(physical_query(self.host_label, step), at):
            host = s.labels.get(self.host_label)
            if host:
                rows.setdefault(_host_key(host), {})[s.labels.get(TAG, "")] = s.value
        return {
            h: PhysicalUse(v.get("cpu"), v["ram"] / GIB if "ram" in v else None, int(v["vms"]) if "vms" in v else None)
            for h, v in rows.items()
        }

    def headroom(self, at: float, *, step: float = 300.0, az: str | None = None) -> CloudHeadroom:
        obs = self.observer
        obs.started(2, Msg("progress.cap.headroom"))
        warnings: list[Text] = []
        providers: list[ResourceProvider] = []
        zones_of: dict[str, str] = {}
        members: dict[str, tuple[str, ...]] = {}  # aggregate name -> hosts
        flavors: list[Flavor] = []
        placement_ok = False
        if self.cloud is None:
            warnings.append(Msg("cap.warn.no_cloud_placement"))
        else:
            try:
                providers = [p for p in self.cloud.resource_providers() if p.inventories]
                aggs = self.cloud.aggregates()
                zones_of = az_of_hosts(aggs)
                members = {a.name: tuple(a.hosts) for a in aggs if a.name}
                flavors = self.cloud.flavors()
                placement_ok = True
                obs.advanced("placement", "ok", f"{len(providers)} resource providers")
            except GovopsError as exc:
                hint = exc.hint_msg
                warnings.append(
                    Msg("cap.warn.placement", error=exc)
                    if not hint
                    else Msg("cap.warn.placement_hint", error=exc, hint=hint)
                )
                obs.advanced("placement", "failed", str(exc))
        used: dict[str, PhysicalUse] = {}
        metrics_ok = False
        if self.metrics is None:
            warnings.append(Msg("cap.warn.no_prom_physical"))
        else:
            try:
                used = self.physical(at, step)
                metrics_ok = True
                obs.advanced("prometheus", "ok", f"{len(used)} hosts")
            except MetricsError as exc:
                warnings.append(Msg("cap.warn.error", error=exc))
                obs.advanced("prometheus", "failed", str(exc))
        hosts: list[HostHeadroom] = []
        for rp in providers:
            key = _host_key(rp.name)
            zone = zones_of.get(rp.name) or zones_of.get(key) or DEFAULT_AZ
            hosts.append(HostHeadroom(rp.name, zone, host_resources(rp), used.get(key, PhysicalUse())))
        if not providers and used:  # Placement failed: still show each host's physical use
            hosts = [HostHeadroom(h, "", {}, u) for h, u in sorted(used.items())]
        if az is not None:
            known = sorted({h.az for h in hosts})
            if placement_ok and az not in known:
                from govops.errors import InputError

                raise InputError(
                    Msg("err.cap.unknown_az", az=az),
                    hint=Msg("err.cap.hint_known", names=", ".join(known) or Msg("err.none")),
                )
            hosts = [h for h in hosts if h.az == az]
        zones = []
        for name in sorted({h.az for h in hosts if h.az}):
            mine = [h for h in hosts if h.az == name]
            zones.append(
                ZoneHeadroom(
                    name, len(mine), sum_resources([h.resources for h in mine]), _add_use([h.used for h in mine])
                )
            )
        total = (
            ZoneHeadroom("", len(hosts), sum_resources([h.resources for h in hosts]), _add_use([h.used for h in hosts]))
            if hosts
            else None
        )
        slots = flavor_slots([h for h in hosts if h.resources], flavors) if placement_ok else []
        aggregates = []
        for name, names in sorted(members.items()):
            keys = {_host_key(n) for n in names}
            mine = [h for h in hosts if h.name in names or _host_key(h.name) in keys]
            if mine:
                aggregates.append(
                    ZoneHeadroom(
                        name, len(mine), sum_resources([h.resources for h in mine]), _add_use([h.used for h in mine])
                    )
                )
        obs.finished()
        return CloudHeadroom(
            at=at,
            hosts=tuple(hosts),
            zones=tuple(zones),
            total=total,
            flavors=tuple(slots),
            warnings=tuple(warnings),
            placement=placement_ok,
            metrics=metrics_ok,
            aggregates=tuple(aggregates),
        )
