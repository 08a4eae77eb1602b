"""``govops cloud vm|quota|check`` on the lab's real OpenStack: what the commands say is what Nova,
Cinder and Neutron hold. Every server a test creates is deleted by it."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from govops.cloud.ports import CloudNotFound, CloudPort, CloudUnreachable, Project, Server, ServerRequest

pytestmark = pytest.mark.integration

FLAVOR, IMAGE, NETWORK = "m1.small", "cirros-lab", "lab-net"


def _roomy(truth: dict[str, Any]) -> str:
    """Second roomy department from the end (the contract test takes the last, batch tests the first)."""
    codes = [
        code
        for code, d in reversed(truth["departments"].items())
        if code != truth["near_quota"] and d["quotas"]["instances"] - len(d["servers"]) >= 3
    ]
    return codes[1]


@pytest.fixture(scope="module")
def conn(cloud_lab: Any) -> Any:
    return cloud_lab.connect()


@pytest.fixture
def env(cloud_lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The lab's govops.yaml with a results store of this test's own; returns that config."""
    config = yaml.safe_load(Path(cloud_lab.config).read_text(encoding="utf-8"))
    config["store"] = {"url": f"sqlite:///{tmp_path / 'govops.db'}"}
    config["cloud"] = {"name": cloud_lab.cloud, "clouds_file": str(cloud_lab.clouds_file)}
    own = tmp_path / "govops.yaml"
    own.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("GOVOPS_CONFIG", str(own))
    return own


@pytest.fixture
def name(conn: Any) -> Iterator[str]:
    """A server name of this test alone; any server carrying it is deleted afterwards."""
    value = f"it-vm-{secrets.token_hex(3)}"
    yield value
    for s in conn.compute.servers(all_projects=True, name=f"^{value}$"):
        with contextlib.suppress(Exception):
            conn.compute.delete_server(s.id)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and list(conn.compute.servers(all_projects=True, name=f"^{value}$")):
        time.sleep(1)


def _servers(conn: Any, name: str) -> list[Any]:
    """Servers of that name as Nova lists them (a deleted one shows as DELETED for a moment)."""
    found = conn.compute.servers(details=True, all_projects=True, name=f"^{name}$")
    return [s for s in found if s.name == name and s.status != "DELETED"]


def _project_id(conn: Any, project: str) -> str:
    return str(conn.identity.find_project(project, ignore_missing=False).id)


def test_create_wait_stop_start_delete(cli: Any, cloud_lab: Any, env: Path, conn: Any, name: str) -> None:
    import base64

    truth = cloud_lab.truth["cloud"]
    code = _roomy(truth)
    project_id = _project_id(conn, truth["departments"][code]["project"])
    user_data = env.parent / "init.yaml"
    user_data.write_text("#cloud-config\nhostname: 测试\n", encoding="utf-8")
    r = cli(
        "cloud", "vm", "create", "--dept", code, "--name", name, "--flavor", FLAVOR, "--image", IMAGE,
        "--network", NETWORK, "--system", "portal", "--tag", "purpose=itest", "--timeout", "240",
        "--user-data", str(user_data), "-o", "json",
    )  # fmt: skip
    assert r.code == 0, r.err
    shown = json.loads(r.out)
    [real] = _servers(conn, name)
    assert real.id == shown["id"] and real.status == "ACTIVE" == shown["status"]
    assert real.project_id == project_id
    md = real.metadata
    assert md["department"] == code and md["system"] == "portal" and md["purpose"] == "itest"
    assert md["owner"] and md["run_id"] == shown["metadata"]["run_id"]
    assert real.compute_host == shown["host"]
    sent = base64.b64decode(conn.compute.get_server(real.id).user_data).decode()
    assert sent == user_data.read_text(encoding="utf-8")

    r = cli("cloud", "vm", "list", "--dept", code, "--host", real.compute_host, "--tag", "purpose=itest", "-o", "json")
    assert r.code == 0, r.err
    assert [s["id"] for s in json.loads(r.out)] == [real.id]

    assert cli("cloud", "vm", "stop", name, "--dept", code, "--timeout", "180").code == 0
    assert conn.compute.get_server(real.id).status == "SHUTOFF"
    assert cli("cloud", "vm", "start", name, "--dept", code, "--timeout", "180").code == 0
    assert conn.compute.get_server(real.id).status == "ACTIVE"

    other = next(c for c in truth["departments"] if c != code)
    r = cli("cloud", "vm", "delete", real.id, "--dept", other, "--yes")
    assert r.code == 2 and f"in department {other}" in r.err
    assert len(_servers(conn, name)) == 1, "a VM of another department was touched"

    r = cli("cloud", "vm", "delete", name, "--dept", code, "--yes", "--timeout", "180")
    assert r.code == 0, r.err
    assert _servers(conn, name) == []


