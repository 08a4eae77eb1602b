"""The extranet lab's pure parts: the seeded plan, the CLI renderer, the SNMP recordings, credentials."""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path

import pytest
from govops.lab.extranet.component import (
    LabSecrets,
    _shards,
    client_conf,
    credential_env,
    credential_fields,
    read_credentials_env,
)
from govops.lab.extranet.plan import (
    FAULT_KINDS,
    DeviceState,
    LoopbackPlan,
    PortPlan,
    assign_faults,
    ensure_netsnmp_device,
    plan_devices,
    truth_entry,
)
from govops.lab.extranet.render import CMW_ERROR, IOS_ERROR, VRP_ERROR, Cli
from govops.lab.extranet.snmpdata import addr_index, records
from govops.network.generate import generate_inventory

pytestmark = pytest.mark.unit
IPV6_DEFAULT_ROUTE = "1.3.6.1.2.1.4.24.7.1.7.2.16." + ".".join(["0"] * 16) + ".0."


def _plan(devices: int = 120, seed: int = 7, faults: float = 0.1) -> list[DeviceState]:
    lp = LoopbackPlan(PortPlan(20000, 20000 + devices))
    inv = generate_inventory(sites=devices, seed=seed, address_plan=lp)
    ensure_netsnmp_device(inv)
    return plan_devices(inv, lp.sites, seed, faults, "audit")


@pytest.fixture(scope="module")
def states() -> list[DeviceState]:
    return _plan()


def _one(states: list[DeviceState], platform: str, **want: object) -> DeviceState:
    for st in states:
        if st.platform == platform and st.fault is None and all(getattr(st, k) == v for k, v in want.items()):
            return st
    pytest.fail(f"no {platform} device with {want} in the plan")


# -- plan ------------------------------------------------------------------------------------------
def test_same_seed_same_lab_other_seed_other_lab() -> None:
    a, b, c = _plan(seed=7), _plan(seed=7), _plan(seed=8)
    assert [s.to_dict() for s in a] == [s.to_dict() for s in b]
    assert [s.to_dict() for s in a] != [s.to_dict() for s in c]


def test_faults_hit_the_share_asked_with_every_kind(states: list[DeviceState]) -> None:
    eligible = [s for s in states if not s.netsnmp]
    kinds = Counter(s.fault.kind for s in states if s.fault)
    assert sum(kinds.values()) == round(0.1 * len(eligible))
    assert set(kinds) == set(FAULT_KINDS)
    assert max(kinds.values()) - min(kinds.values()) <= 1  # spread evenly
    assert not any(s.fault for s in states if s.netsnmp)
    assign_faults(states, 7, 0.0)
    assert not any(s.fault for s in states)
    assign_faults(states, 7, 0.1)  # back to the module's plan


def test_each_lab_has_a_real_snmpd_device_on_ipv6_loopback(states: list[DeviceState]) -> None:
    assert any(s.netsnmp and s.mgmt_ipv6 == "::1" for s in _plan(devices=20, seed=1, faults=0))
    netsnmp = [s for s in states if s.netsnmp]
    assert netsnmp and all(not s.ssh for s in netsnmp)


def test_addresses_and_ports_follow_the_documented_scheme(states: list[DeviceState]) -> None:
    for st in states:
        assert st.ssh_port == 20000 + st.index and st.snmp_port == 20120 + st.index
        if st.mgmt_ipv4:
            assert st.mgmt_ipv4 == f"127.1.{st.index // 250}.{st.index % 250 + 1}"
        assert st.mgmt_ipv6 in (None, "::1")
        assert st.mgmt_ipv4 or st.mgmt_ipv6
    assert any(s.mgmt_ipv4 is None for s in _plan(devices=400, seed=2, faults=0))  # some IPv6-only
    assert any(s.mgmt_ipv6 is None for s in states)  # some IPv4-only


def test_truth_states_the_expected_status_of_each_fault(states: list[DeviceState]) -> None:
    expected = {
        None: "ok",
        "unreachable": "unreachable",
        "slow": "timeout",
        "wrong_credentials": "auth_failed",
        "drop_session": "error",
        "garbage": "parse_error",
        "snmp_timeout": "timeout",
    }
    for st in states:
        if st.netsnmp:
            continue
        entry = truth_entry(st)
        assert entry["expected_status"] == expected[st.fault.kind if st.fault else None]
        assert entry["facts"]["hostname"] == st.hostname
        assert (entry["snmp_facts"] is None) == (st.snmp_view == "same")


