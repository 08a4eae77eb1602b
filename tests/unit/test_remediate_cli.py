"""`govops net remediate` through the CLI in-process: an audit run of the real engine on fakes,
then the dry run and an --apply whose engine (``Ports.remediation_engine``) talks to fake device
sessions; what the terminal shows in both languages and the exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from govops.credentials import Credentials, EnvSource
from govops.network.inventory import Inventory
from govops.network.remediation.engine import RemediationEngine, RemediationSettings

from tests.fakes import FakeAnalyzer, FakeSsh
from tests.unit.test_remediation_engine import ENV, FakeDevice, FakeSession
from tests.unit.test_report_audit import audit, inv  # noqa: F401 - the fixture

pytestmark = pytest.mark.unit


@pytest.fixture
def setup(inv: Inventory, ports: Any) -> tuple[str, list[str], dict[str, FakeDevice]]:  # noqa: F811
    vrp = [d.hostname for d in inv if d.ssh is not None and d.platform == "huawei_vrp"][:3]
    run = audit(inv, not_ready=set(vrp), ssh={})
    devices = {h: FakeDevice() for h in vrp}
    devices[vrp[1]].reject = "ipv6"  # the only line of the ipv6.forwarding fix on VRP
    session = type("S", (FakeSession,), {"devices": devices})

    def engine(app: Any, observer: Any, **settings: Any) -> RemediationEngine:
        return RemediationEngine(
            analyzer=FakeAnalyzer(),
            credentials=Credentials([EnvSource(environ=ENV)]),
            store=app.store,
            collector=FakeSsh(),
            settings=RemediationSettings(workers=2, verify=False),
            observer=observer,
            session_factory=session,
        )

    ports.remediation_engine = engine
    return run, vrp, devices


def test_dry_run_then_apply_in_both_languages(cli: Any, inv: Inventory, setup: Any) -> None:  # noqa: F811
    run, vrp, devices = setup
    where = ("-i", str(inv.root), "--platform", "huawei_vrp", "--rules", "ipv6.forwarding")
    dry = cli("net", "remediate", run, *where)
    assert dry.code == 0, dry.err
    for h in vrp:
        assert f"# {h} (huawei_vrp" in dry.out
    assert "system-view\nipv6\nreturn\nsave" in dry.out
    assert "nothing was sent" in dry.err and all(d.sessions == 0 for d in devices.values())

    no_tty = cli("net", "remediate", run, *where, "--apply")  # stdin is no terminal: nobody to ask
    assert no_tty.code == 2 and "not confirmed: nothing was sent" in no_tty.err
    assert all(d.sessions == 0 for d in devices.values())

    zh = cli("--lang", "zh", "net", "remediate", run, *where, "--apply", "--yes")
    assert zh.code == 3, zh.err  # one device rolled back
    assert "整改 " in zh.out and "已下发" in zh.out and "已回退" in zh.out and "行数" in zh.out
    assert "Traceback" not in zh.err and "台设备" in zh.err
    assert devices[vrp[0]].config == {"hostname x", "ipv6"} and devices[vrp[1]].config == {"hostname x"}

    runs = json.loads(cli("-o", "json", "net", "runs").out)
    assert [r["kind"] for r in runs][:2] == ["remediate", "audit"]
    shown = cli("--lang", "zh", "net", "runs").out
    assert "整改" in shown and "审计" in shown


def test_resume_of_an_audit_run_is_bad_input(cli: Any, inv: Inventory, setup: Any) -> None:  # noqa: F811
    run, _vrp, _devices = setup
    r = cli("net", "remediate", "--resume", run, "-i", str(inv.root))
    assert r.code == 2 and f"run {run} is a net.audit run, not a remediation" in r.err


def test_strict_host_keys_without_the_file_stop_before_the_question(
    cli: Any,
    inv: Inventory,  # noqa: F811
    setup: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run, _vrp, devices = setup
    cfg = tmp_path / "strict.yaml"
    cfg.write_text(
        "version: 1\nnetwork:\n  host_key_policy: strict\n  known_hosts: missing_known_hosts\n", encoding="utf-8"
    )
    monkeypatch.setenv("GOVOPS_CONFIG", str(cfg))
    r = cli("net", "remediate", run, "-i", str(inv.root), "--platform", "huawei_vrp", "--apply", "--yes")
    assert r.code == 2 and "strict" in r.err and "missing_known_hosts" in r.err, r.err
    assert all(d.sessions == 0 for d in devices.values())
