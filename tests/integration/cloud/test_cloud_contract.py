"""The CloudPort contract: the same assertions against the in-memory fake and the lab's real OpenStack.

If the fake drifts from what Nova, Cinder and Neutron really answer, this test fails for one of the
two, so unit tests built on the fake keep meaning something.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from govops.cloud.ports import (
    META_RUN,
    QUOTA_RESOURCES,
    CloudApiError,
    CloudNotFound,
    CloudPort,
    Project,
    QuotaExceeded,
    ServerRequest,
)
from govops.cloud.vms import VmService

from tests.fakes_cloud import FakeCloud

pytestmark = pytest.mark.integration


@dataclass
class Backend:
    port: CloudPort
    project: Project  # room for a few small servers
    full: Project  # no instance left in its quota
    flavor: str
    image: str
    network: str


def _fake() -> Backend:
    cloud = FakeCloud(build_polls=1)
    project = cloud.add_project("dept-room")
    full = cloud.add_project("dept-full", limits={"instances": 0})
    cloud.add_flavor("m1.small", 1, 2048)
    cloud.add_image("cirros-lab")
    cloud.add_network("lab-net")
    cloud.add_host("hv-az1-01", "az1", used={"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20})
    cloud.add_host("hv-az2-01", "az2")
    return Backend(cloud, project, full, "m1.small", "cirros-lab", "lab-net")


def roomy_department(truth: dict[str, Any]) -> str:
    """A department with room for a few servers, from the end of the list: the batch tests take
    theirs from the front, and quota figures stay exact only while no one else creates there."""
    return next(
        code
        for code, d in reversed(truth["departments"].items())
        if code != truth["near_quota"] and d["quotas"]["instances"] - len(d["servers"]) >= 3
    )


def _real(cloud_lab: Any) -> Backend:
    from govops.cloud.connection import CloudTarget
    from govops.cloud.openstack import connect

    port = connect(CloudTarget(cloud_lab.cloud, Path(cloud_lab.clouds_file)))
    truth = cloud_lab.truth["cloud"]
    room = roomy_department(truth)
    project = port.find_project(truth["departments"][room]["project"])
    full = port.find_project(truth["departments"][truth["near_quota"]]["project"])
    assert project is not None and full is not None
    return Backend(port, project, full, "m1.small", "cirros-lab", "lab-net")


@pytest.fixture(params=["fake", "openstack"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "fake":
        return _fake()
    return _real(request.getfixturevalue("cloud_lab"))


@pytest.fixture
def made(backend: Backend) -> Iterator[list[str]]:
    """IDs of servers a test created: deleted afterwards whatever happened."""
    ids: list[str] = []
    yield ids
    for sid in ids:
        with contextlib.suppress(CloudNotFound):
            backend.port.delete_server(sid)


def _request(b: Backend, name: str, run_id: str) -> ServerRequest:
    flavor = b.port.find_flavor(b.flavor)
    image = b.port.find_image(b.image)
    net = b.port.find_network(b.network)
    assert flavor and image and net
    return ServerRequest(
        name=name,
        flavor_id=flavor.id,
        image_id=image.id,
        network_ids=(net.id,),
        metadata={"department": "contract", META_RUN: run_id},
    )


def test_lookups(backend: Backend) -> None:
    port = backend.port
    assert port.find_project(backend.project.name) == backend.project
    assert port.find_project(backend.project.id) == backend.project
    assert port.find_project("no-such-project-" + secrets.token_hex(3)) is None
    flavor = port.find_flavor(backend.flavor)
    assert flavor is not None and (flavor.vcpus, flavor.ram_mb) == (1, 2048)
    assert port.find_flavor(flavor.id) == flavor
    assert port.find_flavor("m9.none") is None
    assert flavor in port.flavors()
    assert port.find_image("no-such-image") is None
    assert port.find_network("no-such-net") is None
    assert port.find_server_group("no-such-group") is None
    assert backend.project in port.projects()


def test_unknown_server_is_404(backend: Backend) -> None:
    with pytest.raises(CloudNotFound) as err:
        backend.port.get_server("00000000-0000-4000-8000-000000000000")
    assert err.value.status == 404
    assert err.value.exit_code == 2


def test_quotas_are_consistent(backend: Backend) -> None:
    q = backend.port.get_quotas(backend.project.id)
    assert set(q.items) == set(QUOTA_RESOURCES)
    for usage in q.items.values():
        assert usage.limit >= -1 and usage.in_use >= 0 and usage.reserved >= 0
        if usage.free is not None:
            assert usage.free == max(0, usage.limit - usage.in_use - usage.reserved)


def test_quotas_asked_for_some_resources_are_the_same_figures(backend: Backend) -> None:
    every = backend.port.get_quotas(backend.project.id)
    some = backend.port.get_quotas(backend.project.id, resources=("cores", "ram_mb", "instances", "gigabytes"))
    # the capacity report's four; Neutron (ports, floating IPs) is not asked
    assert {"cores", "ram_mb", "instances", "gigabytes"} <= set(some.items)
    assert not {"ports", "floating_ips"} & set(some.items)
    for name, usage in some.items.items():
        assert usage == every.items[name], name


def test_server_lifecycle(backend: Backend, made: list[str]) -> None:
    port = backend.port
    svc = VmService(port)
    run_id = "contract-" + secrets.token_hex(4)
    name = f"contract-{secrets.token_hex(3)}"
    before = port.get_quotas(backend.project.id).items["instances"].in_use
    server = port.create_server(backend.project, _request(backend, name, run_id))
    made.append(server.id)
    assert server.name == name and server.project_id == backend.project.id
    assert server.metadata[META_RUN] == run_id
    assert server.status in ("BUILD", "ACTIVE")
    assert [s.id for s in port.servers(backend.project.id, name=name)] == [server.id]
    assert port.servers(backend.project.id, name=name[:-1]) == []  # exact names, not Nova's regex
    assert server.id in {s.id for s in port.servers(None)}
    active = svc.wait_for(server.id, ("ACTIVE",), timeout=180)
    assert active.flavor == backend.flavor and active.vcpus == 1 and active.ram_mb == 2048
    assert backend.network in active.addresses
    assert port.get_quotas(backend.project.id).items["instances"].in_use == before + 1
    with pytest.raises(CloudApiError) as err:
        port.start_server(server.id)  # already running
    assert err.value.status == 409
    port.stop_server(server.id)
    assert svc.wait_for(server.id, ("SHUTOFF",), timeout=180).status == "SHUTOFF"
    assert [s.id for s in port.servers(backend.project.id, status="SHUTOFF", name=name)] == [server.id]
    port.delete_server(server.id)
    svc.wait_deleted(server.id, timeout=180)
    made.remove(server.id)
    with pytest.raises(CloudNotFound):
        port.get_server(server.id)


def test_create_beyond_quota_is_refused_by_the_cloud(backend: Backend, made: list[str]) -> None:
    name = f"contract-full-{secrets.token_hex(3)}"
    with pytest.raises(QuotaExceeded) as err:
        server = backend.port.create_server(backend.full, _request(backend, name, "contract"))
        made.append(server.id)
    assert err.value.api_error is not None and err.value.api_error.status == 403
    assert "quota" in err.value.message.lower()
    assert backend.port.servers(backend.full.id, name=name) == []


def test_placement_and_aggregates(backend: Backend) -> None:
    """Resource providers carry Placement's inventory fields and usages; zones come from aggregates."""
    providers = backend.port.resource_providers()
    assert providers and [p.name for p in providers] == sorted(p.name for p in providers)
    for p in providers:
        vcpu = p.inventories["VCPU"]
        assert vcpu.total > 0 and vcpu.reserved >= 0 and vcpu.allocation_ratio > 0
        assert vcpu.capacity == int((vcpu.total - vcpu.reserved) * vcpu.allocation_ratio)
        assert {"VCPU", "MEMORY_MB", "DISK_GB"} <= set(p.inventories)
        assert all(v >= 0 for v in p.usages.values())
    assert sum(p.usages.get("VCPU", 0) for p in providers) > 0
    zones = {a.availability_zone for a in backend.port.aggregates() if a.availability_zone}
    hosts = {h for a in backend.port.aggregates() for h in a.hosts}
    assert zones >= {"az1", "az2"} and hosts <= {p.name for p in providers}


