"""The lab devices' configuration mode: each fix line changes the state the next display shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from govops.lab.extranet.plan import (
    DeviceState,
    LoopbackPlan,
    PortPlan,
    assign_config_faults,
    ensure_netsnmp_device,
    plan_devices,
)
from govops.lab.extranet.render import Cli
from govops.network.parsers import parse_cli
from govops.network.remediation.templates import load_fixes, render, variables

pytestmark = pytest.mark.unit
SHOW = {"huawei_vrp": "display current-configuration", "hp_comware": "display current-configuration"}
SHOW["cisco_ios"] = "show running-config"
ENTER = {"huawei_vrp": "system-view", "hp_comware": "system-view", "cisco_ios": "configure terminal"}
LEAVE = {"huawei_vrp": "return", "hp_comware": "return", "cisco_ios": "end"}
DATA = {"ntp_servers": ["10.9.9.9", "2001:db8::99"], "syslog_hosts": ["10.9.9.8"], "login_banner": "Keep out"}


@pytest.fixture(scope="module")
def states() -> list[DeviceState]:
    from govops.network.generate import generate_inventory

    lp = LoopbackPlan(PortPlan(20000, 20200))
    inv = generate_inventory(sites=200, seed=7, address_plan=lp)
    ensure_netsnmp_device(inv)
    return plan_devices(inv, lp.sites, 7, 0.0, "audit")


def _device(states: list[DeviceState], platform: str) -> DeviceState:
    return next(s for s in states if s.platform == platform and s.ipv6_profile == "ready")


def _facts(cli: Cli) -> dict[str, object]:
    outs = {SHOW[cli.st.platform]: cli.run(SHOW[cli.st.platform]).output}
    cfg = parse_cli(cli.st.platform, {**outs, **_rest(cli)})
    return cfg.to_dict()


def _rest(cli: Cli) -> dict[str, str]:
    from govops.network.parsers import command_set

    return {c.cli: cli.run(c.cli).output for c in command_set(cli.st.platform) if not cli.run(c.cli).error}


@pytest.mark.parametrize("platform", ["huawei_vrp", "hp_comware", "cisco_ios"])
def test_every_shipped_fix_and_its_undo_change_what_the_device_shows(states: list[DeviceState], platform: str) -> None:
    st = _device(states, platform)
    st.ipv6_gateway = None
    st.telnet = st.http = True
    st.ssh_v2_only = st.banner = False
    st.ntp_servers, st.syslog_hosts = [], []
    cli = Cli(st, "audit", "c0mmunity")
    before = _facts(cli)
    assert not before["ipv6_default_route"] and before["telnet_enabled"] and not before["login_banner"]
    fixes = load_fixes()
    values = variables(before, DATA, st.hostname)
    applied = []
    assert not cli.run(ENTER[platform]).error
    for rule in ("ipv6.default_route", "baseline.telnet_off", "baseline.http_off", "baseline.ssh_v2_only"):
        applied.append(fixes[rule].platforms[platform])
    for rule in ("baseline.ntp", "baseline.syslog", "baseline.login_banner"):
        applied.append(fixes[rule].platforms[platform])
    for pf in applied:
        for line in render(pf.lines, values):
            r = cli.run(line)
            assert not r.error, (line, r.output)
    assert not cli.run(LEAVE[platform]).error
    after = _facts(cli)
    assert after["ipv6_default_route"] and not after["telnet_enabled"] and not after["http_enabled"]
    assert after["ssh_v2_only"] and after["login_banner"]
    assert "10.9.9.9" in after["ntp_servers"] and "10.9.9.8" in after["syslog_hosts"]
    cli.run(ENTER[platform])
    for pf in reversed(applied):
        for line in render(pf.undo, values):
            assert not cli.run(line).error, line
    cli.run(LEAVE[platform])
    assert _facts(cli) == before  # the undo lines restore exactly what the device showed


@pytest.mark.parametrize(
    ("platform", "line", "error"),
    [
        ("huawei_vrp", "ipv6 route-static :: 0 not-an-address", "Error: Wrong parameter found at '^' position."),
        ("hp_comware", "info-center loghost 999.1.1.1", " % Wrong parameter found at '^' position."),
        ("cisco_ios", "frobnicate the router", "% Invalid input detected at '^' marker."),
    ],
)
def test_malformed_or_unknown_lines_get_the_platform_error(
    states: list[DeviceState], platform: str, line: str, error: str
) -> None:
    cli = Cli(_device(states, platform), "audit", "c0mmunity")
    cli.run(ENTER[platform])
    r = cli.run(line)
    assert r.error and r.output.endswith(error)
    assert "^" in r.output.split("\n")[0]


def test_sub_view_prompts_and_exit(states: list[DeviceState]) -> None:
    st = _device(states, "cisco_ios")
    cli = Cli(st, "audit", "c0mmunity")
    cli.run("configure terminal")
    cli.run("line vty 0 4")
    assert cli.prompt == f"{st.hostname}(config-line)#"
    cli.run("exit")
    assert cli.prompt == f"{st.hostname}(config)#"
    cli.run("end")
    assert cli.prompt == f"{st.hostname}#"
    vrp = Cli(_device(states, "huawei_vrp"), "audit", "c0mmunity")
    vrp.run("system-view")
    vrp.run("user-interface vty 0 4")
    assert vrp.prompt == f"[{vrp.st.hostname}-ui-vty0-4]"


def test_config_faults_only_with_the_option(states: list[DeviceState]) -> None:
    before = {s.hostname: (s.fault, s.telnet) for s in states}
    chosen = assign_config_faults(states, 7)
    assert len(chosen) == 2
    kinds = {s.fault.kind for s in states if s.hostname in chosen and s.fault}
    assert kinds == {"config_reject", "config_drop"}
    for s in states:
        if s.hostname not in chosen:
            assert (s.fault, s.telnet) == before[s.hostname]


def test_the_snmp_agent_answers_from_the_configured_state(
    states: list[DeviceState], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("snmpsim")
    import json

    from govops.lab.extranet import snmpagent
    from govops.lab.extranet.snmpdata import snmprec
    from snmpsim import variation
    from snmpsim.record.snmprec import SnmprecRecord

    st = next(s for s in states if s.platform == "huawei_vrp" and s.ipv6_gateway and s.snmp_view == "same")
    parser = variation.RECORD_TYPES["snmprec"]
    assert isinstance(parser, SnmprecRecord)
    plan_file = tmp_path / "d00001.snmprec"
    plan_file.write_text(snmprec(st), encoding="utf-8")
    planned = snmpagent.StaticRecording.load(str(plan_file), parser)
    live = snmpagent.Live(tmp_path, st.hostname, parser)
    assert live.current(planned) is planned  # nothing configured: the plan's recording
    st.ipv6_gateway = None  # `undo ipv6 route-static :: 0 ...`, mirrored by the sshd
    (tmp_path / f"{st.hostname}.running.json").write_text(json.dumps(st.to_dict()), encoding="utf-8")
    live.checked = 0.0
    fresh = live.current(planned)
    assert fresh is not planned and fresh is not None
    route = "1.3.6.1.2.1.4.24.7.1.7.2.16." + ".".join(["0"] * 16) + ".0."
    assert any(line.startswith(route.encode()) for line in planned._lines)
    assert not any(line.startswith(route.encode()) for line in fresh._lines)
