"""plan/apply/rollback/orphans against the lab's real OpenStack (Nova, Placement, Neutron, Cinder).

Each test uses its own spec name, so only its own servers are looked at, and deletes them at the end.
Faults are real: a flavor requiring a trait no host has (Nova's scheduler puts the server in ERROR
with "No valid host"), a quota the batch does not fit, and the real adapter wrapped to fail after N
creates or to lose a create's answer after Nova got it.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from govops.cloud.batch import ApplyOptions, apply, make_plan
from govops.cloud.connection import CloudTarget
from govops.cloud.ports import CloudApiError, CloudPort, CloudUnreachable, QuotaExceeded
from govops.cloud.spec import META_SPEC, load_spec
from govops.config import load_config
from govops.departments import Department, Departments, load_departments
from govops.store import SqlStore, open_store

pytestmark = pytest.mark.integration

FLAVOR = "m1.tiny"
OPTIONS = ApplyOptions(concurrency=4, timeout=240, poll_interval=1.0)


@pytest.fixture(scope="module")
def port(cloud_lab: Any) -> CloudPort:
    from govops.cloud.openstack import connect

    return connect(CloudTarget(cloud_lab.cloud, Path(cloud_lab.clouds_file)))


@pytest.fixture(scope="module")
def departments(cloud_lab: Any) -> Departments:
    return load_departments(load_config(Path(cloud_lab.config)).departments_file)


@pytest.fixture(scope="module")
def roomy(port: CloudPort, departments: Departments) -> Department:
    """A department whose project has room for a few tiny servers (not the lab's near-quota one)."""
    best: tuple[int, Department] | None = None
    for d in departments:
        project = port.find_project(d.project)
        if project is None:
            continue
        q = port.get_quotas(project.id)
        room = min(
            (u.free if u.free is not None else 10**6)
            for k, u in q.items.items()
            if k in ("cores", "instances", "ports")
        )
        if best is None or room > best[0]:
            best = (room, d)
        if room >= 12:
            break
    assert best is not None and best[0] >= 6, "no lab department has room for 6 tiny servers"
    return best[1]


@pytest.fixture
def store(tmp_path: Path) -> SqlStore:
    return open_store(f"sqlite:///{tmp_path / 'govops.db'}")


@pytest.fixture
def spec_name(port: CloudPort) -> Iterator[str]:
    """A spec name of this test alone; every server carrying it is deleted afterwards."""
    name = f"it-{secrets.token_hex(3)}"
    yield name
    leftovers = [s for s in port.servers() if s.metadata.get(META_SPEC) == name]
    for s in leftovers:
        with contextlib.suppress(CloudApiError):
            port.delete_server(s.id)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(s.metadata.get(META_SPEC) == name for s in port.servers()):
        time.sleep(1)


def _write(tmp_path: Path, dept: Department, name: str, body: str) -> Path:
    f = tmp_path / f"{name}.yaml"
    f.write_text(
        f"department: {dept.code}\nname: {name}\ndefaults: {{flavor: {FLAVOR}, image: cirros-lab, networks: [lab-net]}}\n"
        f"vms:\n{body}",
        encoding="utf-8",
    )
    return f


def _mine(port: CloudPort, name: str, run_id: str | None = None) -> list[Any]:
    return [s for s in port.servers() if s.metadata.get(META_SPEC) == name and (run_id is None or s.run_id == run_id)]


def _env(cloud_lab: Any, tmp_path: Path) -> list[str]:
    """The lab's govops.yaml with a results store of this test's own."""
    import yaml

    config = yaml.safe_load(Path(cloud_lab.config).read_text(encoding="utf-8"))
    config["store"] = {"url": f"sqlite:///{tmp_path / 'govops.db'}"}
    config["cloud"] = {"name": cloud_lab.cloud, "clouds_file": str(cloud_lab.clouds_file)}
    own = tmp_path / "govops.yaml"
    own.write_text(yaml.safe_dump(config), encoding="utf-8")
    return ["--config", str(own)]


def test_cli_apply_plan_prune_on_the_lab(
    cli: Any, cloud_lab: Any, port: CloudPort, roomy: Department, spec_name: str, tmp_path: Path
) -> None:
    args = _env(cloud_lab, tmp_path)
    spec = _write(tmp_path, roomy, spec_name, "  - {name: web, count: 3, tags: {role: web}}\n")
    r = cli(*args, "cloud", "plan", str(spec), "-o", "json")
    assert r.code == 4, r.err  # changes pending
    assert json.loads(r.out)["counts"]["create"] == 3
    r = cli(*args, "cloud", "apply", str(spec), "--concurrency", "3", "-o", "json")
    assert r.code == 0, r.err
    result = json.loads(r.out)
    servers = _mine(port, spec_name)
    assert sorted(s.name for s in servers) == ["web-01", "web-02", "web-03"]
    assert all(s.status == "ACTIVE" and s.metadata["department"] == roomy.code for s in servers)
    assert {s.run_id for s in servers} == {result["run_id"]}
    r = cli(*args, "cloud", "plan", str(spec))
    assert r.code == 0, r.out + r.err
    spec.write_text(spec.read_text().replace("count: 3, tags: {role: web}", "count: 2, tags: {role: api}"))
    r = cli(*args, "cloud", "plan", str(spec), "-o", "json")
    assert r.code == 4
    actions = sorted((i["action"], i["name"]) for i in json.loads(r.out)["items"])
    assert actions == [("change", "web-01"), ("change", "web-02"), ("orphan", "web-03")]
    r = cli(*args, "cloud", "apply", "--prune", "--yes", str(spec))
    assert r.code == 0, r.err
    left = _mine(port, spec_name)
    assert sorted(s.name for s in left) == ["web-01", "web-02"]
    assert all(s.metadata["role"] == "api" for s in left)
    assert cli(*args, "cloud", "plan", str(spec)).code == 0


def test_over_quota_batch_is_refused_before_any_server(
    port: CloudPort, roomy: Department, spec_name: str, store: SqlStore, tmp_path: Path
) -> None:
    project = port.find_project(roomy.project)
    assert project is not None
    free = port.get_quotas(project.id).get("instances")
    assert free is not None and free.free is not None
    spec = load_spec(_write(tmp_path, roomy, spec_name, f"  - {{name: big, count: {free.free + 1}}}\n"))
    plan = make_plan(port, spec, roomy)
    with pytest.raises(QuotaExceeded) as exc:
        apply(port, plan, store, label=roomy.name_zh, options=OPTIONS)
    assert f"{roomy.name_zh} needs {free.free + 1} instances, {free.free} free" in str(exc.value)
    assert _mine(port, spec_name) == []


@pytest.fixture
def no_host_flavor(cloud_lab: Any) -> Iterator[str]:
    """A tiny public flavor that requires a trait no compute host has: Nova schedules it to ERROR."""
    conn = cloud_lab.connect()
    name = f"it-nohost-{secrets.token_hex(3)}"
    flavor = conn.compute.create_flavor(name=name, vcpus=1, ram=512, disk=1, is_public=True)
    conn.compute.create_flavor_extra_specs(flavor, {"trait:CUSTOM_GOVOPS_NOWHERE": "required"})
    yield name
    conn.compute.delete_flavor(flavor, ignore_missing=True)


def test_a_server_going_to_error_mid_batch_is_rolled_back(
    port: CloudPort, roomy: Department, spec_name: str, store: SqlStore, tmp_path: Path, no_host_flavor: str
) -> None:
    body = f"  - {{name: ok, count: 3}}\n  - {{name: doomed, flavor: {no_host_flavor}}}\n"
    plan = make_plan(port, load_spec(_write(tmp_path, roomy, spec_name, body)), roomy)
    result = apply(port, plan, store, label=roomy.name_zh, options=OPTIONS)
    assert result.status == "rolled-back", result.to_dict()
    assert result.error and "doomed: went to ERROR" in result.error and "No valid host" in result.error
    assert result.leaked == []
    assert _mine(port, spec_name, result.run_id) == []
    created = [e for e in store.journal(result.run_id) if e.action == "created"]
    assert created and len([e for e in store.journal(result.run_id) if e.action == "rolled-back"]) >= len(created)


class _Wrapped:
    """The real adapter with a fault after the n-th create (an API error, or a lost answer)."""

    def __init__(self, inner: CloudPort, after: int, fault: str) -> None:
        self.inner = inner
        self.after = after
        self.fault = fault
        self.creates = 0
        self.lock = threading.Lock()

    def create_server(self, project: Any, request: Any) -> Any:
        with self.lock:
            self.creates += 1
            n = self.creates
        if self.fault == "api" and n > self.after:
            raise CloudApiError("injected: the API refused", status=400, method="POST", url="/servers")
        server = self.inner.create_server(project, request)
        if self.fault == "lost" and n == self.after:
            raise CloudUnreachable("compute: injected read timeout", maybe_applied=True)
        return server

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_an_api_error_after_two_creates_leaves_no_server_of_the_run(
    port: CloudPort, roomy: Department, spec_name: str, store: SqlStore, tmp_path: Path
) -> None:
    wrapped = _Wrapped(port, 2, "api")
    plan = make_plan(wrapped, load_spec(_write(tmp_path, roomy, spec_name, "  - {name: web, count: 4}\n")), roomy)  # type: ignore[arg-type]
    result = apply(wrapped, plan, store, label=roomy.name_zh, options=ApplyOptions(concurrency=1, timeout=240))  # type: ignore[arg-type]
    assert result.status == "rolled-back" and "injected" in (result.error or "")
    assert wrapped.creates >= 3
    assert _mine(port, spec_name, result.run_id) == []


def test_a_rerun_after_a_client_timeout_creates_no_duplicates(
    port: CloudPort, roomy: Department, spec_name: str, store: SqlStore, tmp_path: Path
) -> None:
    spec_file = _write(tmp_path, roomy, spec_name, "  - {name: app, count: 3}\n")
    wrapped = _Wrapped(port, 2, "lost")
    plan = make_plan(wrapped, load_spec(spec_file), roomy)  # type: ignore[arg-type]
    first = apply(wrapped, plan, store, label=roomy.name_zh, options=OPTIONS)  # type: ignore[arg-type]
    assert first.status == "ok", first.to_dict()
    assert [e.action for e in store.journal(first.run_id)].count("adopted") == 1
    again = apply(port, make_plan(port, load_spec(spec_file), roomy), store, label=roomy.name_zh, options=OPTIONS)
    assert again.status == "unchanged"
    names = [s.name for s in _mine(port, spec_name)]
    assert sorted(names) == ["app-01", "app-02", "app-03"]  # each exactly once


def test_orphans_on_the_lab(cli: Any, cloud_lab: Any, tmp_path: Path) -> None:
    """Every server the lab seeded stopped, and every spare volume it seeded, is found with its
    department and the quota it frees."""
    args = _env(cloud_lab, tmp_path)
    r = cli(*args, "cloud", "orphans", "--stopped-days", "0", "-o", "json")
    assert r.code == 3, r.err
    data = json.loads(r.out)
    found = {(o["resource"], o["name"]): o for o in data["items"]}
    seeded = cloud_lab.truth["cloud"]["departments"]
    flavors = {f["name"]: f for f in cloud_lab.truth["cloud"]["flavors"]}
    for code, dept in seeded.items():
        for s in dept["servers"]:
            if s["stopped"]:
                o = found[("server", s["name"])]
                assert "stopped" in o["reasons"] and o["department"] == code
                assert o["frees"]["cores"] == flavors[s["flavor"]]["vcpus"]
            if s["volume_gb"] is not None:
                v = found[("volume", f"{s['name']}-data")]
                assert v["department"] == code and v["frees"]["gigabytes"] == s["volume_gb"]
    totals = data["totals"]
    assert all(totals[o["department"]]["instances"] >= 1 for o in data["items"] if o["resource"] == "server")
    r = cli(*args, "cloud", "orphans", "--stopped-days", "36500", "-o", "json")
    assert not any("stopped" in o["reasons"] for o in json.loads(r.out)["items"])
