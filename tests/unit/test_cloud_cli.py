"""``govops cloud check|quota|vm`` end to end through main() against the in-memory cloud: output,
exit codes and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from govops.cli.application import Ports
from govops.cloud.ports import CloudApiError, CloudAuthError
from govops.departments import load_departments

from tests.fakes_cloud import FakeCloud


@pytest.fixture
def fake(project: Path, monkeypatch: pytest.MonkeyPatch, ports: Ports) -> FakeCloud:
    cloud = FakeCloud(build_polls=0)
    for d in load_departments(project / "inventories" / "departments.yaml"):
        cloud.add_project(d.project)
    gaj = cloud.find_project("dept-gaj")
    cloud.limits[gaj.id].update(cores=4, ram_mb=8192)  # type: ignore[union-attr]
    cloud.add_flavor("m1.small", 1, 2048)
    cloud.add_flavor("m1.xlarge", 8, 16384)
    cloud.add_image("cirros")
    cloud.add_network("lab-net")
    ports.cloud = cloud
    monkeypatch.setenv("GOVOPS_HOME", str(project))
    return cloud


CREATE = ("cloud", "vm", "create", "--dept", "gaj", "--name", "web-1", "--flavor", "m1.small", "--image", "cirros")


def test_vm_create_show_delete(cli, fake: FakeCloud) -> None:  # type: ignore[no-untyped-def]
    r = cli(*CREATE, "--network", "lab-net", "--tag", "env=prod", "--system", "portal", "-o", "json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["status"] == "ACTIVE" and data["department"] == "gaj"
    assert data["metadata"]["env"] == "prod" and data["metadata"]["system"] == "portal"
    run_id = data["metadata"]["run_id"]
    assert run_id in r.err
    r = cli("cloud", "vm", "show", "web-1", "--dept", "公安局", "-o", "json")
    assert r.code == 0 and json.loads(r.out)["id"] == data["id"]
    r = cli("cloud", "vm", "delete", "web-1", "--dept", "gaj")  # no tty, no --yes: refused
    assert r.code == 2 and len(fake.servers()) == 1
    r = cli("cloud", "vm", "delete", "web-1", "--dept", "wjw", "--yes")  # wrong department
    assert r.code == 2 and "no VM 'web-1' in department wjw" in r.err and len(fake.servers()) == 1
    r = cli("cloud", "vm", "delete", "web-1", "--dept", "gaj", "--yes")
    assert r.code == 0, r.err
    assert fake.servers() == []


def test_vm_create_records_the_run(cli, fake: FakeCloud) -> None:  # type: ignore[no-untyped-def]
    r = cli(*CREATE, "-o", "json")
    run_id = json.loads(r.out)["metadata"]["run_id"]
    from govops.config import load_config
    from govops.store import open_store

    store = open_store(load_config().store_url)
    try:
        run = store.get_run(run_id)
        assert run.kind == "cloud.vm.create" and run.status == "finished"
        assert [j.resource_id for j in store.journal(run_id)] == [json.loads(r.out)["id"]]
    finally:
        store.close()
    # the same command again: refused, no duplicate
    r2 = cli(*CREATE)
    assert r2.code == 2 and "already exists" in r2.err
    # resuming with the run id adopts the server
    r3 = cli(*CREATE, "--run-id", run_id, "-o", "json")
    assert r3.code == 0, r3.err
    assert json.loads(r3.out)["id"] == json.loads(r.out)["id"]
    assert len(fake.servers()) == 1


def test_over_quota_is_one_line_exit_1(cli, fake: FakeCloud) -> None:  # type: ignore[no-untyped-def]
    r = cli(*CREATE[:-4], "--flavor", "m1.xlarge", "--image", "cirros")
    assert r.code == 1
    assert "公安局 needs 8 cores, 4 free" in r.err and "Traceback" not in r.err
    assert fake.servers() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--dept", "nosuch"), "unknown department 'nosuch'"),
        (("--flavor", "m9.tiny"), "unknown flavor 'm9.tiny'"),
        (("--image", "nope"), "unknown image 'nope'"),
    ],
)
def test_bad_input_is_exit_2(cli, fake: FakeCloud, args: tuple[str, str], message: str) -> None:  # type: ignore[no-untyped-def]
    argv = list(CREATE)
    i = argv.index(args[0])
    argv[i + 1] = args[1]
    r = cli(*argv)
    assert r.code == 2, r.err
    assert message in r.err and "Traceback" not in r.err


def test_api_5xx_is_one_line_with_request_id_exit_1(cli, fake: FakeCloud) -> None:  # type: ignore[no-untyped-def]
    fake.fail_next(
        "create_server",
        CloudApiError(
            "Unexpected API Error.",
            status=500,
            request_id="req-abc123",
            method="POST",
            url="http://127.0.0.1:8774/v2.1/servers",
            service="compute",
        ),
    )
    r = cli(*CREATE)
    assert r.code == 1
    lines = [x for x in r.err.splitlines() if "error" in x.lower()]
    assert len(lines) == 1
    assert "compute POST http://127.0.0.1:8774/v2.1/servers HTTP 500" in lines[0] and "req-abc123" in lines[0]


def test_vm_list_filters_and_departments(cli, fake: FakeCloud) -> None:  # type: ignore[no-untyped-def]
    assert cli(*CREATE).code == 0
    r = cli(
        "cloud",
        "vm",
        "create",
        "--dept",
        "wjw",
        "--name",
        "db-1",
        "--flavor",
        "m1.small",
        "--image",
        "cirros",
        "--tag",
        "env=test",
    )
    assert r.code == 0, r.err
    r = cli("cloud", "vm", "list", "-o", "json")
    assert [(s["name"], s["department"]) for s in json.loads(r.out)] == [("db-1", "wjw"), ("web-1", "gaj")]
    r = cli("cloud", "vm", "list", "--dept", "gaj", "-o", "json")
    assert [s["name"] for s in json.loads(r.out)] == ["web-1"]
    r = cli("cloud", "vm", "list", "--tag", "env=test", "-o", "json")
    assert [s["name"] for s in json.loads(r.out)] == ["db-1"]
    r = cli("cloud", "vm", "list", "--status", "SHUTOFF", "-o", "json")
    assert json.loads(r.out) == []
    r = cli("cloud", "vm", "list")
    assert r.code == 0 and "web-1" in r.out


def test_stop_start_reboot_resize(cli, fake: FakeCloud) -> None:  # type: ignore[no-untyped-def]
    assert cli(*CREATE).code == 0
    assert cli("cloud", "vm", "stop", "web-1", "-d", "gaj").code == 0
    assert fake.servers()[0].status == "SHUTOFF"
    assert cli("cloud", "vm", "start", "web-1", "-d", "gaj").code == 0
    assert cli("cloud", "vm", "reboot", "web-1", "-d", "gaj", "--hard").code == 0
    r = cli("cloud", "vm", "resize", "web-1", "-d", "gaj", "--flavor", "m1.xlarge")
    assert r.code == 1 and "needs 7 cores, 3 free" in r.err
    r = cli("cloud", "vm", "start", "web-1", "-d", "gaj")  # already running: Nova's 409
    assert r.code == 1 and "HTTP 409" in r.err


def test_quota_show_one_department_equals_the_cloud(cli, fake: FakeCloud) -> None:  # type: ignore[no-untyped-def]
    assert cli(*CREATE).code == 0
    r = cli("cloud", "quota", "show", "gaj", "-o", "json")
    assert r.code == 0, r.err
    q = json.loads(r.out)["quotas"]
    assert q["cores"] == {"limit": 4, "in_use": 1, "reserved": 0, "free": 3}
    assert q["ram_mb"]["in_use"] == 2048 and q["instances"]["free"] == 9
    assert set(q) == {"cores", "ram_mb", "instances", "volumes", "gigabytes", "floating_ips", "ports"}
    r = cli("cloud", "quota", "show", "gaj")
    assert r.code == 0 and "vCPU cores" in r.out


def test_quota_show_all_and_missing_projects(cli, fake: FakeCloud) -> None:  # type: ignore[no-untyped-def]
    r = cli("cloud", "quota", "show", "-o", "json")
    assert r.code == 0, r.err
    assert len(json.loads(r.out)) == 50
    del fake.projects_by_id[fake.find_project("dept-jyj").id]  # type: ignore[union-attr]
    r = cli("cloud", "quota", "show")
    assert r.code == 3 and "jyj" in r.err


def test_quota_sync_plan_then_yes(cli, fake: FakeCloud) -> None:  # type: ignore[no-untyped-def]
    gaj = fake.find_project("dept-gaj").id  # type: ignore[union-attr]
    fake.limits[gaj]["ports"] = 77  # the file sets no ports for gaj: must stay 77
    before = json.dumps(fake.limits, sort_keys=True)
    r = cli("cloud", "quota", "sync", "--dept", "gaj")
    assert r.code == 0, r.err
    assert "cores" in r.out.lower() or "vCPU" in r.out
    assert json.dumps(fake.limits, sort_keys=True) == before, "a plan without --yes changed something"
    r = cli("cloud", "quota", "sync", "--dept", "gaj", "--yes", "-o", "json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["applied"] == ["gaj"]
    assert fake.limits[gaj]["cores"] == 2032 and fake.limits[gaj]["ram_mb"] == 6096 * 1024
    assert fake.limits[gaj]["ports"] == 77
    r = cli("cloud", "quota", "sync", "--dept", "gaj")
    assert r.code == 0 and "match" in r.err


def test_check_ok_and_failing_credentials(cli, fake: FakeCloud, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OS_CLOUD", "fake")
    r = cli("cloud", "check", "-o", "json")
    assert r.code == 0, r.err
    names = {c["name"]: c["status"] for c in json.loads(r.out)}
    assert names["credentials"] == "ok" and names["compute API"] == "ok" and names["department projects"] == "ok"
    fake.fail_next(
        "identity", CloudAuthError("The request you have made requires authentication.", status=401, service="identity")
    )
    r = cli("cloud", "check", "-o", "json")
    assert r.code == 3
    failed = [c for c in json.loads(r.out) if c["status"] == "fail"]
    assert failed[0]["name"] == "credentials" and "HTTP 401" in failed[0]["detail"] and failed[0]["fix"]


def test_check_without_any_cloud_names_the_fix(cli, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GOVOPS_HOME", str(project))
    r = cli("cloud", "check", "-o", "json")
    assert r.code == 3
    item = json.loads(r.out)[0]
    assert item["status"] == "fail" and "--os-cloud" in item["fix"]


def test_unknown_cloud_name_is_exit_2(cli, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GOVOPS_HOME", str(project))
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  a:\n    auth:\n      auth_url: http://127.0.0.1:1/v3\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    r = cli("cloud", "--os-cloud", "nosuch", "vm", "list")
    assert r.code == 2 and "nosuch" in r.err and "Traceback" not in r.err


def test_delete_warns_about_a_leaked_volume(cli, fake: FakeCloud) -> None:  # type: ignore[no-untyped-def]
    assert cli(*CREATE, "--volume-size", "5").code == 0
    fake.keep_volumes_on_delete = True
    r = cli("cloud", "vm", "delete", "web-1", "-d", "gaj", "--yes")
    assert r.code == 3 and "was not deleted with the VM" in r.err


def test_a_create_whose_wait_times_out_is_journaled(cli, fake: FakeCloud) -> None:  # type: ignore[no-untyped-def]
    fake.build_polls = 10**6
    r = cli(*CREATE, "--timeout", "1")
    assert r.code == 1 and "is BUILD, not ACTIVE" in r.err
    [server] = fake.servers()
    from govops.config import load_config
    from govops.store import open_store

    store = open_store(load_config().store_url)
    try:
        [run] = store.runs(kind="cloud.vm.create")
        assert run.status == "failed"
        assert [(j.action, j.resource_id) for j in store.journal(run.id)] == [("create", server.id)]
    finally:
        store.close()
