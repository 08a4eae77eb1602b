"""The lab cloud's seed plan: the departments' own quotas, servers that fit them and the hosts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from govops.departments import Departments, load_departments
from govops.lab.cloud import plan as p
from govops.lab.cloud.component import write_truth

from tests.conftest import REPO


@pytest.fixture(scope="module")
def departments() -> Departments:
    return load_departments(REPO / "inventories" / "departments.yaml")


def test_same_inputs_same_plan_other_seed_other_plan(departments: Departments) -> None:
    a = p.plan(list(departments), 120, seed=3)
    assert a == p.plan(list(departments), 120, seed=3)
    assert a.servers != p.plan(list(departments), 120, seed=4).servers


def test_quotas_are_the_departments_own(departments: Departments) -> None:
    cloud = p.plan(list(departments), 80, seed=1)
    for dp in cloud.departments:
        q = dp.department.quotas
        assert dp.quotas.cores == q.cores
        assert dp.quotas.ram_mb == q.ram_gb * 1024  # type: ignore[operator]
        assert dp.quotas.instances == q.instances
        assert dp.quotas.gigabytes == q.volume_gb
        assert dp.quotas.volumes == q.volumes
        assert dp.quotas.floating_ips == q.floating_ips


def test_a_quota_left_out_gets_openstacks_default(departments: Departments) -> None:
    d = next(iter(departments))
    bare = d.model_copy(update={"quotas": d.quotas.model_copy(update={"cores": None, "ports": None})})
    q = p.department_quotas(bare)
    assert q.cores == p.DEFAULT_QUOTAS["cores"]
    assert q.ports == p.DEFAULT_PORTS


@pytest.mark.parametrize("servers", [64, 300])
def test_every_department_fits_its_quotas_and_the_full_one_is_full(departments: Departments, servers: int) -> None:
    cloud = p.plan(list(departments), servers, seed=1)
    assert servers <= len(cloud.servers) <= servers + 5
    for dp in cloud.departments:
        shapes = [p.flavor(s.flavor) for s in dp.servers]
        assert dp.servers, dp.department.code
        assert sum(f.vcpus for f in shapes) <= dp.quotas.cores
        assert sum(f.ram_mb for f in shapes) <= dp.quotas.ram_mb
        assert len(dp.servers) <= dp.quotas.instances
        assert sum(s.volume_gb or 0 for s in dp.servers) <= dp.quotas.gigabytes
        assert len({s.name for s in dp.servers}) == len(dp.servers)
    full = next(dp for dp in cloud.departments if dp.department.code == cloud.near_quota)
    assert len(full.servers) == full.quotas.instances
    assert full.quotas.instances == min(dp.quotas.instances for dp in cloud.departments)


@pytest.mark.parametrize("servers", [64, 300, 600])
def test_hosts_hold_the_servers_under_realistic_ratios(departments: Departments, servers: int) -> None:
    cloud = p.plan(list(departments), servers, seed=1)
    hosts = cloud.hypervisors
    assert len(hosts) >= 3 and {h.az for h in hosts} == {"az1", "az2"}
    assert all(h.vcpus == 64 and h.memory_mb == 512 * 1024 for h in hosts)
    vcpus = sum(p.flavor(s.flavor).vcpus for s in cloud.servers)
    ram = sum(p.flavor(s.flavor).ram_mb for s in cloud.servers)
    # cpu_allocation_ratio 4.0, RAM 1.0 less 8 GiB reserved per host: room to spare for the scheduler
    assert vcpus <= 0.8 * sum(h.vcpus * 4 for h in hosts)
    assert ram <= 0.8 * sum(h.memory_mb - 8192 for h in hosts)


def test_some_servers_are_stopped_oversized_or_have_volumes(departments: Departments) -> None:
    servers = p.plan(list(departments), 300, seed=1).servers
    assert any(s.stopped for s in servers)
    assert any(s.oversized for s in servers)
    assert 0.3 < sum(1 for s in servers if s.volume_gb) / len(servers) < 0.7


def test_truth_file_describes_the_plan(departments: Departments, tmp_path: Path) -> None:
    cloud = p.plan(list(departments), 64, seed=2)
    write_truth(tmp_path / "cloud-truth.json", cloud)
    doc = json.loads((tmp_path / "cloud-truth.json").read_text())
    assert doc["near_quota"] == cloud.near_quota
    assert len(doc["departments"]) == len(cloud.departments)
    gaj = doc["departments"]["gaj"]
    assert gaj["project"] == "dept-gaj" and gaj["cloud"] == "govops-lab-gaj" and gaj["user"] == "ops-gaj"
    assert gaj["quotas"]["cores"] == departments.get("gaj").quotas.cores
    assert sum(len(d["servers"]) for d in doc["departments"].values()) == len(cloud.servers)


@pytest.mark.parametrize("servers", [64, 300])
def test_servers_are_created_in_batches_nova_can_name(departments: Departments, servers: int) -> None:
    from govops.lab.cloud.seed import batch_name, server_batches

    cloud = p.plan(list(departments), servers, seed=1)
    requests = 0
    for dp in cloud.departments:
        batches = server_batches(dp.servers)
        requests += len(batches)
        assert sorted(s.name for b in batches for s in b) == sorted(s.name for s in dp.servers)
        planned = {s.name for s in dp.servers}
        interim: set[str] = set()
        for b in batches:
            # one request: one flavor, one metadata
            assert len({(s.flavor, s.system) for s in b}) == 1
            if len(b) == 1:
                assert batch_name(b, 0) == batch_name(b, -1) == b[0].name
                continue
            # Nova suffixes the request's name with -1 ... -n; none of those may be a planned name
            names = [batch_name(b, i) for i in range(len(b))]
            assert names == [f"{batch_name(b, -1)}-{i}" for i in range(1, len(b) + 1)]
            assert not set(names) & planned and not set(names) & interim
            interim |= set(names)
    assert requests < len(cloud.servers)


def test_one_host_has_its_own_ratio_and_reservations() -> None:
    from govops.lab.cloud.plan import SPECIAL_HOST, hypervisors

    hosts = hypervisors(64)
    special = [h for h in hosts if h.cpu_allocation_ratio != 4.0]
    assert [h.name for h in special] == [hosts[-1].name]
    assert special[0].nova_options() == {
        "cpu_allocation_ratio": f"{SPECIAL_HOST['cpu_allocation_ratio']:g}",
        "ram_allocation_ratio": "1",
        "reserved_host_cpus": str(SPECIAL_HOST["reserved_host_cpus"]),
        "reserved_host_memory_mb": str(SPECIAL_HOST["reserved_host_memory_mb"]),
    }
    assert all(h.nova_options()["reserved_host_memory_mb"] == "8192" for h in hosts[:-1])
