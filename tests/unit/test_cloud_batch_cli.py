"""``govops cloud plan|apply|orphans`` through ``main`` (real exit codes), on the fake cloud."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from govops.cli.application import Ports

from tests.fakes_cloud import FakeCloud, cli_on_fake_cloud

SPEC = """\
department: 公安局
name: portal
defaults: {flavor: m1.small, image: cirros, networks: [net1]}
vms:
  - name: web
    count: 2
"""


@pytest.fixture
def fake(ports: Ports) -> FakeCloud:
    return cli_on_fake_cloud(ports)


def _spec(tmp_path: Path, text: str = SPEC) -> str:
    f = tmp_path / "portal.yaml"
    f.write_text(text, encoding="utf-8")
    return str(f)


def test_plan_exit_codes_follow_drift(cli: Any, fake: FakeCloud, project: Path, tmp_path: Path) -> None:
    """Drift has its own code (4, like Terraform's -detailed-exitcode 2), apart from bad input (2),
    so a cron job can tell "changes pending" from "the spec is wrong"."""
    root = ["--project-root", str(project)]
    spec = _spec(tmp_path)
    r = cli(*root, "cloud", "plan", spec, "-o", "json")
    assert r.code == 4, r.err
    data = json.loads(r.out)
    assert data["drift"] and data["counts"]["create"] == 2 and data["department"] == "gaj"
    r = cli(*root, "cloud", "apply", spec)
    assert r.code == 0, r.err
    assert "web-01" in r.out and "created" in r.out
    r = cli(*root, "cloud", "plan", spec)
    assert r.code == 0, r.err
    assert "2 unchanged" in r.out
    r = cli(*root, "cloud", "apply", spec)
    assert r.code == 0 and "nothing to do" in r.err


def test_bad_spec_and_unknown_department_are_exit_2(cli: Any, fake: FakeCloud, project: Path, tmp_path: Path) -> None:
    root = ["--project-root", str(project)]
    r = cli(*root, "cloud", "plan", _spec(tmp_path, SPEC.replace("count: 2", "count: -1")))
    assert r.code == 2 and "portal.yaml:6 vms[0].count:" in r.err and "Traceback" not in r.err
    r = cli(*root, "cloud", "plan", _spec(tmp_path, SPEC.replace("公安局", "公安")))
    assert r.code == 2 and "portal.yaml:1 department: unknown department '公安'" in r.err
    r = cli(*root, "cloud", "apply", _spec(tmp_path, SPEC.replace("m1.small", "m9")))
    assert r.code == 2 and "portal.yaml:3 defaults.flavor: unknown flavor 'm9' in the cloud" in r.err


def test_apply_refused_for_quota_names_the_shortfall(cli: Any, fake: FakeCloud, project: Path, tmp_path: Path) -> None:
    prj = fake.find_project("dept-gaj")
    assert prj
    fake.limits[prj.id]["cores"] = 1
    r = cli("--project-root", str(project), "--lang", "zh", "cloud", "apply", _spec(tmp_path))
    assert r.code == 1 and "公安局:需要 2 cores,剩余 1" in r.err, r.err  # in the language asked for
    assert fake.servers() == []


def test_failed_apply_is_rolled_back_exit_1_or_kept_exit_3(
    cli: Any, fake: FakeCloud, project: Path, tmp_path: Path
) -> None:
    root = ["--project-root", str(project)]
    fake.error_on_build["web-02"] = "No valid host was found."
    r = cli(*root, "cloud", "apply", _spec(tmp_path))
    assert r.code == 1 and "rolled back" in r.err and "No valid host" in r.err
    assert fake.servers() == []
    r = cli(*root, "cloud", "apply", "--keep-partial", _spec(tmp_path), "-o", "json")
    assert r.code == 3
    assert json.loads(r.out)["status"] == "partial"
    assert [s.name for s in fake.servers() if s.status == "ACTIVE"] == ["web-01"]


def test_ctrl_c_during_apply_rolls_back_and_names_the_run(
    cli: Any, fake: FakeCloud, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from govops.cloud import batch

    real = batch._Apply.build_all

    def build_then_ctrl_c(self: Any) -> Any:
        real(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(batch._Apply, "build_all", build_then_ctrl_c)
    r = cli("--project-root", str(project), "cloud", "apply", _spec(tmp_path))
    assert r.code == 130, r.err
    assert "Traceback" not in r.err and "rolled back" in r.err and "govops cloud apply" in r.err
    assert fake.servers() == []


def test_prune_needs_confirmation(cli: Any, fake: FakeCloud, project: Path, tmp_path: Path) -> None:
    root = ["--project-root", str(project)]
    assert cli(*root, "cloud", "apply", _spec(tmp_path)).code == 0
    smaller = _spec(tmp_path, SPEC.replace("count: 2", "count: 1"))
    r = cli(*root, "cloud", "plan", smaller)
    assert r.code == 4 and "orphan" in r.out
    r = cli(*root, "cloud", "apply", "--prune", smaller)  # stdin is not a terminal: no silent yes
    assert r.code == 2 and "not confirmed" in r.err
    assert sorted(s.name for s in fake.servers()) == ["web-01", "web-02"]  # nothing changed
    r = cli(*root, "cloud", "apply", "--prune", "--yes", smaller)
    assert r.code == 0, r.err
    assert [s.name for s in fake.servers()] == ["web"]


def test_orphans_json_and_exit_code(cli: Any, fake: FakeCloud, project: Path) -> None:
    prj = fake.find_project("dept-gaj")
    assert prj
    root = ["--project-root", str(project)]
    r = cli(*root, "cloud", "orphans", "--dept", "gaj")
    assert r.code == 0, r.err
    fake.add_volume(prj, 40, "left-over")
    r = cli(*root, "cloud", "orphans", "--dept", "gaj", "-o", "json")
    assert r.code == 3
    data = json.loads(r.out)
    assert data["items"][0]["name"] == "left-over" and data["totals"]["gaj"]["gigabytes"] == 40


def test_stage_progress_shows_a_bar_per_vm_in_flight() -> None:
    import io
    import re

    from govops.cli.terminal import Terminal
    from rich.console import Console

    term = Terminal(color=False)
    buf = io.StringIO()
    term._err = Console(file=buf, force_terminal=True, width=120)
    with term.stage_progress("apply portal") as obs:
        obs.started(2, "apply portal")
        obs.stage("web-01", "building", 0.4)
        obs.stage("web-02", "creating", 0.1)
        assert len(obs._progress.tasks) == 3
        obs.stage("web-01", "active", 1.0)
        obs.advanced("web-01", "created")
        assert [t.description.strip() for t in obs._progress.tasks] == ["apply portal", "web-02"]
        obs.advanced("web-02", "failed", "went to ERROR")
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())
    assert "web-02: failed (went to ERROR)" in out and "2/2, 1 failed" in out
