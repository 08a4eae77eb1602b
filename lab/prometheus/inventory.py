"""The cloud's servers, as the cloud lab component writes them to ``<lab>/cloud-inventory.json``.

Prometheus' history is generated for exactly these servers. When the cloud lab is not up, a
deterministic stand-in is synthesised from inventories/departments.yaml (one project per department)
and written with ``"synthetic": true`` so this component works on its own and in tests.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from govops.departments import Department, Departments
from govops.lab.processes import LabError

INVENTORY_FILE = "cloud-inventory.json"

# (name, vcpus, ram_mb, disk_gb, weight): small flavors dominate, as in a government cloud.
FLAVORS = (
    ("m1.small", 1, 2048, 20, 0.50),
    ("m1.medium", 2, 4096, 40, 0.30),
    ("m1.large", 4, 8192, 80, 0.15),
    ("m1.xlarge", 8, 16384, 160, 0.05),
)
HYPERVISORS = 3
HYPERVISOR_VCPUS = 64
HYPERVISOR_MEMORY_MB = 512 * 1024
HYPERVISOR_DISK_GB = 8000
SHUTOFF_SHARE = 0.04


@dataclass(frozen=True)
class Hypervisor:
    name: str
    az: str
    vcpus: int
    memory_mb: int
    disk_gb: int


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    department: str


@dataclass(frozen=True)
class Server:
    id: str
    name: str
    project_id: str
    project: str
    department: str
    host: str
    az: str
    flavor: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    status: str
    created_at: str

    @property
    def active(self) -> bool:
        return self.status.upper() == "ACTIVE"


@dataclass(frozen=True)
class CloudInventory:
    hypervisors: tuple[Hypervisor, ...]
    projects: tuple[Project, ...]
    servers: tuple[Server, ...]
    synthetic: bool = False
    # ids of servers given a flavor above what their workload needs (the cloud plan's "oversized")
    oversized: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "synthetic": self.synthetic,
            "hypervisors": [asdict(h) for h in self.hypervisors],
            "projects": [asdict(p) for p in self.projects],
            "servers": [asdict(s) for s in self.servers],
            "oversized_server_ids": sorted(self.oversized),
        }


def _pick(rng: random.Random, items: list[tuple[Any, float]]) -> Any:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def synthesise(departments: Departments, seed: int, servers: int = 300) -> CloudInventory:
    """A cloud like the lab's: servers spread over departments in proportion to their instance quota."""
    rng = random.Random(f"govops-cloud-inventory:{seed}")
    hvs = tuple(
        Hypervisor(f"compute{i + 1:02d}", "nova", HYPERVISOR_VCPUS, HYPERVISOR_MEMORY_MB, HYPERVISOR_DISK_GB)
        for i in range(HYPERVISORS)
    )
    projects = tuple(Project(rng.getrandbits(128).to_bytes(16).hex(), d.project, d.code) for d in departments)
    weights = [max(d.quotas.instances or 10, 1) for d in departments]
    total = sum(weights)
    # Every department gets at least one server; the rest follow the instance quotas.
    counts = [max(1, round(servers * w / total)) for w in weights]
    while sum(counts) > servers and max(counts) > 1:
        counts[counts.index(max(counts))] -= 1
    while sum(counts) < servers:
        counts[counts.index(min(counts))] += 1
    # Before any history window (<= 400 days): the history treats every server as existing throughout.
    created = "2024-01-01T00:00:00Z"
    out: list[Server] = []
    flavor_weights = [((n, v, r, dk), w) for n, v, r, dk, w in FLAVORS]
    for dept, project, count in zip(departments, projects, counts, strict=True):
        for i in range(count):
            name, vcpus, ram, disk = _pick(rng, flavor_weights)
            host = hvs[rng.randrange(len(hvs))]
            status = "SHUTOFF" if rng.random() < SHUTOFF_SHARE else "ACTIVE"
            out.append(
                Server(
                    _uuid(rng),
                    f"{dept.code}-app{i + 1:02d}",
                    project.id,
                    project.name,
                    dept.code,
                    host.name,
                    host.az,
                    name,
                    vcpus,
                    ram,
                    disk,
                    status,
                    created,
                )
            )
    return CloudInventory(hvs, projects, tuple(out), synthetic=True)


def _build(data: dict[str, Any], source: Path) -> CloudInventory:
    try:
        return CloudInventory(
            tuple(Hypervisor(**h) for h in data.get("hypervisors", [])),
            tuple(Project(**p) for p in data.get("projects", [])),
            tuple(Server(**s) for s in data.get("servers", [])),
            synthetic=bool(data.get("synthetic", False)),
            oversized=frozenset(str(x) for x in data.get("oversized_server_ids", ())),
        )
    except TypeError as exc:
        raise LabError(f"{source}: not a cloud inventory ({exc})") from None


def load_or_synthesise(lab_dir: Path, departments: Departments, seed: int, servers: int | None) -> CloudInventory:
    """The cloud lab's inventory, or a synthetic one written in its place when the cloud is not up."""
    path = lab_dir / INVENTORY_FILE
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise LabError(f"{path}: unreadable cloud inventory ({exc})") from None
        if not isinstance(data, dict):
            raise LabError(f"{path}: not a cloud inventory (expected an object)")
        inv = _build(data, path)
        # A synthetic file from another seed or size is ours to replace; a real cloud's never is.
        wanted = servers or 300
        if not inv.synthetic or (data.get("seed") == seed and len(inv.servers) == wanted):
            if not inv.servers:
                raise LabError(f"{path}: the cloud inventory lists no servers")
            return inv
    inv = synthesise(departments, seed, servers or 300)
    doc = inv.to_json()
    doc["seed"] = seed
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    return inv


def department_index(departments: Departments) -> dict[str, Department]:
    """Departments by code and by project name: inventories may carry either."""
    out: dict[str, Department] = {}
    for d in departments:
        out[d.code] = d
        out[d.project] = d
    return out