def test_capacity_planner_reads_the_cloud_alike(backend: Backend) -> None:
    """The capacity planner's cloud side (headroom, free slots, what-if against the quota) on either
    backend, Prometheus not configured: the same figures from the fake as from Placement and Nova."""
    from govops.capacity.planner import CapacityPlanner, CapacityPorts
    from govops.departments import Department, Departments
    from govops.errors import ConfigError

    def no_prometheus() -> Any:
        raise ConfigError("no Prometheus configured")

    departments = Departments(
        (
            Department(code="room", name_zh="余", name_en="Room", project=backend.project.name),
            Department(code="full", name_zh="满", name_en="Full", project=backend.full.name),
        ),
        "contract",
    )
    planner = CapacityPlanner(
        CapacityPorts(lambda: departments, no_prometheus, lambda: backend.port, cloud_configured=lambda: True)
    )
    at = 1796169600.0
    h = planner.headroom(at)
    assert h.placement and not h.metrics and h.total is not None
    assert "no Prometheus configured" in [str(x) for x in h.warnings]
    for host in h.hosts:
        for r in host.resources.values():
            assert r.capacity == int((r.total - r.reserved) * (r.allocation_ratio or 0)) and r.free >= 0
    for rc, r in h.total.resources.items():
        assert r.capacity == sum(x.resources[rc].capacity for x in h.hosts if rc in x.resources)
        assert r.allocated == sum(x.resources[rc].allocated for x in h.hosts if rc in x.resources)
    small = next(f for f in h.flavors if f.flavor == backend.flavor)
    assert small.total == sum(small.per_az.values()) > 0
    # one small VM per host at most as many as its free vCPUs and RAM allow
    assert small.total <= sum(min(x.resources["VCPU"].free, x.resources["MEMORY_MB"].free // 2048) for x in h.hosts)
    w = planner.whatif("room", ["1xm1.small"], at=at)
    assert w.quota_fits and w.cloud_fits and w.fits
    assert any("growth is unknown" in str(n) for n in w.warnings)
    w = planner.whatif("full", ["1xm1.small"], at=at)
    assert not w.fits and [q.resource for q in w.shortfalls] == ["instances"]
    assert w.runs_out_first == "instances"