def test_over_quota_is_refused_before_anything_is_created(
    cli: Any, cloud_lab: Any, env: Path, conn: Any, name: str
) -> None:
    truth = cloud_lab.truth["cloud"]
    code = truth["near_quota"]
    project_id = _project_id(conn, truth["departments"][code]["project"])
    before = {s.id for s in conn.compute.servers(all_projects=True, project_id=project_id)}
    r = cli(
        "cloud", "vm", "create", "-d", code, "--name", name, "--flavor", FLAVOR, "--image", IMAGE, "--network", NETWORK
    )
    assert r.code == 1
    assert "instances, 0 free" in r.err and "Traceback" not in r.err
    assert {s.id for s in conn.compute.servers(all_projects=True, project_id=project_id)} == before
    assert _servers(conn, name) == []


def test_quota_show_equals_the_apis(cli: Any, cloud_lab: Any, env: Path, conn: Any) -> None:
    truth = cloud_lab.truth["cloud"]
    code = _roomy(truth)
    pid = _project_id(conn, truth["departments"][code]["project"])
    r = cli("cloud", "quota", "show", code, "-o", "json")
    assert r.code == 0, r.err
    shown = json.loads(r.out)["quotas"]
    # the APIs' own answers, read raw (not through govops' adapter)
    nova = conn.compute.get(f"/os-quota-sets/{pid}/detail").json()["quota_set"]
    cinder = conn.block_storage.get(f"/os-quota-sets/{pid}?usage=True").json()["quota_set"]
    neutron = conn.network.get(f"/quotas/{pid}/details.json").json()["quota"]
    expected = {
        "cores": (nova["cores"]["limit"], nova["cores"]["in_use"], nova["cores"]["reserved"]),
        "ram_mb": (nova["ram"]["limit"], nova["ram"]["in_use"], nova["ram"]["reserved"]),
        "instances": (nova["instances"]["limit"], nova["instances"]["in_use"], nova["instances"]["reserved"]),
        "volumes": (cinder["volumes"]["limit"], cinder["volumes"]["in_use"], cinder["volumes"]["reserved"]),
        "gigabytes": (cinder["gigabytes"]["limit"], cinder["gigabytes"]["in_use"], cinder["gigabytes"]["reserved"]),
        "floating_ips": (
            neutron["floatingip"]["limit"],
            neutron["floatingip"]["used"],
            neutron["floatingip"]["reserved"],
        ),
        "ports": (neutron["port"]["limit"], neutron["port"]["used"], neutron["port"]["reserved"]),
    }
    got = {k: (v["limit"], v["in_use"], v["reserved"]) for k, v in shown.items()}
    assert got == expected
    assert shown["cores"]["free"] == nova["cores"]["limit"] - nova["cores"]["in_use"] - nova["cores"]["reserved"]
    # and the limits are the ones the lab set
    assert {k: v[0] for k, v in got.items()} == truth["departments"][code]["quotas"]


