"""``--lang zh``: no table shows an English word that is neither data (it is in the command's
``-o json`` output too) nor on the allow-list of names Chinese operators use as they are."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
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


# -- error paths: what services raise reaches a --lang zh user in Chinese ------------------------------
# Values from outside stay as they are: paths and names (the command's arguments and files), the
# text an SDK or the OS gives (in parentheses, as every message puts a reason), option names, config
# keys and commands quoted in backticks.
PARENTHESES = re.compile(r"\([^()\uff08\uff09]*\)|\uff08[^()\uff08\uff09]*\uff09")  # ASCII or full-width
OUTSIDE = re.compile(
    r"|`[^`]*`"  # a command to run
    r"|'[^']*'"  # a value the user gave
    r"|https?://\S+"  # a URL
    r"|--?[A-Za-z][\w-]*"  # an option
    r"|\$?\b[\w-]+(?:[._/:][\w-]+)+\b"  # config keys, file names, dotted paths (prometheus.url, sites.yaml)
)
ERROR_WORDS_ALLOWED = ALLOWED | {"HTTP", "URL", "YAML", "JSON", "PostgreSQL", "SQLite", "vault", "flavor", "cores"}


def _english_error(r: Any, *known: str) -> set[str]:
    """English words of a failed command's stderr that are neither data nor on the allow-list."""
    text = r.err
    for k in known:
        text = text.replace(k, " ")
    while PARENTHESES.search(text):  # innermost first: an SDK's reason may nest its own
        text = PARENTHESES.sub(" ", text)
    text = OUTSIDE.sub(" ", text)
    return {w for w in WORD.findall(text) if w not in ERROR_WORDS_ALLOWED and len(w) > 1}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_errors_raised_by_services_speak_chinese(cli: Any, fake: FakeCloud, project: Path, tmp_path: Path) -> None:
    root = ("--project-root", str(project), "--lang", "zh")
    known = (str(tmp_path), str(project))

    # a missing config file (core/config.py)
    r = cli(*root, "--config", str(tmp_path / "nope.yaml"), "net", "inventory", "validate")
    assert r.code == 2 and "找不到配置文件" in r.err, r.err
    assert _english_error(r, *known) == set(), r.err

    # an inventory with a problem in every phase (network/inventory.py, core/yamlio.py, validation)
    inv = tmp_path / "inv"
    _write(
        inv / "sites.yaml",
        "sites:\n  city: {name: 市, level: city}\n  jb: {name: 江北, level: county, parent: nowhere}\n"
        "  v1: {name: 村, level: village}\n  x1: {name: X, level: planet, parent: city}\n",
    )
    _write(
        inv / "devices.yaml",
        "devices:\n  a1: {site: city, mgmt_ipv4: 10.0.0.1, ssh_profile: none}\n"
        "  a2: {site: city, mgmt_ipv4: 10.0.0.1, ssh_profile: none}\n  a3: {site: mars, colour: red}\n"
        "  a3: {site: city}\n  a4: {site: city, ssh_profile: none}\n",
    )
    r = cli(*root, "net", "inventory", "validate", "-i", str(inv))
    assert r.code == 2, r.err
    for zh in ("未知上级站点", "已被", "键 'a3' 重复", "未知的键", "须有 mgmt_ipv4"):
        assert zh in r.err, (zh, r.err)
    assert _english_error(r, *known) == set(), r.err
    r = cli(*root, "net", "inventory", "validate", "-i", str(tmp_path / "no-such-folder"))
    assert r.code == 2 and "找不到清单文件夹" in r.err and "提示" in r.err, r.err
    assert _english_error(r, *known) == set(), r.err

    # an unknown department (core/departments.py), with its hint
    r = cli(*root, "cloud", "quota", "show", "nosuch")
    assert r.code == 2 and "未知部门" in r.err, r.err
    assert _english_error(r, *known) == set(), r.err

    # a bad spec file (cloud/spec.py) and a malformed one (core/yamlio.py)
    spec = _write(
        tmp_path / "bad.yaml",
        "department: 公安局\nname: portal\ncolour: red\ndefaults: {image: cirros, networks: [net1]}\n"
        "vms:\n  - name: web\n    count: -1\n    flavor: [a]\n  - name: web\n",
    )
    r = cli(*root, "cloud", "plan", str(spec))
    assert r.code == 2 and "不能小于 1" in r.err and "必须是文本" in r.err and "未知的键" in r.err, r.err
    assert _english_error(r, *known) == set(), r.err
    spec = _write(
        tmp_path / "twice.yaml",
        "department: 公安局\nname: portal\ndefaults: {image: cirros, networks: [net1]}\n"
        "vms:\n  - name: web\n  - name: web\n",
    )
    r = cli(*root, "cloud", "plan", str(spec))
    assert r.code == 2 and "虚拟机组 'web' 重复" in r.err and "没有 flavor" in r.err, r.err
    assert _english_error(r, *known) == set(), r.err
    r = cli(*root, "cloud", "plan", str(_write(tmp_path / "broken.yaml", "vms: [\n")))
    assert r.code == 2 and "YAML 格式错误" in r.err, r.err
    # the parser's own description stays English (outside text), the sentence around it is ours
    assert _english_error(r, *known, "expected the node content, but found", "while parsing a flow") == set()