def test_a_realistic_share_is_not_ipv6_ready() -> None:
    profiles = Counter(s.ipv6_profile for s in _plan(devices=600, seed=3, faults=0) if not s.netsnmp)
    ready = profiles["ready"] / sum(profiles.values())
    assert 0.5 < ready < 0.9
    assert profiles["no_default_route"] and profiles["uplink_only"] and profiles["none"]


# -- CLI rendering ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("platform", "show", "error", "prompt"),
    [
        ("huawei_vrp", "display", VRP_ERROR, "<{}>"),
        ("hp_comware", "display", CMW_ERROR, "<{}>"),
        ("cisco_ios", "show", IOS_ERROR, "{}#"),
    ],
)
def test_rejected_commands_get_the_platform_error_with_a_caret(
    states: list[DeviceState], platform: str, show: str, error: str, prompt: str
) -> None:
    st = _one(states, platform)
    cli = Cli(st, "audit", "c0mmunity")
    assert cli.prompt == prompt.format(st.hostname)
    r = cli.run(f"{show} ipv6 bogus")
    assert r.error and r.output.endswith(error)
    caret = r.output.split("\n")[0]
    assert caret.index("^") == len(cli.prompt) + len(f"{show} ipv6 ")
    assert cli.run("frobnicate").error
    assert not cli.run(f"{show} version").error
    for weird in ("", "   ", "|", f"{show} version | ", "\t", "display ipv6 routing-table zz 999", "?"):
        cli.run(weird)  # never raises


@pytest.mark.parametrize(
    ("platform", "paging_off"),
    [
        ("huawei_vrp", "screen-length 0 temporary"),
        ("hp_comware", "screen-length disable"),
        ("cisco_ios", "terminal length 0"),
    ],
)
def test_paging_commands_switch_paging_off(states: list[DeviceState], platform: str, paging_off: str) -> None:
    cli = Cli(_one(states, platform), "audit", "c0mmunity")
    assert cli.paging
    assert not cli.run(paging_off).error
    assert not cli.paging


def test_huawei_save_asks_for_confirmation(states: list[DeviceState]) -> None:
    cli = Cli(_one(states, "huawei_vrp"), "audit", "c0mmunity")
    r = cli.run("save")
    assert r.confirm == "save" and "[Y/N]" in r.output
    assert "successfully" in cli.answer("save", "y")
    assert "canceled" in cli.answer("save", "n")


@pytest.mark.parametrize("platform", ["huawei_vrp", "hp_comware", "cisco_ios"])
def test_cli_views_agree_with_the_state(states: list[DeviceState], platform: str) -> None:
    st = _one(states, platform, ipv6_profile="ready")
    cli = Cli(st, "audit", "c0mmunity")
    show = "show" if platform == "cisco_ios" else "display"
    config = cli.run(f"{show} {'running-config' if platform == 'cisco_ios' else 'current-configuration'}").output
    assert st.hostname in config
    lines = {ln.strip() for ln in config.split("\n")}
    assert bool(lines & {"telnet server enable", "transport input ssh telnet"}) == st.telnet
    brief = cli.run(f"{show} ipv6 interface brief").output
    for i in st.interfaces:
        if i.ipv6:
            assert str(ipaddress.IPv6Interface(i.ipv6).ip).upper() in brief
    routes = cli.run(f"{show} ipv6 {'route' if platform == 'cisco_ios' else 'routing-table'}").output
    assert ("::/0" in routes or "Destination  : ::  " in routes or "Destination: ::/0" in routes) == (
        st.ipv6_gateway is not None
    )