def test_errors_are_one_readable_line(cli: Any, cloud_lab: Any, env: Path, conn: Any, name: str) -> None:
    code = _roomy(cloud_lab.truth["cloud"])
    base = ["cloud", "vm", "create", "-d", code, "--name", name, "--image", IMAGE, "--network", NETWORK]

    def error_lines(err: str) -> list[str]:
        return [x for x in err.splitlines() if x.startswith("error:")]

    r = cli("cloud", "vm", "create", "-d", "nosuch", "--name", name, "--flavor", FLAVOR, "--image", IMAGE)
    assert r.code == 2 and "unknown department 'nosuch'" in r.err
    r = cli(*base, "--flavor", "m1.smal")
    assert r.code == 2 and len(error_lines(r.err)) == 1 and "unknown flavor 'm1.smal'" in r.err and "m1.small" in r.err
    # a value only Nova can judge: HTTP 400 with its request id, exit 2
    r = cli(*base, "--flavor", FLAVOR, "--key-name", "no-such-key-" + secrets.token_hex(2))
    assert r.code == 2, r.err
    [line] = error_lines(r.err)
    assert "compute POST" in line and "/servers HTTP 400" in line and "[request req-" in line
    assert "Traceback" not in r.err
    r = cli("cloud", "vm", "show", "00000000-0000-4000-8000-000000000000", "-d", code)
    assert r.code == 2 and "no VM" in r.err
    assert _servers(conn, name) == []
    # a cloud that does not answer: one line, exit 1
    dead = env.parent / "dead-clouds.yaml"
    dead.write_text(
        "clouds:\n  dead:\n    auth: {auth_url: 'http://127.0.0.1:9/v3', username: u, password: p, project_name: p, user_domain_name: Default, project_domain_name: Default}\n"
    )
    config = yaml.safe_load(env.read_text(encoding="utf-8"))
    config["cloud"] = {"name": "dead", "clouds_file": str(dead)}
    env.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    r = cli("cloud", "quota", "show", code)
    assert r.code == 1 and len(error_lines(r.err)) == 1 and "cannot connect" in r.err and "Traceback" not in r.err


def test_error_state_gives_novas_fault_and_deletes_the_server(
    cli: Any, cloud_lab: Any, env: Path, conn: Any, name: str
) -> None:
    truth = cloud_lab.truth["cloud"]
    code = _roomy(truth)
    biggest = max(h["memory_mb"] for h in truth["hypervisors"])
    ram = biggest + 65536
    assert ram <= truth["departments"][code]["quotas"]["ram_mb"], "the lab's RAM quota is too small for this test"
    flavor = conn.compute.create_flavor(
        name=f"it-nohost-{secrets.token_hex(3)}", vcpus=1, ram=ram, disk=1, is_public=True
    )
    try:
        r = cli(
            "cloud", "vm", "create", "-d", code, "--name", name, "--flavor", flavor.name, "--image", IMAGE,
            "--network", NETWORK, "--timeout", "240",
        )  # fmt: skip
        assert r.code == 1, r.err
        assert "went to ERROR" in r.err and "No valid host" in r.err and "(the server was deleted)" in r.err
        deadline = time.monotonic() + 60
        while _servers(conn, name) and time.monotonic() < deadline:
            time.sleep(1)
        assert _servers(conn, name) == []
    finally:
        conn.compute.delete_flavor(flavor.id)


class LosesCreateAnswers:
    """The real port, except that each create's answer is lost after Nova accepted the request, as
    when a client times out on a slow API."""

    def __init__(self, port: CloudPort) -> None:
        self.port = port
        self.creates = 0

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.port, attr)

    def create_server(self, project: Project, request: ServerRequest) -> Server:
        self.port.create_server(project, request)
        self.creates += 1
        raise CloudUnreachable("compute: no answer in time (simulated read timeout)", maybe_applied=True)


