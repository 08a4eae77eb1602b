"""The seeded-cloud snapshot's bookkeeping: its key, its lookup, when a fresh lab restores it.

Restoring a real snapshot (a seeded MariaDB, services adopting the servers, this lab's ports and
passwords) is checked on the CI cloud lab: tests/integration/cloud/test_lab_cloud.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from govops.departments import load_departments
from govops.lab.cloud import schema, snapshot
from govops.lab.cloud.component import CloudLab
from govops.lab.cloud.layout import VENV_ENV, Layout, current_user
from govops.lab.cloud.plan import CloudPlan, plan
from govops.lab.core import LabContext, LabOptions
from govops.lab.processes import ProcessManager
from govops.observer import RecordingObserver

REPO = Path(__file__).resolve().parents[2]


def _plan(servers: int = 64, seed: int = 5) -> CloudPlan:
    return plan(list(load_departments(REPO / "inventories" / "departments.yaml")), servers, seed)


def test_the_key_follows_the_plan_the_template_and_the_seeding_code(monkeypatch: pytest.MonkeyPatch) -> None:
    key = snapshot.snapshot_key(_plan(), "t1")
    assert key == snapshot.snapshot_key(_plan(), "t1")
    assert key != snapshot.snapshot_key(_plan(servers=100), "t1")
    assert key != snapshot.snapshot_key(_plan(seed=6), "t1")
    assert key != snapshot.snapshot_key(_plan(), "t2")  # another schema template: other databases
    monkeypatch.setattr(snapshot, "SNAPSHOT_VERSION", snapshot.SNAPSHOT_VERSION + 1)
    assert key != snapshot.snapshot_key(_plan(), "t1")


def _made(venv: Path, cloud_plan: CloudPlan) -> Path:
    key = snapshot.snapshot_key(cloud_plan, schema.template_key(schema.mariadb_version(), current_user()))
    target = schema.templates_root(venv) / f"cloud-{key}"
    (target / "mysql" / "mysql").mkdir(parents=True)
    (target / "files").mkdir()
    (target / snapshot.META).write_text(json.dumps({"key": key, "data_root": "/old/cloud/data", "made": "x"}))
    return target


def test_lookup_finds_only_a_whole_snapshot_of_the_same_plan(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    assert snapshot.lookup(venv, _plan()) is None
    target = _made(venv, _plan())
    found = snapshot.lookup(venv, _plan())
    assert found is not None and found.path == target and found.datadir == target / "mysql"
    assert snapshot.lookup(venv, _plan(servers=100)) is None
    (target / snapshot.META).unlink()  # a build that stopped half-way
    assert snapshot.lookup(venv, _plan()) is None


def test_only_a_lab_folder_without_a_cloud_restores_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = tmp_path / "venv"
    monkeypatch.setenv(VENV_ENV, str(venv))
    obs = RecordingObserver()
    ctx = LabContext(tmp_path / "lab", REPO, LabOptions(servers=64, seed=5), ProcessManager(tmp_path / "lab"), obs)
    layout = Layout(ctx.dir)
    lab = CloudLab()
    cloud_plan = lab.plan_of(ctx, layout)
    assert CloudLab._snapshot(ctx, layout, cloud_plan) is None
    assert "no seeded-cloud snapshot of this plan (64 servers, seed 5)" in obs.events[-1][1]
    assert "govops lab install --cloud --servers 64 --seed 5" in obs.events[-1][1]

    target = _made(venv, cloud_plan)
    found = CloudLab._snapshot(ctx, layout, cloud_plan)
    assert found is not None and found.path == target
    assert obs.events[-1][1].startswith("restoring the seeded cloud")

    # an up that stopped half-way finishes what it started rather than starting over from the snapshot
    (layout.mysql / "data" / "mysql").mkdir(parents=True)
    assert CloudLab._snapshot(ctx, layout, cloud_plan) is None


@pytest.mark.parametrize(
    ("old", "new"),
    [("/tmp/a/cloud/data", "/srv/lab/cloud/data"), ("/tmp/it's/cloud/data", "/x\\y/cloud/data")],
)
def test_glance_locations_are_rewritten_with_quoted_paths(old: str, new: str) -> None:
    sql = snapshot.glance_locations_sql(old, new)
    quoted_old = "'file://" + old.replace("\\", "\\\\").replace("'", "''") + "/'"
    quoted_new = "'file://" + new.replace("\\", "\\\\").replace("'", "''") + "/'"
    assert sql == f"UPDATE glance.image_locations SET value = REPLACE(value, {quoted_old}, {quoted_new});"


def test_install_makes_the_snapshot_of_the_asked_plan_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    venv = tmp_path / "venv"
    monkeypatch.setenv(VENV_ENV, str(venv))
    obs = RecordingObserver()
    ctx = LabContext(tmp_path / "lab", REPO, LabOptions(servers=100, seed=7), ProcessManager(tmp_path / "lab"), obs)
    layout = Layout(ctx.dir)
    built: list[tuple[Path, Path, int, int]] = []

    def build(venv: Path, root: Path, servers: int, seed: int) -> tuple[snapshot.Snapshot, float]:
        built.append((venv, root, servers, seed))
        return snapshot.Snapshot("k", _made(venv, _plan(servers, seed))), 12.0

    monkeypatch.setattr(snapshot, "build", build)
    CloudLab()._install_snapshot(ctx, layout)
    assert built == [] and "no schema template" in obs.events[-1][1]  # it is what a snapshot restores onto

    (schema.templates_root(venv) / f"schema-{schema.lookup(venv).key}" / "data" / "mysql").mkdir(parents=True)
    (schema.templates_root(venv) / f"schema-{schema.lookup(venv).key}" / schema.META).write_text("{}")
    CloudLab()._install_snapshot(ctx, layout)
    assert built == [(venv, REPO, 100, 7)] and obs.events[-1][1].startswith("seeded-cloud snapshot made in 12 s")
    CloudLab()._install_snapshot(ctx, layout)
    assert len(built) == 1 and "snapshot up to date (100 servers, seed 7)" in obs.events[-1][1]
