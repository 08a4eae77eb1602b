"""``--lang zh``: no table shows an English word that is neither data (it is in the command's
``-o json`` output too) nor on the allow-list of names Chinese operators use as they are."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from govops.cli.application import Ports

from tests.fakes_cloud import FakeCloud, cli_on_fake_cloud
from tests.unit.test_net_runs import audits  # noqa: F401 - the fixture

ALLOWED = {"IPv6", "IPv4", "OK", "ID", "IP", "vCPU", "MiB", "GiB", "SSH", "SNMP", "Mgmt", "Prometheus", "OpenStack"}
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*[A-Za-z0-9]|[A-Za-z]")


def _english(cli: Any, *args: str, known: str = "") -> set[str]:
    """English words of the table that are not data: not in the json output, the arguments (run
    IDs, paths) or ``known`` (folders the command names)."""
    table = cli("--lang", "zh", *args)
    assert table.code in (0, 3, 4), table.err
    data = cli("--lang", "zh", *args, "-o", "json").out
    data += json.dumps(json.loads(data), ensure_ascii=False) + " ".join(args) + known
    return {w for w in WORD.findall(table.out) if w not in data and w not in ALLOWED and len(w) > 1}


@pytest.fixture
def fake(ports: Ports) -> FakeCloud:
    return cli_on_fake_cloud(ports)


def test_net_commands_speak_chinese(cli: Any, audits: Any) -> None:  # noqa: F811 - the fixture
    inv, (first, second) = audits
    inv_dir = str(inv.root)
    for args in (
        ("net", "runs"),
        ("net", "readiness"),
        ("net", "diff", first, second),
        ("net", "inventory", "show", "-i", inv_dir, "--limit", "5"),
        ("net", "inventory", "stats", "-i", inv_dir),
    ):
        assert _english(cli, *args) == set(), args


def test_cloud_and_play_commands_speak_chinese(cli: Any, fake: FakeCloud, project: Path, tmp_path: Path) -> None:
    spec = tmp_path / "portal.yaml"
    spec.write_text(
        "department: 公安局\nname: portal\ndefaults: {flavor: m1.small, image: cirros, networks: [net1]}\n"
        "vms:\n  - name: web\n    count: 2\n",
        encoding="utf-8",
    )
    root = ("--project-root", str(project))
    for args in (
        (*root, "cloud", "dept", "list"),
        (*root, "cloud", "quota", "show"),
        (*root, "cloud", "quota", "show", "gaj"),
        (*root, "cloud", "plan", str(spec)),
        (*root, "cloud", "orphans"),
        (*root, "play", "list"),
    ):
        assert _english(cli, *args, known=str(tmp_path) + str(Path.cwd())) == set(), args


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_tables_fit_80_columns_with_ids_whole(
    cli: Any, fake: FakeCloud, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    from rich.cells import cell_len

    spec = tmp_path / "portal.yaml"
    spec.write_text(
        "department: 公安局\nname: portal\ndefaults: {flavor: m1.small, image: cirros, networks: [net1]}\n"
        "vms:\n  - name: web\n    count: 2\n",
        encoding="utf-8",
    )
    root = ("--project-root", str(project), "--lang", lang)
    assert cli(*root, "cloud", "apply", str(spec)).code == 0
    spec.write_text(spec.read_text(encoding="utf-8").replace("count: 2", "count: 1"), encoding="utf-8")
    monkeypatch.setenv("COLUMNS", "80")
    for args in ((*root, "cloud", "plan", str(spec)), (*root, "cloud", "dept", "list")):
        r = cli(*args)
        assert r.code in (0, 4), r.err
        assert max(cell_len(line) for line in r.out.splitlines()) <= 80, r.out
    ids = [s.id for s in fake.servers()]
    r = cli(*root, "cloud", "plan", str(spec))
    assert all(i in r.out for i in ids), r.out  # server IDs on one line each


def test_errors_and_hints_of_these_commands_speak_chinese(cli: Any, fake: FakeCloud, project: Path) -> None:
    r = cli("--lang", "zh", "net", "readiness")
    assert r.code == 2 and "结果库中没有已完成的审计运行" in r.err and "请先运行" in r.err, r.err
    r = cli("--lang", "zh", "net", "readiness", "--by", "planet")
    assert r.code == 2 and "--by 只能是" in r.err, r.err
    r = cli("--lang", "zh", "play", "run", "x.yml")
    assert r.code == 2 and "须且只须给出一个" in r.err, r.err
