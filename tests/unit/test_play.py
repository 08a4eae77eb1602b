"""``govops play`` and ``cloud apply --post`` on a fake runner; the adapter's event and error parsing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from govops.automation.ansible import _ansible_error, _Events, parse_graph
from govops.automation.cloud import cloud_inventory, first_address, group_name
from govops.automation.play import check_playbook, describe, names_of, parse_extra_vars, resolve_playbook, select
from govops.cli.application import Ports
from govops.cloud.ports import Server
from govops.errors import InputError, NotFoundError, ValidationFailed
from govops.store import open_store

from tests.fakes_automation import FakeRunner
from tests.fakes_cloud import FakeCloud, cli_on_fake_cloud

PLAYBOOK = """\
---
# Configure the thing.
# Second line of the description.

- name: configure
  hosts: all
  tasks:
    - name: configure
      ansible.builtin.debug: {msg: hi}
"""
INVENTORY = """\
all:
  children:
    web:
      hosts:
        web-01: {ansible_host: 127.0.0.1}
        web-02: {ansible_host: 127.0.0.2}
    db:
      hosts:
        db-01: {}
"""


@pytest.fixture
def runner(ports: Ports) -> FakeRunner:
    fake = FakeRunner()
    ports.runner = fake
    return fake


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    pb = tmp_path / "playbooks" / "configure.yml"
    pb.parent.mkdir()
    pb.write_text(PLAYBOOK, encoding="utf-8")
    inv = tmp_path / "hosts.yml"
    inv.write_text(INVENTORY, encoding="utf-8")
    return pb, inv


# -- inputs --------------------------------------------------------------------------------------------------


def test_playbook_is_found_by_path_or_name_and_described(files: tuple[Path, Path]) -> None:
    pb, _ = files
    assert resolve_playbook(str(pb), []) == pb.resolve()
    assert resolve_playbook("configure", [pb.parent]) == pb.resolve()
    assert resolve_playbook("configure.yml", [pb.parent]) == pb.resolve()
    with pytest.raises(NotFoundError, match=r"playbook 'nope' not found .*known: configure\)"):
        resolve_playbook("nope", [pb.parent])
    assert describe(pb) == "Configure the thing. Second line of the description."
    bare = pb.parent / "bare.yml"
    bare.write_text("- name: The first play\n  hosts: all\n", encoding="utf-8")
    assert describe(bare) == "The first play"


def test_malformed_playbook_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("- hosts: all\n  tasks:\n    - name: x\n     debug: {}\n", encoding="utf-8")
    with pytest.raises(ValidationFailed, match=r"bad.yml:4: malformed YAML"):
        check_playbook(bad)
    bad.write_text("hosts: all\n", encoding="utf-8")
    with pytest.raises(ValidationFailed, match=r"bad.yml:1: not a playbook"):
        check_playbook(bad)
    bad.write_text(
        "- hosts: all\n  vars:\n    x: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      3132\n", encoding="utf-8"
    )
    check_playbook(bad)  # Ansible's own tags are fine


def test_limit_is_checked_against_the_inventory() -> None:
    names = names_of(
        json.loads(json.dumps({"all": {"children": {"web": {"hosts": {"a": {}, "b": {}}}}, "hosts": {"c": {}}}}))
    )
    assert names.groups["web"] == {"a", "b"} and names.hosts == {"a", "b", "c"}
    assert select(names, None) == {"a", "b", "c"}
    assert select(names, "web,!b") == {"a"}
    assert select(names, "all:&web") == {"a", "b"}
    assert select(names, "w*") is None  # a pattern: Ansible decides
    with pytest.raises(InputError, match="unknown host or group 'zz'"):
        select(names, "a,zz")


def test_graph_output_gives_hosts_and_nested_groups() -> None:
    graph = "@all:\n  |--@ungrouped:\n  |  |--lone\n  |--@city:\n  |  |--@web:\n  |  |  |--a\n  |  |  |--b\n  |  |--c\n  |--@db:\n  |  |--d\n"
    names = parse_graph(graph)
    assert names.hosts == {"lone", "a", "b", "c", "d"}
    assert names.groups["city"] == {"a", "b", "c"} and names.groups["web"] == {"a", "b"}
    assert names.groups["all"] == names.hosts and names.groups["ungrouped"] == {"lone"}


def test_extra_vars_pairs_and_files(tmp_path: Path) -> None:
    f = tmp_path / "vars.yml"
    f.write_text("a: 1\n", encoding="utf-8")
    pairs, files = parse_extra_vars(["x=1 y='two words'", "@vars.yml"], tmp_path)
    assert pairs == {"x": "1", "y": "two words"} and files == [f.resolve()]
    with pytest.raises(InputError, match="expected NAME=VALUE"):
        parse_extra_vars(["novalue"])
    with pytest.raises(InputError, match="file not found"):
        parse_extra_vars(["@missing.yml"], tmp_path)


# -- the adapter's event stream and error lines ---------------------------------------------------------------


def _ev(kind: str, host: str, task: str = "t", **data: Any) -> dict[str, Any]:
    return {"event": kind, "event_data": {"host": host, "task": task, **data}}


def test_events_tally_per_host_and_the_recap_wins() -> None:
    seen: list[tuple[str, str, str, str | None]] = []
    events = _Events(lambda h, t, s, d: seen.append((h, t, s, d)))
    events.handle(_ev("runner_on_ok", "a", "gather", res={}))
    events.handle(_ev("runner_on_ok", "a", "write", res={"changed": True}))
    events.handle(_ev("runner_on_failed", "a", "probe", res={"msg": "no such file\nmore"}, ignore_errors=True))
    events.handle(_ev("runner_on_failed", "b", "write", res={"msg": "permission denied"}))
    events.handle(_ev("runner_on_failed", "c", "risky", res={"msg": "oops"}))  # rescued below
    events.handle(_ev("runner_on_unreachable", "d", "gather", res={"msg": "ssh: connect refused"}))
    events.handle(_ev("runner_on_skipped", "a", "skip"))
    assert ("a", "write", "changed", None) in seen and ("b", "write", "failed", "permission denied") in seen
    partial = _Events(lambda *x: None)
    partial.handle(_ev("runner_on_ok", "a", "gather", res={}))
    assert partial.results(finished=False)["a"].status == "timeout"
    stats = {
        "ok": {"a": 3, "c": 2},
        "changed": {"a": 1},
        "failures": {"b": 1},
        "dark": {"d": 1},
        "skipped": {"a": 1},
        "rescued": {"c": 1},
        "ignored": {"a": 1},
    }
    events.handle({"event": "playbook_on_stats", "event_data": stats})
    r = events.results(finished=True)
    assert [(h, r[h].status) for h in r] == [("a", "changed"), ("b", "failed"), ("c", "ok"), ("d", "unreachable")]
    assert r["a"].ignored == 1 and r["a"].ok == 3 and r["c"].rescued == 1 and r["c"].failures == []
    assert r["b"].reason == "write: permission denied" and r["d"].failures[0].unreachable


def test_ansible_error_line_keeps_the_cause_and_origin() -> None:
    out = (
        "[WARNING]: Failed to parse inventory with 'yaml' plugin: Attempting to decrypt but no vault secrets found.\n\n"
        "<<< caused by >>>\n\nAttempting to decrypt but no vault secrets found.\nOrigin: /x/sec.yml\n\n"
        "[ERROR]: No inventory was parsed, please check your configuration and options.\n"
    )
    assert _ansible_error(out) == (
        "No inventory was parsed, please check your configuration and options.: "
        "Attempting to decrypt but no vault secrets found. (/x/sec.yml)"
    )
    syntax = "[ERROR]: couldn't resolve module/action 'bogus'.\nOrigin: /p/pb.yml:3:7\n\n3 - name: x\n"
    assert _ansible_error(syntax) == "couldn't resolve module/action 'bogus'. (/p/pb.yml:3:7)"
    assert _ansible_error("PLAY RECAP\n") is None


# -- the CLI ---------------------------------------------------------------------------------------------------


def test_play_list_shows_descriptions(cli: Any, files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    pb, _ = files
    monkeypatch.chdir(pb.parent.parent)
    r = cli("play", "list", "-o", "json")
    assert r.code == 0, r.err
    assert json.loads(r.out) == [
        {
            "name": "configure",
            "description": "Configure the thing. Second line of the description.",
            "path": "playbooks/configure.yml",
        }
    ]


def test_play_run_exit_codes_json_and_store(cli: Any, runner: FakeRunner, files: tuple[Path, Path]) -> None:
    pb, inv = files
    r = cli("play", "run", str(pb), "-i", str(inv), "-o", "json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["status"] == "ok" and data["counts"] == {"changed": 3}
    runner.fail["web-02"] = ("configure", "disk full")
    runner.unreachable["db-01"] = "ssh: connect to host 127.0.0.3 port 22: Connection refused"
    r = cli("play", "run", str(pb), "-i", str(inv), "-o", "json")
    assert r.code == 3, r.err
    data = json.loads(r.out)
    status = {h["host"]: h["status"] for h in data["hosts"]}
    assert status == {"db-01": "unreachable", "web-01": "changed", "web-02": "failed"}
    failed = next(h for h in data["hosts"] if h["host"] == "web-02")
    assert failed["failed_tasks"] == [{"task": "configure", "message": "disk full", "unreachable": False}]
    store = open_store(f"sqlite:///{Path.home() / '.local/share/govops/govops.db'}")
    run = store.get_run(data["run_id"])
    assert run.kind == "play.run" and run.status == "failed"
    results = {x.target: x for x in store.results(run.id)}
    assert results["web-02"].status == "failed" and results["web-02"].reason == "configure: disk full"
    assert results["web-01"].data["changed"] == 1


def test_ctrl_c_during_a_play_marks_its_run_interrupted(cli: Any, runner: FakeRunner, files: tuple[Path, Path]) -> None:
    pb, inv = files
    runner.interrupt_at = "web-01"
    r = cli("play", "run", str(pb), "-i", str(inv))
    assert r.code == 130, r.err
    assert "Traceback" not in r.err and "govops play run" in r.err
    store = open_store(f"sqlite:///{Path.home() / '.local/share/govops/govops.db'}")
    (run,) = store.runs(kind="play.run")
    assert run.status == "interrupted" and f"run {run.id}" in r.err


def test_play_run_bad_input_is_exit_2(cli: Any, runner: FakeRunner, files: tuple[Path, Path], tmp_path: Path) -> None:
    pb, inv = files
    r = cli("play", "run", "missing-playbook", "-i", str(inv))
    assert r.code == 2 and "playbook 'missing-playbook' not found" in r.err
    r = cli("play", "run", str(pb), "-i", str(inv), "--limit", "web-01,nosuch")
    assert r.code == 2 and "unknown host or group 'nosuch'" in r.err
    bad = tmp_path / "bad-inv.yml"
    bad.write_text("all:\n  hosts:\n    a: {x: 1\n", encoding="utf-8")
    r = cli("play", "run", str(pb), "-i", str(bad))
    assert r.code == 2 and "bad-inv.yml:4: malformed YAML" in r.err, r.err
    r = cli("play", "run", str(pb))
    assert r.code == 2 and "--inventory FILE or --hosts" in r.err
    assert runner.requests == []  # nothing ran


def test_play_run_hosts_limit_and_options(cli: Any, runner: FakeRunner, files: tuple[Path, Path]) -> None:
    pb, _ = files
    r = cli("play", "run", "configure", "--project-root", str(pb.parent.parent), "--hosts", "a,b", "--limit", "b",
            "--check", "--diff", "--forks", "3", "-e", "x=1", "-o", "json")  # fmt: skip
    assert r.code == 0, r.err
    req = runner.requests[-1]
    assert req.inventory == {"all": {"hosts": {"a": {}, "b": {}}}} and req.limit == "b"
    assert req.check and req.diff and req.forks == 3 and dict(req.extra_vars) == {"x": "1"}
    assert [h["host"] for h in json.loads(r.out)["hosts"]] == ["b"]


def test_vault_password_from_env_never_shows(
    cli: Any, runner: FakeRunner, files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pb, inv = files
    monkeypatch.setenv("GOVOPS_VAULT_PASSWORD", "vault-pw-unit-123")
    runner.fail["web-01"] = ("configure", "the password vault-pw-unit-123 was refused")
    r = cli("play", "run", str(pb), "-i", str(inv), "-o", "json")
    assert r.code == 3
    req = runner.requests[-1]
    assert req.vault_password is not None and req.vault_password.reveal() == "vault-pw-unit-123"
    assert req.hide_env == ("GOVOPS_VAULT_PASSWORD",)
    assert "vault-pw-unit-123" not in r.out + r.err
    db = (Path.home() / ".local/share/govops/govops.db").read_bytes()
    assert b"vault-pw-unit-123" not in db
    pwfile = tmp_path / "pw"
    pwfile.write_text("from-a-file-456\n", encoding="utf-8")
    monkeypatch.delenv("GOVOPS_VAULT_PASSWORD")
    cli("play", "run", str(pb), "-i", str(inv), "--vault-password-file", str(pwfile))
    assert runner.requests[-1].vault_password.reveal() == "from-a-file-456"  # type: ignore[union-attr]


# -- cloud inventory and apply --post ---------------------------------------------------------------------------


def _server(name: str, **kw: Any) -> Server:
    meta = {"department": "gaj", "system": "e-gov portal", "owner": "li", "run_id": "R1"}
    return Server(id=f"id-{name}", name=name, status="ACTIVE", project_id="p", metadata=meta, **kw)


def test_cloud_inventory_hostvars_and_groups() -> None:
    a = _server("web-01", addresses={"net": ("10.0.0.5", "203.0.113.9")}, fixed_ips=("10.0.0.5",))
    b = _server("web-02", addresses={"net": ("10.0.0.6",)})
    inv = cloud_inventory([a, b])
    assert inv["all"]["hosts"]["web-01"] == {
        "ansible_host": "10.0.0.5",
        "govops_department": "gaj",
        "govops_system": "e-gov portal",
        "govops_owner": "li",
        "govops_run_id": "R1",
        "govops_server_id": "id-web-01",
        "govops_server_name": "web-01",
    }
    assert first_address(b) == "10.0.0.6"  # no fixed/floating marks: the first address
    assert set(inv["all"]["children"]) == {"dept_gaj", "system_e_gov_portal"}
    assert set(inv["all"]["children"]["dept_gaj"]["hosts"]) == {"web-01", "web-02"}
    assert group_name("system", "政务 portal") == "system_portal"
    twins = cloud_inventory([a, Server(id="other-server", name="web-01", status="ACTIVE", project_id="q")])
    assert len(twins["all"]["hosts"]) == 2


SPEC = """\
department: 公安局
name: portal
defaults: {flavor: m1.small, image: cirros, networks: [net1]}
vms:
  - name: web
    count: 2
    tags: {system: portal}