def test_a_retry_after_a_client_timeout_creates_no_duplicate(cloud_lab: Any, conn: Any, name: str) -> None:
    from govops.cloud.connection import CloudTarget
    from govops.cloud.openstack import connect
    from govops.cloud.vms import VmService, VmSpec
    from govops.config import load_config
    from govops.departments import load_departments

    truth = cloud_lab.truth["cloud"]
    code = _roomy(truth)
    dept = load_departments(load_config(Path(cloud_lab.config)).departments_file).get(code)
    port = LosesCreateAnswers(connect(CloudTarget(cloud_lab.cloud, Path(cloud_lab.clouds_file))))
    svc = VmService(port)  # type: ignore[arg-type]
    result = svc.create(
        dept, VmSpec(name=name, flavor=FLAVOR, image=IMAGE, networks=(NETWORK,)), "it-run-1", timeout=240
    )
    assert port.creates == 1
    assert result.server.status == "ACTIVE"
    assert [s.id for s in _servers(conn, name)] == [result.server.id]
    # the operator re-runs the same command: refused, still one server
    from govops.errors import InputError

    with pytest.raises(InputError, match="already exists"):
        svc.create(dept, VmSpec(name=name, flavor=FLAVOR, image=IMAGE, networks=(NETWORK,)), "it-run-2")
    assert len(_servers(conn, name)) == 1
    svc.delete(result.server, timeout=180)
    with pytest.raises(CloudNotFound):
        port.get_server(result.server.id)
    assert _servers(conn, name) == []


def test_resize_then_confirm(cli: Any, cloud_lab: Any, env: Path, conn: Any, name: str) -> None:
    code = _roomy(cloud_lab.truth["cloud"])
    r = cli(
        "cloud",
        "vm",
        "create",
        "-d",
        code,
        "--name",
        name,
        "--flavor",
        "m1.tiny",
        "--image",
        IMAGE,
        "--network",
        NETWORK,
        "--timeout",
        "240",
    )
    assert r.code == 0, r.err
    r = cli("cloud", "vm", "resize", name, "-d", code, "--flavor", FLAVOR, "--timeout", "300")
    assert r.code == 0, r.err
    [real] = _servers(conn, name)
    assert real.status == "ACTIVE" and real.flavor["original_name"] == FLAVOR
    assert cli("cloud", "vm", "delete", name, "-d", code, "--yes", "--timeout", "180").code == 0


def test_quota_sync_sets_only_what_the_file_names(
    cli: Any, cloud_lab: Any, env: Path, conn: Any, tmp_path: Path
) -> None:
    """On a project of this test alone, so no seeded quota ever changes."""
    project = conn.identity.create_project(name=f"it-quota-{secrets.token_hex(3)}", domain_id="default")
    try:
        pid = project.id
        conn.compute.update_quota_set(pid, cores=7, ram=4096, instances=3)
        conn.block_storage.update_quota_set(pid, volumes=5, gigabytes=55)
        conn.network.update_quota(pid, floating_ips=2, ports=33)
        depts = tmp_path / "departments.yaml"
        depts.write_text(
            "departments:\n"
            f"- {{code: itq, name_zh: 测试局, name_en: Test Bureau, project: {project.name}, quotas: {{cores: 9, volume_gb: 66}}}}\n",
            encoding="utf-8",
        )
        config = yaml.safe_load(env.read_text(encoding="utf-8"))
        config["departments"] = str(depts)
        env.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")

        def limits() -> dict[str, int]:
            nova = conn.compute.get(f"/os-quota-sets/{pid}").json()["quota_set"]
            cinder = conn.block_storage.get(f"/os-quota-sets/{pid}").json()["quota_set"]
            neutron = conn.network.get(f"/quotas/{pid}.json").json()["quota"]
            return {
                "cores": nova["cores"], "ram": nova["ram"], "instances": nova["instances"],
                "volumes": cinder["volumes"], "gigabytes": cinder["gigabytes"],
                "floatingip": neutron["floatingip"], "port": neutron["port"],
            }  # fmt: skip

        before = limits()
        r = cli("cloud", "quota", "sync", "-o", "json")  # no --yes: plan only
        assert r.code == 0, r.err
        plan = json.loads(r.out)
        assert {(c["resource"], c["current"], c["wanted"]) for c in plan["changes"]} == {
            ("cores", 7, 9),
            ("gigabytes", 55, 66),
        }
        assert limits() == before
        r = cli("cloud", "quota", "sync", "--yes", "-o", "json")
        assert r.code == 0, r.err
        assert json.loads(r.out)["applied"] == ["itq"]
        assert limits() == {**before, "cores": 9, "gigabytes": 66}
        r = cli("cloud", "quota", "sync")
        assert r.code == 0 and "match" in r.err
    finally:
        conn.identity.delete_project(project.id)


