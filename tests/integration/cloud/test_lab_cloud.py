"""The lab cloud for real: Keystone, Nova, Neutron, Cinder and Prometheus answer with what was seeded."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from govops.departments import load_departments
from govops.lab.core import Lab, LabOptions
from govops.lab.processes import _start_time, still_listening
from govops.observer import NullObserver

from tests.conftest import REPO
from tests.integration.cloud.conftest import CloudLabInfo

pytestmark = pytest.mark.integration


def _planned(lab: CloudLabInfo) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for d in lab.truth["cloud"]["departments"].values() for s in d["servers"]}


def _openstack(lab: CloudLabInfo, *args: str) -> Any:
    """The ``openstack`` CLI from the lab's venv, as an operator would run it, JSON output parsed."""
    if lab.openstack_cli is None:
        pytest.skip(f"python-openstackclient not in {lab.venv}")
    proc = subprocess.run(
        [str(lab.openstack_cli), "--os-cloud", lab.cloud, *args, "-f", "json"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "OS_CLIENT_CONFIG_FILE": str(lab.clouds_file), "HOME": str(lab.dir)},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_server_list_all_projects_shows_the_seeded_cloud(cloud_lab: CloudLabInfo) -> None:
    planned = _planned(cloud_lab)
    hosts = {h["name"] for h in cloud_lab.truth["cloud"]["hypervisors"]}
    conn = cloud_lab.connect()
    servers = {s.name: s for s in conn.compute.servers(details=True, all_projects=True)}
    assert set(planned) <= set(servers)
    for name, plan in planned.items():
        s = servers[name]
        assert s.status == ("SHUTOFF" if plan["stopped"] else "ACTIVE"), name
        assert s.flavor["original_name"] == plan["flavor"]
        assert s.compute_host in hosts
        # attached to the lab network through a real Neutron port (bound by the lab's ML2 driver)
        assert any(a["addr"].startswith("10.40.") for nets in s.addresses.values() for a in nets), name
    # at least 3 hosts in 2 availability zones, and servers spread over more than one of them
    assert len(hosts) >= 3
    assert {h["az"] for h in cloud_lab.truth["cloud"]["hypervisors"]} == {"az1", "az2"}
    assert len({servers[n].compute_host for n in planned}) >= 2
    # the operator's view: `openstack server list --all-projects`
    rows = _openstack(cloud_lab, "server", "list", "--all-projects")
    assert set(planned) <= {r["Name"] for r in rows}


def test_hypervisors_are_sized_like_real_ones(cloud_lab: CloudLabInfo) -> None:
    conn = cloud_lab.connect()
    planned = {h["name"]: h for h in cloud_lab.truth["cloud"]["hypervisors"]}
    seen = {}
    for rp in conn.placement.resource_providers():
        inv = {i.resource_class: i for i in conn.placement.resource_provider_inventories(rp)}
        seen[rp.name] = inv
    assert set(planned) <= set(seen)
    for name, hv in planned.items():
        assert seen[name]["VCPU"].total == hv["vcpus"]
        assert seen[name]["MEMORY_MB"].total == hv["memory_mb"]
        # each host's own nova.conf: the default 4.0, and one host with 2.0 and reservations
        assert seen[name]["VCPU"].allocation_ratio == hv["cpu_allocation_ratio"]
        assert seen[name]["VCPU"].reserved == hv["reserved_host_cpus"]
        assert seen[name]["MEMORY_MB"].reserved == hv["reserved_host_memory_mb"]
    assert {hv["cpu_allocation_ratio"] for hv in planned.values()} == {4.0, 2.0}


def test_quotas_match_departments_yaml(cloud_lab: CloudLabInfo) -> None:
    departments = load_departments(REPO / "inventories" / "departments.yaml")
    conn = cloud_lab.connect()
    projects = {p.name: p.id for p in conn.identity.projects()}
    for d in departments:
        q = d.quotas
        compute = conn.compute.get_quota_set(projects[d.project])
        volume = conn.block_storage.get_quota_set(projects[d.project])
        network = conn.network.get_quota(projects[d.project])
        expected = {
            "cores": (compute.cores, q.cores),
            "ram": (compute.ram, None if q.ram_gb is None else q.ram_gb * 1024),
            "instances": (compute.instances, q.instances),
            "gigabytes": (volume.gigabytes, q.volume_gb),
            "volumes": (volume.volumes, q.volumes),
            "floatingip": (network.floating_ips, q.floating_ips),
            "port": (network.ports, q.ports),
        }
        for key, (got, want) in expected.items():
            if want is not None:
                assert got == want, f"{d.code} {key}"
    # and as `openstack quota show dept-x` prints it
    gaj = departments.get("gaj")
    rows = {r["Resource"]: r["Limit"] for r in _openstack(cloud_lab, "quota", "show", gaj.project)}
    assert rows["cores"] == gaj.quotas.cores
    assert rows["instances"] == gaj.quotas.instances
    assert rows["gigabytes"] == gaj.quotas.volume_gb


def _create_refused(conn: Any, flavor_id: str, image_id: str, net_id: str, name: str) -> Any:
    from openstack import exceptions

    try:
        server = conn.compute.create_server(
            name=name, flavor_id=flavor_id, image_id=image_id, networks=[{"uuid": net_id}]
        )
    except exceptions.HttpException as exc:
        return exc
    conn.compute.delete_server(server)  # not refused: leave the shared cloud as it was, then fail
    pytest.fail(f"Nova accepted {name} over the department's quota")


def test_server_over_quota_is_refused_by_nova_with_403(cloud_lab: CloudLabInfo) -> None:
    truth = cloud_lab.truth["cloud"]
    admin = cloud_lab.connect()
    image = admin.image.find_image("cirros-lab", ignore_missing=False)
    net = admin.network.find_network("lab-net", ignore_missing=False)
    small = admin.compute.find_flavor("m1.small", ignore_missing=False)

    # 1. the department the lab filled to its instances quota: any new server is over quota
    full = truth["near_quota"]
    conn = cloud_lab.connect(full)
    limits = conn.compute.get_limits().absolute
    assert limits.instances_used == limits.instances == truth["departments"][full]["quotas"]["instances"]
    exc = _create_refused(conn, small.id, image.id, net.id, f"{full}-over-quota")
    assert exc.status_code == 403
    assert "Quota exceeded for instances" in str(exc)
    assert exc.request_id and exc.request_id.startswith("req-")

    # 2. another department asks for one more core than it has left
    code = next(c for c in truth["departments"] if c != full)
    conn = cloud_lab.connect(code)
    limits = conn.compute.get_limits().absolute
    need = limits.total_cores - limits.total_cores_used + 1
    flavor = admin.compute.create_flavor(name=f"lab-test-{need}c-{time.time_ns()}", vcpus=need, ram=1024, disk=1)
    try:
        exc = _create_refused(conn, flavor.id, image.id, net.id, f"{code}-over-cores")
    finally:
        admin.compute.delete_flavor(flavor)
    assert exc.status_code == 403
    assert "Quota exceeded for cores" in str(exc)


def test_volumes_count_against_gigabytes(cloud_lab: CloudLabInfo) -> None:
    truth = cloud_lab.truth["cloud"]["departments"]
    _, dept = max(truth.items(), key=lambda kv: sum(s["volume_gb"] or 0 for s in kv[1]["servers"]))
    planned_gb = sum(s["volume_gb"] or 0 for s in dept["servers"])
    admin = cloud_lab.connect()
    project = admin.identity.find_project(dept["project"], ignore_missing=False)
    usage = admin.block_storage.get_quota_set(project.id, usage=True).usage
    assert usage["gigabytes"] == planned_gb
    assert usage["volumes"] == sum(1 for s in dept["servers"] if s["volume_gb"])
    vols = list(admin.block_storage.volumes(all_projects=True, project_id=project.id))
    assert {v.status for v in vols} == {"available"}


def _statuses_until_gone(conn: Any, server_id: str, timeout: float = 180) -> list[str]:
    """Every status Nova showed for the server until it was gone (a 404), polled each second."""
    from openstack import exceptions

    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = conn.compute.get_server(server_id).status
        except exceptions.NotFoundException:
            return seen
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "ERROR":
            return seen
        time.sleep(1)
    pytest.fail(f"server {server_id} still there after {timeout:.0f} s: {seen}")


def test_a_department_user_deletes_its_own_server(
    cloud_lab: CloudLabInfo, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on a real cloud, a project member's delete removes the server and its Neutron port.

    Nova deletes a server's port with the user's token plus its own service token; without the
    latter Neutron refuses a member's delete of a compute-owned port and the server goes to ERROR.
    """
    import yaml

    truth = cloud_lab.truth["cloud"]
    code = next(
        c
        for c, d in truth["departments"].items()
        if c != truth["near_quota"] and d["quotas"]["instances"] - len(d["servers"]) >= 2
    )
    admin = cloud_lab.connect()
    image = admin.image.find_image("cirros-lab", ignore_missing=False)
    net = admin.network.find_network("lab-net", ignore_missing=False)
    small = admin.compute.find_flavor("m1.small", ignore_missing=False)
    member = cloud_lab.connect(code)
    names = [f"{code}-itest-del-{time.time_ns()}", f"{code}-itest-govops-{time.time_ns()}"]
    created = [
        member.compute.create_server(name=n, flavor_id=small.id, image_id=image.id, networks=[{"uuid": net.id}])
        for n in names
    ]
    try:
        for server in created:
            assert member.compute.wait_for_server(server, status="ACTIVE", wait=240).status == "ACTIVE"
        ports = {s.id: [p.id for p in admin.network.ports(device_id=s.id)] for s in created}
        assert all(ports.values()), "each server has a port on lab-net"

        # 1. the department's own user, straight through the API
        member.compute.delete_server(created[0])
        assert "ERROR" not in _statuses_until_gone(member, created[0].id)
        assert list(admin.network.ports(device_id=created[0].id)) == []

        # 2. govops' own delete path, as a cloud admin runs it (the lab's govops.yaml), on a member's server
        config = yaml.safe_load(cloud_lab.config.read_text(encoding="utf-8"))
        config["store"] = {"url": f"sqlite:///{tmp_path / 'govops.db'}"}
        own = tmp_path / "govops.yaml"
        own.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        monkeypatch.setenv("GOVOPS_CONFIG", str(own))
        r = cli("cloud", "vm", "delete", names[1], "--dept", code, "--yes", "--timeout", "180")
        assert r.code == 0, r.err
        assert "ERROR" not in _statuses_until_gone(member, created[1].id)
        assert list(admin.network.ports(device_id=created[1].id)) == []
    finally:
        for server in created:
            admin.compute.delete_server(server.id, ignore_missing=True)


def _range(url: str, query: str, start: int, end: int, step: int) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": query, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{url}/api/v1/query_range?{params}", timeout=120) as resp:
        result: list[dict[str, Any]] = json.loads(resp.read())["data"]["result"]
    return result


def test_prometheus_holds_the_seeded_servers_whole_history(cloud_lab: CloudLabInfo) -> None:
    w = cloud_lab.truth["prometheus"]["window"]
    step = w["step_seconds"]
    inventory = cloud_lab.truth["inventory"]
    # one series per real Nova server, by its UUID, from the window's first sample to its last
    series = _range(
        cloud_lab.prometheus_url,
        "libvirt_domain_info_virtual_cpus",
        w["start"],
        w["end"],
        step,
    )
    by_uuid = {s["metric"]["uuid"]: s for s in series}
    assert set(by_uuid) == {s["id"] for s in inventory["servers"]}
    stopped = cloud_lab.truth["prometheus"]["stopped_vms"]
    for server in inventory["servers"]:
        s = by_uuid[server["id"]]
        assert s["metric"]["department"] == server["department"]
        assert s["metric"]["host"] == server["host"]
        assert float(s["values"][0][1]) == server["vcpus"]
        assert int(s["values"][0][0]) == w["start"]
        if server["id"] not in stopped:
            assert len(s["values"]) == w["samples_per_series"]
            assert int(s["values"][-1][0]) == w["end"]
    # CPU used per department over the whole history equals the ground truth
    cpu = _range(
        cloud_lab.prometheus_url,
        f"sum by (department) (rate(libvirt_domain_info_cpu_time_seconds_total[{2 * step - 1}s]))",
        w["start"] + step,
        w["end"],
        step,
    )
    depts = cloud_lab.truth["prometheus"]["departments"]
    assert {s["metric"]["department"] for s in cpu} == set(depts)
    for s in cpu:
        d = depts[s["metric"]["department"]]
        mean = sum(float(v) for _, v in s["values"]) / (w["samples_per_series"] - 1)
        assert mean == pytest.approx(d["cpu_mean_cores"], rel=0.01)


def test_lab_status_reports_every_peer_up(cloud_lab: CloudLabInfo, cli: Any) -> None:
    r = cli("-o", "json", "lab", "status", "--dir", str(cloud_lab.dir))
    assert r.code == 0, r.err
    peers = {p["peer"]: p["status"] for p in json.loads(r.out)}
    for name in ("mariadb", "rabbitmq", "keystone", "nova-api", "neutron", "cinder-api", "cinder-volume", "prometheus"):
        assert peers[name] == "up"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:200]
    except OSError:
        return "?"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _descendants(pid: int) -> set[int]:
    """Every process whose ancestry reaches ``pid`` (uwsgi workers, rabbitmq's beam, ...)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(stat.parent.name)] = int(fields[1])
    out: set[int] = set()
    for child in parent:
        p = child
        while p in parent and p > 1:
            if parent[p] == pid:
                out.add(child)
                break
            p = parent[p]
    return out


def test_down_stops_every_process_and_up_brings_the_same_cloud_back(cloud_lab: CloudLabInfo) -> None:
    if not cloud_lab.owned:
        pytest.skip("a reused lab (GOVOPS_TEST_CLOUD_LAB) is not the tests' to stop")
    lab = Lab(cloud_lab.dir, REPO)
    peers = lab.processes.peers()
    assert {"cloud-mariadb", "cloud-rabbitmq", "cloud-keystone", "cloud-cinder-volume", "prometheus"} <= {
        p.name for p in peers
    }
    # (pid, start time): after many processes PIDs wrap, and a reused PID is not a survivor.
    tree = {(pid, _start_time(pid)) for pid in {p.pid for p in peers}.union(*(_descendants(p.pid) for p in peers))}
    before = {s["name"]: s["status"] for s in cloud_lab.truth["inventory"]["servers"]}
    options = LabOptions(**lab.state()["components"]["cloud"]["options"])

    stopped = lab.down()

    assert {p.name for p in peers} <= set(stopped)
    survivors = [pid for pid, started in tree if started is not None and _start_time(pid) == started]
    assert [(pid, _cmdline(pid)) for pid in survivors if not _zombie(pid)] == []
    assert still_listening(peers) == []
    assert lab.processes.peers() == []

    started = time.monotonic()
    lab.up(["cloud", "prometheus"], options, NullObserver())  # waits for every nova-compute to report
    print(f"second up: {time.monotonic() - started:.1f} s")
    assert [(p.name, p.detail) for p in lab.status() if not p.up] == []
    again = cloud_lab.connect()
    after = {s.name: s.status for s in again.compute.servers(all_projects=True)}
    assert {n: after.get(n) for n in before} == before


def test_a_lab_restored_from_the_snapshot_has_its_own_ports_and_passwords(cloud_lab: CloudLabInfo) -> None:
    """The session lab comes from its plan's snapshot (made by the fixture): nothing of the lab it was made in."""
    from govops.lab.cloud.layout import Layout

    layout = Layout(cloud_lab.dir)
    record = json.loads(layout.seeded_file.read_text())
    if "restored_from" not in record:
        if cloud_lab.owned:
            pytest.fail(f"the session lab was seeded, not restored from its snapshot: {record}")
        pytest.skip("a reused lab that was seeded through the APIs")
    ports = {port for _, port in layout.ports().items()}
    conn = cloud_lab.connect()
    urls = [ep.url for ep in conn.identity.endpoints()]
    assert urls and all(urllib.parse.urlsplit(u).port in ports for u in urls), urls
    # this lab's own passwords: every department user logs in with what its clouds.yaml holds
    for code in cloud_lab.truth["cloud"]["departments"]:
        cloud_lab.connect(code).authorize()
    # Glance's image locations point into this lab's folder, where the image's bytes are
    image = next(iter(conn.image.images()))
    data = conn.image.download_image(image).content
    assert len(data) == image.size > 0
    # the servers the database puts on each fake host are adopted, in their planned states
    planned = _planned(cloud_lab)
    states = {s.name: s.status for s in conn.compute.servers(all_projects=True) if s.name in planned}
    assert states == {n: "SHUTOFF" if s["stopped"] else "ACTIVE" for n, s in planned.items()}
