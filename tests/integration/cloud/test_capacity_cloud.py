"""Capacity with a real cloud: quotas and allocations from real Nova equal what
``openstack quota show --usage`` reports; usage from the lab's Prometheus alongside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from govops.capacity.prometheus import connect as connect_metrics
from govops.capacity.service import CapacityService, Options
from govops.cloud.connection import CloudTarget
from govops.cloud.openstack import connect as connect_cloud
from govops.departments import load_departments
from govops.errors import ExitCode

from tests.conftest import REPO
from tests.integration.cloud.conftest import CloudLabInfo
from tests.integration.cloud.test_lab_cloud import _openstack

pytestmark = pytest.mark.integration
NOVA = ("cores", "ram", "instances")


def _usage(lab: CloudLabInfo, project: str) -> dict[str, tuple[int, int]]:
    """(limit, in use) of Nova's resources; others may say "N/A" (e.g. Neutron's without usage)."""
    rows = _openstack(lab, "quota", "show", "--usage", project)
    return {r["Resource"]: (int(r["Limit"]), int(r["In Use"])) for r in rows if r["Resource"] in NOVA}


def test_allocations_equal_openstack_quota_show_usage(cloud_lab: CloudLabInfo) -> None:
    departments = load_departments(REPO / "inventories" / "departments.yaml")
    full = cloud_lab.truth["cloud"]["near_quota"]  # filled to its instances quota
    chosen = [departments.get(code) for code in sorted({"gaj", "wjw", full})]
    cloud = connect_cloud(CloudTarget(cloud_lab.cloud, Path(cloud_lab.clouds_file)))
    end = float(cloud_lab.truth["prometheus"]["window"]["end"])
    service = CapacityService(connect_metrics(cloud_lab.prometheus_url), cloud)
    report = service.report(chosen, Options(at=end), only=True)
    assert report.allocation_source == "openstack"
    for d in report.departments:
        cli = _usage(cloud_lab, d.project)
        cpu, ram, inst = d.resources["cpu"], d.resources["ram"], d.resources["instances"]
        assert (cpu.quota, cpu.allocated) == cli["cores"], d.code
        assert (ram.quota * 1024, ram.allocated * 1024) == cli["ram"], d.code  # type: ignore[operator]
        assert (inst.quota, inst.allocated) == cli["instances"], d.code
        assert cpu.used is not None and cpu.used.mean is not None and cpu.used.mean > 0, d.code
    swj = next(d for d in report.departments if d.code == full)
    assert "instances" in swj.near_quota and swj.resources["instances"].forecast == "at_quota"


def test_cli_capacity_show_with_the_cloud(cli, cloud_lab: CloudLabInfo, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    for k, v in cloud_lab.env().items():
        monkeypatch.setenv(k, v)
    full = cloud_lab.truth["cloud"]["near_quota"]
    end = str(cloud_lab.truth["prometheus"]["window"]["end"])
    r = cli("capacity", "show", "--dept", full, "--at", end, "-o", "json")
    assert r.code == ExitCode.FINDINGS, r.err
    doc = json.loads(r.out)
    assert doc["allocation_source"] == "openstack" and doc["findings"] == [full]
    r = cli("capacity", "show", "--dept", full, "--at", end, "--source", "prometheus", "-o", "json")
    assert json.loads(r.out)["allocation_source"] == "prometheus"