def test_data_volume_is_created_and_deleted_with_the_vm(
    cli: Any, cloud_lab: Any, env: Path, conn: Any, name: str
) -> None:
    code = _roomy(cloud_lab.truth["cloud"])
    r = cli(
        "cloud", "vm", "create", "-d", code, "--name", name, "--flavor", "m1.tiny", "--image", IMAGE,
        "--network", NETWORK, "--volume-size", "1", "--timeout", "240", "-o", "json",
    )  # fmt: skip
    assert r.code == 0, r.err
    shown = json.loads(r.out)
    assert len(shown["volumes"]) == 1 and shown["owned_volumes"] == shown["volumes"]
    [vid] = shown["volumes"]
    volume = conn.block_storage.get_volume(vid)
    assert volume.size == 1 and volume.status == "in-use"
    assert volume.attachments[0]["server_id"] == shown["id"]
    r = cli("cloud", "vm", "delete", name, "-d", code, "--yes", "--timeout", "180")
    left = [v for v in conn.block_storage.volumes(all_projects=True) if v.id == vid and v.status != "deleting"]
    try:
        # govops says what really happened: 0 and the volume gone, or 3 naming the volume left behind
        if r.code == 0:
            assert left == []
        else:
            assert r.code == 3 and vid in r.err and left, r.err
    finally:
        for v in left:  # a leak the lab's Cinder caused: clean it up for the next test
            for a in v.attachments or ():
                with contextlib.suppress(Exception):
                    conn.block_storage.delete_attachment(a["attachment_id"])
            with contextlib.suppress(Exception):
                conn.block_storage.delete_volume(v.id)


def test_a_department_user_manages_its_own_vms(cli: Any, cloud_lab: Any, env: Path, conn: Any, name: str) -> None:
    """With a department's own (member) credentials Keystone refuses project listing: govops must
    work from the token's project, and still refuse any other department."""
    truth = cloud_lab.truth["cloud"]
    code = _roomy(truth)
    config = yaml.safe_load(env.read_text(encoding="utf-8"))
    config["cloud"]["name"] = cloud_lab.dept_cloud(code)
    env.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")

    r = cli("cloud", "quota", "show", code, "-o", "json")
    assert r.code == 0, r.err
    r = cli(
        "cloud", "vm", "create", "--dept", code, "--name", name, "--flavor", FLAVOR, "--image", IMAGE,
        "--network", NETWORK, "--timeout", "240", "-o", "json",
    )  # fmt: skip
    assert r.code == 0, r.err
    [real] = _servers(conn, name)
    assert real.project_id == _project_id(conn, truth["departments"][code]["project"])

    other = next(c for c in truth["departments"] if c != code)
    r = cli("cloud", "quota", "show", other)
    assert r.code != 0 and "Traceback" not in r.err and other in r.err

    r = cli("cloud", "vm", "delete", name, "--dept", code, "--yes", "--timeout", "180")
    assert r.code == 0, r.err
    assert _servers(conn, name) == []
