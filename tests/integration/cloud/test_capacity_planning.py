"""Capacity planning against the lab's real Placement, Nova, Cinder and Prometheus (issue 19).

Each figure is checked against the APIs' own answers (Placement's inventories and usages read over
raw HTTP, Nova's quota check of a real create) or against the lab's ground truth (the cloud plan's
hypervisors, the history's planted idle, oversized and near-quota figures).
"""

from __future__ import annotations

import contextlib
import json
import math
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from govops.capacity.assemble import ReportRequest, build_report
from govops.capacity.headroom import HeadroomService
from govops.capacity.labels import Labelling
from govops.capacity.prometheus import connect as connect_metrics
from govops.capacity.rightsize import RightsizeOptions, RightsizeService
from govops.capacity.service import CapacityService, Options
from govops.capacity.whatif import Addition, WhatIfService
from govops.cloud.connection import CloudTarget
from govops.cloud.openstack import OpenStackCloud
from govops.cloud.openstack import connect as connect_cloud
from govops.cloud.ports import CloudApiError
from govops.cloud.spec import META_SPEC
from govops.departments import Department, Departments, load_departments
from govops.errors import ExitCode
from govops.store import open_store

from tests.conftest import REPO
from tests.integration.cloud.conftest import CloudLabInfo

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud(cloud_lab: CloudLabInfo) -> OpenStackCloud:
    return connect_cloud(CloudTarget(cloud_lab.cloud, Path(cloud_lab.clouds_file)))


@pytest.fixture(scope="module")
def departments() -> Departments:
    return load_departments(REPO / "inventories" / "departments.yaml")


def _end(lab: CloudLabInfo) -> float:
    return float(lab.truth["prometheus"]["window"]["end"])


def _env(cli_lab: CloudLabInfo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **override: Any) -> None:
    import yaml

    config = yaml.safe_load(Path(cli_lab.config).read_text(encoding="utf-8"))
    config["store"] = {"url": f"sqlite:///{tmp_path / 'govops.db'}"}
    for k, v in override.items():
        config.setdefault("prometheus", {})[k] = v
    own = tmp_path / "govops.yaml"
    own.write_text(yaml.safe_dump(config), encoding="utf-8")
    for k, v in cli_lab.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GOVOPS_CONFIG", str(own))


# -- 1. headroom: Placement's own figures ---------------------------------------------------------------