# -- SNMP recordings -------------------------------------------------------------------------------
def test_recordings_are_sorted_unique_and_match_the_state(states: list[DeviceState]) -> None:
    for st in states:
        if st.netsnmp:
            continue
        recs = records(st)
        oids = [tuple(map(int, r[0].split("."))) for r in recs]
        assert oids == sorted(oids) and len(set(oids)) == len(oids)
        values = {r[0]: r[2] for r in recs}
        assert values["1.3.6.1.2.1.1.5.0"] == st.hostname
        assert {values[f"1.3.6.1.2.1.2.2.1.2.{i.if_index}"] for i in st.interfaces} == {i.name for i in st.interfaces}
        has_v6_default = any(r[0].startswith(IPV6_DEFAULT_ROUTE) for r in recs)
        assert has_v6_default == (st.ipv6_gateway is not None and st.snmp_view == "same")
        v6_rows = [r for r in recs if r[0].startswith("1.3.6.1.2.1.4.34.1.3.2.")]
        if st.snmp_view == "no_ipv6_mib":
            assert not v6_rows and "1.3.6.1.2.1.4.25.0" not in values
        else:
            want = {addr_index(str(ipaddress.IPv6Interface(i.ipv6).ip)) for i in st.interfaces if i.ipv6}
            want |= {addr_index(i.link_local) for i in st.interfaces if i.link_local}
            assert {r[0][len("1.3.6.1.2.1.4.34.1.3.") :] for r in v6_rows} == want


def test_addr_index_is_type_length_bytes() -> None:
    assert addr_index("10.0.0.1") == "1.4.10.0.0.1"
    assert addr_index("::1") == "2.16." + ".".join(["0"] * 15) + ".1"


# -- credentials and files -------------------------------------------------------------------------
def test_credentials_env_round_trips_and_truth_names_only_variables(tmp_path: Path) -> None:
    s = LabSecrets("p@ss 'quoted'", "comm", "authkey12", "privkey12")
    env = credential_env(s)
    path = tmp_path / "credentials.env"
    path.write_text("# comment\n" + "".join(f"export {k}='{v}'\n" for k, v in env.items() if "'" not in v))
    path.write_text(path.read_text() + "export GOVOPS_CRED_EXTRANET_SSH_PASSWORD='p@ss '\\''quoted'\\'''\n")
    assert read_credentials_env(path) == env
    fields = credential_fields()
    assert fields["extranet-ssh"]["password"] == "GOVOPS_CRED_EXTRANET_SSH_PASSWORD"
    assert set(env) == {v for f in fields.values() for v in f.values()}
    assert s.wrong_password("h1") != s.ssh_password and s.wrong_password("h1") != s.wrong_password("h2")
    conf = client_conf(s)
    assert "defAuthPassphrase authkey12" in conf and "defPrivType AES" in conf


def test_shards_split_evenly(states: list[DeviceState]) -> None:
    assert _shards([]) == []
    assert len(_shards(states)) == 1
    big = states * 20  # 2,400 entries: two processes
    parts = _shards(big)
    assert len(parts) == 2 and abs(len(parts[0]) - len(parts[1])) <= 1
    assert sorted(id(x) for p in parts for x in p) == sorted(id(x) for x in big)


def test_bulk_index_writer_writes_exactly_what_dbm_dumb_writes(tmp_path: Path) -> None:
    import dbm
    import dbm.dumb

    from govops.lab.extranet.snmpagent import BulkDumbWriter

    rows = {f"1.3.6.1.2.1.{i}": f"{i * 37},{i % 2},-1" for i in range(300)} | {"last": "9,0,-1", "ключ": "значение"}
    bulk = BulkDumbWriter(str(tmp_path / "bulk.dbm"))
    with dbm.dumb.open(str(tmp_path / "ref.dbm"), "n") as ref:
        for k, v in rows.items():
            bulk[k] = v
            ref[k] = v
    bulk.close()
    for ext in (".dat", ".dir"):
        assert (tmp_path / f"bulk.dbm{ext}").read_bytes() == (tmp_path / f"ref.dbm{ext}").read_bytes()
    with dbm.open(str(tmp_path / "bulk.dbm")) as db:
        assert db["1.3.6.1.2.1.299"] == b"11063,1,-1" and len(db) == len(rows)


@pytest.mark.parametrize("platform", ["huawei_vrp", "hp_comware", "cisco_ios"])
def test_answers_rendered_before_the_audit_are_what_a_session_renders(states: list[DeviceState], platform: str) -> None:
    from govops.lab.extranet.sshd import Device

    st = _one(states, platform)
    device = Device({"state": st.to_dict(), "community": "c0mmunity"})
    device.warm("audit")
    assert len(device.answers) >= 9  # every query the audit sends, the default-route lookup included
    for (config_mode, line), result in device.answers.items():
        assert not config_mode
        fresh = Cli(st, "audit", "c0mmunity").run(line)  # a session that asks only this
        assert (result.output, result.error, result.confirm) == (fresh.output, fresh.error, fresh.confirm)