def test_unreachable_prometheus_and_openstack_speak_chinese(cli: Any, project: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clouds = _write(
        tmp_path / "clouds.yaml",
        f"clouds:\n  down:\n    auth:\n      auth_url: http://127.0.0.1:{port}/v3\n      username: u\n"
        "      password: p\n      project_name: admin\n      user_domain_name: Default\n"
        "      project_domain_name: Default\n    region_name: RegionOne\n",
    )
    prometheus_only = _write(project / "govops.yaml", f"prometheus: {{url: 'http://127.0.0.1:{port}', timeout: 2}}\n")
    config = _write(project / "cloud.yaml", f"cloud: {{name: down, clouds_file: '{clouds}'}}\n")
    root = ("--project-root", str(project), "--config", str(config), "--lang", "zh")
    known = (str(tmp_path), str(project), f"127.0.0.1:{port}")

    r = cli("--project-root", str(project), "--config", str(prometheus_only), "--lang", "zh", "capacity", "snapshot")
    assert r.code == 1 and "无法连接" in r.err and "Prometheus 是否在运行" in r.err, r.err
    assert _english_error(r, *known) == set(), r.err

    r = cli(*root, "cloud", "quota", "show", "gaj")
    assert r.code == 1 and "无法连接" in r.err and "请检查 auth_url" in r.err, r.err
    assert _english_error(r, *known) == set(), r.err

    # the same failures in English keep their English text
    r = cli("--project-root", str(project), "--config", str(config), "--lang", "en", "cloud", "quota", "show", "gaj")
    assert r.code == 1 and "cannot connect" in r.err and "check the auth_url" in r.err, r.err


def test_play_run_speaks_chinese(cli: Any, ports: Ports, tmp_path: Path) -> None:
    """`play run`'s recap title, host statuses and result line were English under --lang zh."""
    from tests.fakes_automation import FakeRunner
    from tests.unit.test_play import INVENTORY, PLAYBOOK

    runner = FakeRunner()
    ports.runner = runner
    pb = _write(tmp_path / "playbooks" / "configure.yml", PLAYBOOK)
    inv = _write(tmp_path / "hosts.yml", INVENTORY)
    args = ("play", "run", str(pb), "-i", str(inv))
    r = cli("--lang", "zh", *args)
    assert r.code == 0 and "已变更" in r.out + r.err, r.out + r.err
    runner.fail["web-02"] = ("configure", "disk full")
    r = cli("--lang", "zh", *args)
    assert r.code == 3 and "失败" in r.out, r.out
    data = json.dumps(json.loads(cli("--lang", "zh", *args, "-o", "json").out))
    words = {w for w in WORD.findall(OUTSIDE.sub(" ", r.out + r.err)) if w not in ERROR_WORDS_ALLOWED and len(w) > 1}
    # host names, the task and its message are data (they are in the json output too)
    assert {w for w in words if w not in data} == set(), r.out + r.err
    r = cli("--lang", "en", *args)
    assert "PLAY RECAP" in r.out and "failed" in r.out, r.out


def test_cloud_apply_and_vm_messages_speak_chinese(cli: Any, fake: FakeCloud, project: Path, tmp_path: Path) -> None:
    spec = _write(
        tmp_path / "portal.yaml",
        "department: 公安局\nname: portal\ndefaults: {flavor: m1.small, image: cirros, networks: [net1]}\n"
        "vms:\n  - name: web\n    count: 1\n",
    )
    root = ("--project-root", str(project), "--lang", "zh")
    known = (str(tmp_path), str(project))
    r = cli(*root, "cloud", "apply", str(spec))
    assert r.code == 0, r.err
    r = cli(*root, "cloud", "apply", str(spec))  # nothing to do
    assert r.code == 0 and _english_error(r, *known) == set(), r.err
    server = fake.servers()[0]
    r = cli(*root, "cloud", "vm", "delete", "--dept", "gaj", server.name, "--yes")
    assert r.code == 0 and "已删除" in r.out + r.err, r.out + r.err
    assert _english_error(r, *known, server.name, server.id) == set(), r.err


# -- notes and progress: what a service says on the way reaches a --lang zh user in Chinese ---------------
def _capacity_on_fakes(project: Path, ports: Ports, monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    """`capacity`/`report capacity` on FakeMetrics: Prometheus has every department's series but ``missing``'s."""
    from govops.departments import load_departments

    from tests.fakes_metrics import FakeMetrics
    from tests.unit.test_capacity import limits

    _write(project / "govops.yaml", "version: 1\nprometheus:\n  url: http://127.0.0.1:9\n")
    monkeypatch.setenv("GOVOPS_CONFIG", str(project / "govops.yaml"))
    monkeypatch.setenv("GOVOPS_HOME", str(project))
    metrics = FakeMetrics()
    for d in load_departments(project / "inventories" / "departments.yaml"):
        if d.code != missing:
            metrics.add(d.code, limits=limits())
    ports.metrics = metrics


def test_capacity_warnings_speak_chinese(
    cli: Any, ports: Ports, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's notes ("no usage data in the window for: …") were English under --lang zh, in the
    terminal and in the report; -o json keeps them in English."""
    _capacity_on_fakes(project, ports, monkeypatch, missing="wjw")
    at = ("--at", "2026-12-02")
    r = cli("--lang", "zh", "capacity", "show", *at)
    assert r.code in (0, 3), r.err
    notes = [line for line in r.err.splitlines() if line.startswith("警告")]
    assert notes and any("时间窗口内没有以下部门的使用量数据:wjw" in n for n in notes), r.err
    assert _english_error(SimpleNamespace(err="\n".join(notes)), "wjw") == set(), notes
    doc = json.loads(cli("--lang", "zh", "capacity", "show", *at, "-o", "json").out)
    assert "no usage data in the window for: wjw" in doc["warnings"], doc["warnings"]

    out = tmp_path / "capacity.md"
    r = cli("--lang", "zh", "report", "capacity", *at, "--out", str(out))
    assert r.code == 0, r.err
    report = out.read_text(encoding="utf-8")
    assert "时间窗口内没有以下部门的使用量数据:wjw" in report and "no usage data" not in report


def test_progress_messages_and_labels_speak_chinese(cli: Any, fake: FakeCloud, project: Path) -> None:
    """What a service reports while it works (a retry, the bar's label) was English under --lang zh."""
    from govops.cloud.ports import RateLimited

    fake.faults["create_server"] = [RateLimited("Rate limit exceeded", retry_after=0.0, status=429)]
    args = ("--project-root", str(project), "cloud", "vm", "create", "--dept", "gaj", "--name", "web-1")
    args += ("--flavor", "m1.small", "--image", "cirros", "--network", "net1")
    r = cli("--lang", "zh", *args)
    assert r.code == 0 and "web-1:被限流,0 秒后重试" in r.err, r.err
    assert "rate limited" not in r.err, r.err

    # the live bar: the label the service gives replaces the command's own, in the user's language
    import io

    from govops.capacity.headroom import HeadroomService
    from govops.cli.terminal import Terminal
    from govops.i18n import Msg, Translator
    from rich.console import Console

    term = Terminal(color=False, translator=Translator("zh"))
    buf = io.StringIO()
    term._err = Console(file=buf, force_terminal=True, width=120)
    with term.progress(Msg("progress.capacity")) as obs:
        HeadroomService(None, None, obs).headroom(1796169600.0)
    assert "云剩余容量" in buf.getvalue() and "cloud headroom" not in buf.getvalue(), buf.getvalue()

    # a batch's bar: the failed count and a failed VM's status (its detail is what the cloud said)
    term._err = Console(file=(buf := io.StringIO()), force_terminal=True, width=120)
    with term.stage_progress(Msg("progress.apply.spec", spec="portal")) as stages:
        stages.started(2, Msg("progress.apply", spec="portal", dept="gaj"))
        stages.advanced("web-01", "created")
        stages.advanced("web-02", "failed", "went to ERROR")
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())
    assert "应用 portal" in shown and "web-02: 失败 (went to ERROR)" in shown and "1 个失败" in shown, shown