def test_headroom_equals_placement_and_the_planted_host(cloud_lab: CloudLabInfo, cloud: OpenStackCloud) -> None:
    result = HeadroomService(cloud, connect_metrics(cloud_lab.prometheus_url)).headroom(_end(cloud_lab), step=3600)
    assert result.complete, result.warnings
    # what `openstack resource provider inventory list` / `usage show` read: Placement's REST API
    session = cloud.conn.session
    rps = session.get("/resource_providers", endpoint_filter={"service_type": "placement"}).json()
    raw = {}
    for rp in rps["resource_providers"]:
        inv = session.get(
            f"/resource_providers/{rp['uuid']}/inventories", endpoint_filter={"service_type": "placement"}
        )
        use = session.get(f"/resource_providers/{rp['uuid']}/usages", endpoint_filter={"service_type": "placement"})
        raw[rp["name"]] = (inv.json()["inventories"], use.json()["usages"])
    hosts = {h.name: h for h in result.hosts}
    assert set(hosts) == set(raw)
    for name, (inv, use) in raw.items():
        for rc, i in inv.items():
            r = hosts[name].resources[rc]
            assert (r.total, r.reserved, r.allocation_ratio) == (i["total"], i["reserved"], i["allocation_ratio"])
            assert r.capacity == int((i["total"] - i["reserved"]) * i["allocation_ratio"])
            assert r.allocated == use.get(rc, 0)
    # the lab's plan: every host's ratio and reservation, one of them not the default
    planned = {h["name"]: h for h in cloud_lab.truth["cloud"]["hypervisors"]}
    if any("cpu_allocation_ratio" in h for h in planned.values()):
        special = [h for h in planned.values() if h["cpu_allocation_ratio"] != 4.0]
        assert special, "the lab plants one host with a non-default CPU allocation ratio"
        for name, h in planned.items():
            vcpu, ram = hosts[name].resources["VCPU"], hosts[name].resources["MEMORY_MB"]
            assert (vcpu.allocation_ratio, vcpu.reserved) == (h["cpu_allocation_ratio"], h["reserved_host_cpus"])
            assert ram.reserved == h["reserved_host_memory_mb"]
    # zones: the plan's AZs, sums of their hosts; the cloud: sums of all
    for z in result.zones:
        mine = [h for h in result.hosts if h.az == z.name]
        assert z.resources["VCPU"].free == sum(h.resources["VCPU"].free for h in mine)
    assert {h.az for h in result.hosts} == {h["az"] for h in planned.values()}
    # free slots: per host the minimum over the flavor's classes, never a division of the totals
    for f in result.flavors:
        per_host = 0
        for h in result.hosts:
            need = {"VCPU": f.vcpus, "MEMORY_MB": f.ram_mb, **({"DISK_GB": f.disk_gb} if f.disk_gb else {})}
            per_host += min(h.resources[rc].free // n for rc, n in need.items())
        assert f.total == per_host == sum(f.per_az.values()), f.flavor
    # physical use next to it: the running VMs Prometheus sees on each host
    assert sum(h.used.vms or 0 for h in result.hosts) > 0


def test_placement_forbidden_for_a_department_user(
    cli: Any, cloud_lab: CloudLabInfo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _env(cloud_lab, monkeypatch, tmp_path)
    monkeypatch.setenv("OS_CLOUD", cloud_lab.dept_cloud("gaj"))
    import yaml

    cfg = yaml.safe_load(Path(tmp_path / "govops.yaml").read_text())
    cfg["cloud"]["name"] = cloud_lab.dept_cloud("gaj")
    (tmp_path / "govops.yaml").write_text(yaml.safe_dump(cfg))
    r = cli("capacity", "cloud", "--at", str(_end(cloud_lab)), "-o", "json")
    assert r.code == ExitCode.ERROR, r.err
    assert "Traceback" not in r.err
    lines = [x for x in r.err.splitlines() if "Placement" in x]
    assert len(lines) == 1 and "403" in lines[0], r.err
    doc = json.loads(r.out)["cloud_headroom"]
    assert doc["placement"] is False and doc["prometheus"] is True
    assert doc["hosts"] and all(h["used"]["vms"] for h in doc["hosts"])  # physical use still shown


# -- 2. what-if, then the same VMs for real -----------------------------------------------------------------


@pytest.fixture
def spec_name(cloud: OpenStackCloud) -> Iterator[str]:
    name = f"it-whatif-{secrets.token_hex(3)}"
    yield name
    for s in [s for s in cloud.servers() if s.metadata.get(META_SPEC) == name]:
        with contextlib.suppress(CloudApiError):
            cloud.delete_server(s.id)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(s.metadata.get(META_SPEC) == name for s in cloud.servers()):
        time.sleep(1)


def _roomy(cloud: OpenStackCloud, departments: Departments, lab: CloudLabInfo) -> Department:
    best = None
    for d in departments:
        if d.code == lab.truth["cloud"]["near_quota"]:
            continue
        project = cloud.find_project(d.project)
        if project is None:
            continue
        q = cloud.get_quotas(project.id)
        room = min(q.items[k].free or 10**6 for k in ("cores", "instances", "ram_mb"))
        if best is None or room > best[0]:
            best = (room, d)
    assert best is not None and best[0] >= 4
    return best[1]


def test_whatif_fits_then_apply_succeeds(
    cli: Any,
    cloud_lab: CloudLabInfo,
    cloud: OpenStackCloud,
    departments: Departments,
    spec_name: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _env(cloud_lab, monkeypatch, tmp_path)
    dept = _roomy(cloud, departments, cloud_lab)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"department: {dept.code}\nname: {spec_name}\n"
        "defaults: {flavor: m1.small, image: cirros-lab, networks: [lab-net], az: az1}\n"
        "vms:\n  - {name: web, count: 2}\n",
        encoding="utf-8",
    )
    r = cli("capacity", "whatif", "--spec", str(spec), "--at", str(_end(cloud_lab)), "-o", "json")
    assert r.code == ExitCode.OK, r.err
    doc = json.loads(r.out)["whatif"]
    assert doc["fits"] and doc["placement"]["placed"] == {"az1": 2}
    r = cli("cloud", "apply", str(spec), "--yes", "-o", "json")
    assert r.code == 0, r.err
    made = [s for s in cloud.servers() if s.metadata.get(META_SPEC) == spec_name]
    assert len(made) == 2 and all(s.status == "ACTIVE" and s.az == "az1" for s in made)


def test_whatif_shortfall_is_novas_quota_refusal(
    cloud_lab: CloudLabInfo, cloud: OpenStackCloud, departments: Departments
) -> None:
    # a department, flavor and count where cores alone fall short (what-if names each resource that does)
    service = WhatIfService(cloud)
    found = None
    for dept in departments:
        project = cloud.find_project(dept.project)
        if project is None or dept.code == cloud_lab.truth["cloud"]["near_quota"]:
            continue
        cores = cloud.get_quotas(project.id).items["cores"]
        if cores.free is None:
            continue
        for large in sorted(cloud.flavors(), key=lambda f: -f.vcpus / max(1, f.ram_mb)):
            count = cores.free // large.vcpus + 1
            result = service.whatif(dept, [Addition(count, large.name)])
            short = {s.resource: s.short for s in result.shortfalls}
            if set(short) == {"cores"}:
                found = dept
                break
        if found:
            break
    if found is None:
        pytest.fail("no department and flavor are short of cores alone")
    assert cores.free is not None
    assert not result.fits
    assert short["cores"] == count * large.vcpus - cores.free
    # the same request for real, with the department's own credentials: Nova refuses for quota
    conn = cloud_lab.connect(dept.code)
    image = conn.image.find_image("cirros-lab")
    net = conn.network.find_network("lab-net")
    from openstack.exceptions import HttpException

    with pytest.raises(HttpException) as exc:
        conn.compute.create_server(
            name=f"it-whatif-{secrets.token_hex(3)}",
            flavor_id=large.id,
            image_id=image.id,
            networks=[{"uuid": net.id}],
            min_count=count,
            max_count=count,
        )
    assert exc.value.status_code == 403
    message = str(exc.value.details or exc.value)
    assert "Quota exceeded" in message
    named = {
        k
        for k in ("cores", "ram", "instances")
        if k in message.split("Quota exceeded for", 1)[1].split(":", maxsplit=1)[0]
    }
    ours = {"ram" if k == "ram_mb" else k for k in short}
    assert named == ours & {"cores", "ram", "instances"}


# -- 3. forecast ranges and the cloud-full date ---------------------------------------------------------------


def test_planted_quota_date_inside_the_range(
    cloud_lab: CloudLabInfo, cloud: OpenStackCloud, departments: Departments
) -> None:
    nq = cloud_lab.truth["prometheus"]["near_quota"]
    report = build_report(
        departments,
        connect_metrics(cloud_lab.prometheus_url),
        None,
        ReportRequest(at=str(_end(cloud_lab)), confidence=80.0),
    )
    r = next(d for d in report.departments if d.code == nq["department"]).resources["storage"]
    assert r.forecast == "ok"
    assert r.days_to_quota_conservative is not None and r.days_to_quota_aggressive is not None
    assert r.days_to_quota_conservative <= nq["days_to_quota"] <= r.days_to_quota_aggressive
    assert r.days_to_quota_aggressive - r.days_to_quota_conservative < 0.5 * nq["days_to_quota"]  # a useful range


def test_cloud_full_against_effective_capacity(
    cloud_lab: CloudLabInfo, cloud: OpenStackCloud, departments: Departments
) -> None:
    report = build_report(
        departments,
        connect_metrics(cloud_lab.prometheus_url),
        cloud,
        ReportRequest(at=str(_end(cloud_lab)), cloud_full=True),
    )
    assert report.headroom is not None and report.headroom.total is not None
    cpu = report.cloud_full["cpu"]
    assert cpu.capacity == report.headroom.total.resources["VCPU"].capacity
    assert cpu.allocated == report.headroom.total.resources["VCPU"].allocated
    assert cpu.forecast in ("ok", "flat", "full")


# -- 4. rightsizing against the planted idle and oversized VMs ----------------------------------------------------


def test_rightsize_finds_the_planted_vms(
    cloud_lab: CloudLabInfo, cloud: OpenStackCloud, departments: Departments
) -> None:
    truth = cloud_lab.truth["prometheus"]
    if "oversized_vms" not in truth:
        pytest.skip("a lab history without planted oversized workloads (older generator)")
    inventory = {s["id"]: s for s in cloud_lab.truth["inventory"]["servers"]}
    service = RightsizeService(connect_metrics(cloud_lab.prometheus_url), cloud)
    result = service.rightsize(departments, RightsizeOptions(at=_end(cloud_lab), stopped_days=0))
    kinds: dict[str, set[str]] = {"idle": set(), "oversized": set(), "stopped": set()}
    for i in result.items:
        kinds[i.kind].add(i.id)
    running = {k for k, s in inventory.items() if s["status"] == "ACTIVE"}
    assert kinds["idle"] == set(truth["idle_vms"]) & running
    assert kinds["oversized"] == set(truth["oversized_vms"]) - set(truth["idle_vms"])
    assert kinds["stopped"] == {k for k, s in inventory.items() if s["status"] == "SHUTOFF"}
    for i in result.items:
        assert i.department == inventory[i.id]["department"]
        if i.kind == "oversized":
            assert i.suggested_flavor and i.frees_cores > 0 and i.frees_ram_mb > 0
        else:
            assert (i.frees_cores, i.frees_ram_mb) == (inventory[i.id]["vcpus"], inventory[i.id]["ram_mb"])
    for code, t in result.totals.items():
        mine = [i for i in result.items if i.department == code]
        assert t.frees_cores == sum(i.frees_cores for i in mine)


# -- 6. real exporters' labels: the same truth by project name, project ID and an info metric ----------------------


@pytest.mark.parametrize(
    "labelling",
    [
        Labelling("project_name"),
        Labelling("project_id"),
        Labelling("project_name", info_metric="libvirt_domain_info_meta"),
    ],
    ids=["project_name", "project_id", "info_metric_join"],
)
def test_labellings_give_the_same_figures(
    cloud_lab: CloudLabInfo, cloud: OpenStackCloud, departments: Departments, labelling: Labelling
) -> None:
    if (
        labelling.info_metric
        and "libvirt_domain_info_meta" not in cloud_lab.truth["prometheus"]["metrics"]["vm"]["metrics"]
    ):
        pytest.skip("a lab history without the info metric (older generator)")
    metrics = connect_metrics(cloud_lab.prometheus_url)
    depts = list(departments)
    at = _end(cloud_lab)
    # both on the raw series: the lab's recording rules are made for the department label only
    base = CapacityService(metrics).report(depts, Options(at=at, series="raw"))
    ids = {p.name: p.id for p in cloud.projects()}  # what Keystone says each project's ID is
    project_ids = {d.code: ids[d.project] for d in depts if d.project in ids}
    other = CapacityService(metrics, project_ids=project_ids).report(
        depts, Options(at=at, labelling=labelling, series="raw")
    )
    truth = cloud_lab.truth["prometheus"]["departments"]
    a = {d.code: d for d in base.departments}
    b = {d.code: d for d in other.departments}
    for code, t in truth.items():
        for res in ("cpu", "ram", "storage"):
            ua, ub = a[code].resources[res].used, b[code].resources[res].used
            assert ua is not None and ub is not None, (code, res)
            assert ub.mean == pytest.approx(ua.mean, rel=1e-9), (code, res)
            assert ub.p95 == pytest.approx(ua.p95, rel=1e-9), (code, res)
        assert b[code].resources["storage"].allocated == t["volume_used_gb_latest"], code
        assert b[code].resources["cpu"].used.mean == pytest.approx(t["cpu_mean_cores"], rel=0.01)  # type: ignore[union-attr]
    assert other.queries == base.queries  # bounded: the same requests whatever the labelling


# -- 5. snapshots: days Prometheus does not hold ------------------------------------------------------------------


def test_window_longer_than_prometheus_is_served_from_snapshots(
    cloud_lab: CloudLabInfo, departments: Departments, tmp_path: Path
) -> None:
    from govops.capacity.snapshots import SCOPE_DEPARTMENT, day_of, department_data, taken_at

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    metrics = connect_metrics(cloud_lab.prometheus_url)
    window = cloud_lab.truth["prometheus"]["window"]
    depts = list(departments)
    # snapshots of the 10 days before the history starts, as a daily timer would have written them:
    # the first day's own figures (Prometheus holds it), carried back
    first_day = CapacityService(metrics).report(depts, Options(at=window["start"] + 2 * 86400, window=86400))
    for k in range(1, 11):
        day = day_of(window["start"] - k * 86400)
        for d in first_day.departments:
            store.record_snapshot(
                SCOPE_DEPARTMENT, d.code, {"day": day, **department_data(first_day, d.code)}, taken_at(day)
            )
    days = math.ceil((window["end"] - window["start"]) / 86400) + 10
    request = ReportRequest(at=str(window["end"]), window=f"{days}d")
    report = build_report(departments, metrics, None, request, store=store)
    assert 9 <= report.snapshot_days <= 11
    assert any("stored snapshots" in str(w) for w in report.warnings)
    plain = build_report(departments, metrics, None, ReportRequest(at=str(window["end"]), window=f"{days}d"))
    assert plain.snapshot_days == 0
    nq = cloud_lab.truth["prometheus"]["near_quota"]["department"]
    with_s = next(d for d in report.departments if d.code == nq).resources["storage"]
    without = next(d for d in plain.departments if d.code == nq).resources["storage"]
    assert with_s.allocated == without.allocated
    hist = [h for h in report.allocation_history["storage"]]
    assert len(hist) > len(plain.allocation_history["storage"])


def test_snapshot_command_is_idempotent_per_day(
    cli: Any, cloud_lab: CloudLabInfo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _env(cloud_lab, monkeypatch, tmp_path)
    at = str(_end(cloud_lab))
    r = cli("capacity", "snapshot", "--at", at, "-o", "json")
    assert r.code == 0, r.err
    first = json.loads(r.out)
    assert first["written"] and first["cloud"] is True
    r = cli("capacity", "snapshot", "--at", at, "-o", "json")
    second = json.loads(r.out)
    assert second["written"] == [] and sorted(second["kept"]) == sorted(first["written"])


# -- failures: one line each, the other figures still shown ----------------------------------------------------


def test_prometheus_down_and_an_unknown_department(
    cli: Any, cloud_lab: CloudLabInfo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    extra = "- code: zzz\n  name_zh: 新设局\n  name_en: New Bureau\n  project: dept-zzz\n  quotas: {cores: 10}\n"
    depts = tmp_path / "departments.yaml"
    depts.write_text((REPO / "inventories" / "departments.yaml").read_text(encoding="utf-8") + extra, encoding="utf-8")
    _env(cloud_lab, monkeypatch, tmp_path, url=f"http://127.0.0.1:{port}")
    import yaml

    cfg = yaml.safe_load((tmp_path / "govops.yaml").read_text())
    cfg["departments"] = str(depts)
    (tmp_path / "govops.yaml").write_text(yaml.safe_dump(cfg))
    r = cli("capacity", "show", "--at", str(_end(cloud_lab)), "-o", "json")
    assert r.code == ExitCode.ERROR and "Traceback" not in r.err
    assert len([x for x in r.err.splitlines() if "Prometheus" in x and "cannot connect" in x]) == 1, r.err
    assert any("dept-zzz" in x or "zzz" in x for x in r.err.splitlines()), r.err  # no project in the cloud
    doc = json.loads(r.out)
    gaj = next(d for d in doc["departments"] if d["code"] == "gaj")
    assert doc["allocation_source"] == "openstack" and gaj["resources"]["cpu"]["quota"] == 2032
    assert gaj["resources"]["cpu"]["used"] is None and doc["failed_sources"] == ["prometheus"]