"""


@pytest.fixture
def fake_cloud(ports: Ports) -> FakeCloud:
    return cli_on_fake_cloud(ports)


def test_apply_post_runs_on_the_created_vms_and_keeps_them_on_failure(
    cli: Any, runner: FakeRunner, fake_cloud: FakeCloud, project: Path, files: tuple[Path, Path], tmp_path: Path
) -> None:
    pb, _ = files
    spec = tmp_path / "portal.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    root = ["--project-root", str(project)]
    r = cli(*root, "cloud", "apply", str(spec), "--post", str(pb), "--post-extra-vars", "ansible_connection=local",
            "-o", "json")  # fmt: skip
    assert r.code == 0, r.err
    data = json.loads(r.out)
    inv = runner.requests[-1].inventory
    assert isinstance(inv, dict) and sorted(inv["all"]["hosts"]) == ["web-01", "web-02"]
    assert {hv["govops_run_id"] for hv in inv["all"]["hosts"].values()} == {data["run_id"]}
    assert inv["all"]["hosts"]["web-01"]["ansible_host"].startswith("10.0.0.")
    assert set(inv["all"]["children"]) == {"dept_gaj", "system_portal"}
    assert dict(runner.requests[-1].extra_vars) == {"ansible_connection": "local"}
    assert sorted(v["status"] for v in data["post"]["vms"]) == ["changed", "changed"]
    # the same spec again: nothing created, the playbook is not run
    r = cli(*root, "cloud", "apply", str(spec), "--post", str(pb))
    assert r.code == 0 and len(runner.requests) == 1
    # a bigger spec: only the new VM gets the playbook; its failure keeps it and exits 3
    spec.write_text(SPEC.replace("count: 2", "count: 3"), encoding="utf-8")
    runner.fail["web-03"] = ("configure", "no route to host")
    r = cli(*root, "cloud", "apply", str(spec), "--post", str(pb), "-o", "json")
    assert r.code == 3, r.err
    assert sorted(runner.requests[-1].inventory["all"]["hosts"]) == ["web-03"]  # type: ignore[index]
    vms = json.loads(r.out)["post"]["vms"]
    assert [(v["name"], v["status"], v["detail"]) for v in vms] == [("web-03", "failed", "configure: no route to host")]
    assert sorted(s.name for s in fake_cloud.servers()) == ["web-01", "web-02", "web-03"]
    assert "the VMs are kept" in r.err


def test_apply_post_checks_the_playbook_before_creating(
    cli: Any, runner: FakeRunner, fake_cloud: FakeCloud, project: Path, tmp_path: Path
) -> None:
    spec = tmp_path / "portal.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    r = cli("--project-root", str(project), "cloud", "apply", str(spec), "--post", "no-such-playbook")
    assert r.code == 2 and "playbook 'no-such-playbook' not found" in r.err
    assert fake_cloud.servers() == [] and runner.requests == []


def test_vm_create_post_runs_on_the_new_vm(
    cli: Any, runner: FakeRunner, fake_cloud: FakeCloud, project: Path, files: tuple[Path, Path]
) -> None:
    pb, _ = files
    create = ["--project-root", str(project), "cloud", "vm", "create", "--dept", "gaj", "--name", "db-1",
              "--flavor", "m1.small", "--image", "cirros", "--network", "net1", "--system", "records"]  # fmt: skip
    r = cli(*create, "--post", str(pb), "--no-wait")
    assert r.code == 2 and "--post needs --wait" in r.err and fake_cloud.servers() == []
    runner.fail["db-1"] = ("configure", "apt lock held")
    r = cli(*create, "--post", str(pb))
    assert r.code == 3, r.err
    hv = runner.requests[-1].inventory["all"]["hosts"]["db-1"]  # type: ignore[index]
    assert hv["govops_department"] == "gaj" and hv["govops_system"] == "records"
    assert "configure: apt lock held" in r.out and "the VM is kept" in r.err
    assert [s.name for s in fake_cloud.servers()] == ["db-1"]
