"""The extranet lab for real: netmiko over SSH, net-snmp's snmpwalk over udp/udp6, faults, up/down.

Every expectation comes from the lab's truth.json (the plan), never from the peers themselves, so a
peer that drifts from its plan fails here.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need
from tests.integration.conftest import ExtranetLabInfo

pytestmark = pytest.mark.integration

NETMIKO_TYPE = {"huawei_vrp": "huawei", "hp_comware": "hp_comware", "cisco_ios": "cisco_ios"}
SHOW = {"huawei_vrp": "display", "hp_comware": "display", "cisco_ios": "show"}
REJECT = {
    "huawei_vrp": "Error: Unrecognized command found at '^' position.",
    "hp_comware": "% Unrecognized command found at '^' position.",
    "cisco_ios": "% Invalid input detected at '^' marker.",
}
SYS_NAME = "1.3.6.1.2.1.1.5.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IP_ADDRESS_IFINDEX = "1.3.6.1.2.1.4.34.1.3"
INET_CIDR_ROUTE_IFINDEX = "1.3.6.1.2.1.4.24.7.1.7"


# -- helpers ---------------------------------------------------------------------------------------
def _matches(e: dict[str, Any], key: str, value: Any) -> bool:
    acc = e["access"]
    if key == "platform":
        return bool(e["facts"]["platform"] == value)
    if key == "fault":
        return (e["fault"]["kind"] if e["fault"] else None) == value
    if key == "dual_stack":
        return bool(acc["mgmt_ipv4"] and acc["mgmt_ipv6"]) == value
    if key == "v2c":
        return bool(e["facts"]["snmp_v2c_enabled"]) == value
    if key == "public":
        return bool(e["facts"]["snmp_default_community"]) == value
    return bool(e.get(key) == value)


def _pick(lab: ExtranetLabInfo, **where: Any) -> tuple[str, dict[str, Any]]:
    """The first device matching ``where`` (truth keys, plus dual_stack / v2c / public / platform / fault)."""
    for host, e in lab.truth["devices"].items():
        if all(_matches(e, k, v) for k, v in where.items()):
            return host, e
    pytest.fail(f"the lab has no device with {where}: the plan changed; pick another seed")


def _netmiko(lab: ExtranetLabInfo, entry: dict[str, Any], password: str | None = None, **kw: Any) -> Any:
    need(module="netmiko")
    from netmiko import ConnectHandler

    ssh = entry["access"]["ssh"]
    cred = lab.credentials["extranet-ssh"]
    return ConnectHandler(
        device_type=NETMIKO_TYPE[entry["facts"]["platform"]],
        host=ssh["address"],
        port=ssh["port"],
        username=cred["username"],
        password=password or cred["password"],
        conn_timeout=10,
        **kw,
    )


def _snmp_args(lab: ExtranetLabInfo, version: str, community: str | None = None) -> list[str]:
    if version == "v2c":
        return ["-v2c", "-c", community or lab.credentials["extranet-snmp-community"]["community"]]
    v3 = lab.credentials["extranet-snmpv3"]
    auth = ["-l", "authPriv", "-u", v3["username"], "-a", "SHA", "-A", v3["auth_key"]]
    return ["-v3", *auth, "-x", "AES", "-X", v3["priv_key"]]


def _target(address: str, port: int, transport: str) -> str:
    return f"udp6:[{address}]:{port}" if transport == "udp6" else f"udp:{address}:{port}"


def _snmp(tool: str, args: list[str], target: str, oid: str, timeout: int = 2) -> subprocess.CompletedProcess[str]:
    need(binary=tool)
    return subprocess.run(
        [tool, *args, "-On", "-Oq", "-t", str(timeout), "-r", "1", target, oid],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _walk(lab: ExtranetLabInfo, tool: str, version: str, target: str, oid: str) -> dict[str, str]:
    proc = _snmp(tool, _snmp_args(lab, version), target, oid)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        name, _, value = line.partition(" ")
        out[name.lstrip(".")] = value.strip().strip('"')
    return out


def _addresses_from_index(rows: dict[str, str]) -> set[str]:
    """ipAddressTable indices (type.len.bytes) -> addresses."""
    out = set()
    for oid in rows:
        parts = [int(p) for p in oid[len(IP_ADDRESS_IFINDEX) + 1 :].split(".")]
        kind, length, raw = parts[0], parts[1], bytes(parts[2:])
        assert len(raw) == length
        out.add(str(ipaddress.ip_address(raw)) if kind in (1, 2) else raw.hex())
    return out


def _v6_words(text: str) -> set[str]:
    """Every IPv6 address (without prefix length) in a CLI output, normalised."""
    out = set()
    for word in text.split():
        try:
            out.add(str(ipaddress.IPv6Address(word.split("/")[0])))
        except ValueError:
            continue
    return out


def _truth_addresses(facts: dict[str, Any]) -> tuple[set[str], set[str], set[str]]:
    v4 = {a.split("/")[0] for i in facts["interfaces"] for a in i["ipv4"]}
    v6 = {str(ipaddress.ip_address(a.split("/")[0])) for i in facts["interfaces"] for a in i["ipv6"]}
    ll = {i["ipv6_link_local"] for i in facts["interfaces"] if i["ipv6_link_local"]}
    return v4, v6, ll


# -- SSH: netmiko against each platform ------------------------------------------------------------
@pytest.mark.parametrize("platform", ["huawei_vrp", "hp_comware", "cisco_ios"])
def test_netmiko_prompt_paging_and_replies_match_truth(extranet_lab: ExtranetLabInfo, platform: str) -> None:
    host, entry = _pick(extranet_lab, platform=platform, expected_status="ok", first_login_prompt=False)
    facts = entry["facts"]
    conn = _netmiko(extranet_lab, entry)
    try:
        prompt = conn.find_prompt()
        assert prompt == (f"{host}#" if platform == "cisco_ios" else f"<{host}>")
        show = SHOW[platform]
        # netmiko's session preparation switched paging off: a long output arrives whole.
        config = conn.send_command(f"{show} {'running-config' if platform == 'cisco_ios' else 'current-configuration'}")
        assert "More" not in config
        assert (f"hostname {host}" if platform == "cisco_ios" else f" sysname {host}") in config
        assert config.rstrip().endswith("end" if platform == "cisco_ios" else "return")
        version = conn.send_command(f"{show} version")
        assert facts["os_version"].split()[0] in version
        brief = conn.send_command(f"{show} ipv6 interface brief")
        _, v6, _ = _truth_addresses(facts)
        assert v6 <= _v6_words(brief), brief
        routes = conn.send_command(f"{show} ipv6 {'route' if platform == 'cisco_ios' else 'routing-table'}")
        has_default = (
            ("::/0" in routes) if platform == "cisco_ios" else ("Destination: ::/0" in routes or " :: " in routes)
        )
        assert has_default == facts["ipv6_default_route"]
        rejected = conn.send_command(f"{show} ipv6 interfaces-that-do-not-exist")
        assert REJECT[platform] in rejected
        assert "^" in rejected
    finally:
        conn.disconnect()


MORE = {"huawei_vrp": "  ---- More ----", "hp_comware": "---- More ----", "cisco_ios": " --More-- "}
PAGING_OFF = {
    "huawei_vrp": "screen-length 0 temporary",
    "hp_comware": "screen-length disable",
    "cisco_ios": "terminal length 0",
}


@pytest.mark.parametrize("platform", ["huawei_vrp", "hp_comware", "cisco_ios"])
def test_long_output_pages_until_paging_is_switched_off(extranet_lab: ExtranetLabInfo, platform: str) -> None:
    host, entry = _pick(extranet_lab, platform=platform, expected_status="ok", first_login_prompt=False)
    prompt = f"{host}#" if platform == "cisco_ios" else f"<{host}>"
    config = "show running-config" if platform == "cisco_ios" else "display current-configuration"
    client, chan = _shell(extranet_lab, entry)
    try:
        assert prompt in _read_until(chan, prompt, 5)
        chan.send(config + "\r")
        assert _read_until(chan, MORE[platform], 5).endswith(MORE[platform])
        chan.send("q")
        assert _read_until(chan, prompt, 5).endswith(prompt)
        chan.send(PAGING_OFF[platform] + "\r")
        _read_until(chan, prompt, 5)
        chan.send(config + "\r")
        whole = _read_until(chan, "\r\n" + prompt, 5)
        assert MORE[platform].strip() not in whole
        assert whole.rstrip().endswith(prompt)
    finally:
        client.close()


def _shell(lab: ExtranetLabInfo, entry: dict[str, Any]) -> tuple[Any, Any]:
    """A raw interactive SSH shell (paramiko), for what netmiko's session setup would hide."""
    need(module="paramiko")
    import paramiko

    ssh = entry["access"]["ssh"]
    cred = lab.credentials["extranet-ssh"]
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # the lab's own host key
    client.connect(
        ssh["address"], ssh["port"], cred["username"], cred["password"], look_for_keys=False, allow_agent=False
    )
    chan = client.invoke_shell()
    chan.settimeout(3)
    return client, chan


def test_huawei_initial_password_prompt_is_handled(extranet_lab: ExtranetLabInfo) -> None:
    host, entry = _pick(extranet_lab, platform="huawei_vrp", expected_status="ok", first_login_prompt=True)
    conn = _netmiko(extranet_lab, entry)
    try:
        assert conn.find_prompt() == f"<{host}>"
        assert host in conn.send_command("display current-configuration | include sysname")
    finally:
        conn.disconnect()


@pytest.mark.parametrize(
    ("platform", "first_login_prompt"),
    [("huawei_vrp", False), ("huawei_vrp", True), ("hp_comware", False), ("cisco_ios", False)],
)
def test_the_audit_collector_reads_what_netmiko_reads(
    extranet_lab: ExtranetLabInfo, platform: str, first_login_prompt: bool
) -> None:
    """The collector's own prompt finding and reads against netmiko's session_preparation and send_command."""
    from govops.credentials import Credential, Secret
    from govops.network.collectors.base import SshTarget
    from govops.network.collectors.ssh import NetmikoCollector
    from govops.network.parsers import commands_for

    host, entry = _pick(extranet_lab, platform=platform, expected_status="ok", first_login_prompt=first_login_prompt)
    ssh, cred = entry["access"]["ssh"], extranet_lab.credentials["extranet-ssh"]
    target = SshTarget(host, ssh["address"], ssh["port"], platform, NETMIKO_TYPE[platform], 10)
    credential = Credential("ssh", "env", username=cred["username"], password=Secret(cred["password"]))
    commands = commands_for(platform)
    ours = NetmikoCollector().collect(target, credential, commands, time.monotonic() + 60)
    conn = _netmiko(extranet_lab, entry)
    try:
        assert ours.prompt == conn.base_prompt
        for command in commands:
            theirs = conn.send_command(command, strip_prompt=False, strip_command=False, read_timeout=20)
            assert ours.outputs[command].strip() == theirs.strip(), command
    finally:
        conn.disconnect()


def test_huawei_save_asks_yes_no(extranet_lab: ExtranetLabInfo) -> None:
    host, entry = _pick(extranet_lab, platform="huawei_vrp", expected_status="ok", first_login_prompt=False)
    conn = _netmiko(extranet_lab, entry)
    try:
        out = conn.save_config()
        assert "[Y/N]" in out
        assert "saved successfully" in out
        assert conn.find_prompt() == f"<{host}>"
    finally:
        conn.disconnect()


# -- SNMP: net-snmp CLI, v2c and v3, udp and udp6 ---------------------------------------------------
@pytest.mark.parametrize("tool", ["snmpwalk", "snmpbulkwalk"])
@pytest.mark.parametrize("version", ["v2c", "v3"])
@pytest.mark.parametrize("transport", ["udp", "udp6"])
def test_snmp_walk_matches_truth_and_ssh_view(
    extranet_lab: ExtranetLabInfo, tool: str, version: str, transport: str
) -> None:
    where: dict[str, Any] = {"expected_status": "ok", "dual_stack": True, "source": "plan", "snmp_view": "same"}
    if version == "v2c":
        where["v2c"] = True
    host, entry = _pick(extranet_lab, **where)
    acc = entry["access"]
    address = acc["mgmt_ipv6"] if transport == "udp6" else acc["mgmt_ipv4"]
    target = _target(address, acc["snmp"]["port"], transport)
    facts = entry["facts"]
    assert _walk(extranet_lab, tool, version, target, SYS_NAME) == {SYS_NAME: host}
    names = set(_walk(extranet_lab, tool, version, target, IF_DESCR).values())
    assert names == {i["name"] for i in facts["interfaces"]}
    got = _addresses_from_index(_walk(extranet_lab, tool, version, target, IP_ADDRESS_IFINDEX))
    v4, v6, ll = _truth_addresses(facts)
    assert got == v4 | v6 | ll
    routes = _walk(extranet_lab, tool, version, target, INET_CIDR_ROUTE_IFINDEX)
    v6_default = any(k.startswith(f"{INET_CIDR_ROUTE_IFINDEX}.2.16.{'.'.join(['0'] * 16)}.0.") for k in routes)
    assert v6_default == facts["ipv6_default_route"]
    # The SSH view of the same device shows the same global IPv6 addresses.
    if version == "v3" and transport == "udp6" and tool == "snmpbulkwalk":
        conn = _netmiko(extranet_lab, entry)
        try:
            brief = conn.send_command(f"{SHOW[facts['platform']]} ipv6 interface brief")
        finally:
            conn.disconnect()
        assert {a for a in got if ":" in a and not a.startswith("fe80")} <= _v6_words(brief)


def test_snmp_only_v3_device_ignores_v2c(extranet_lab: ExtranetLabInfo) -> None:
    _, entry = _pick(extranet_lab, expected_status="ok", v2c=False, source="plan")
    acc = entry["access"]["snmp"]
    target = _target(acc["address"], acc["port"], "udp6" if ":" in acc["address"] else "udp")
    proc = _snmp("snmpget", _snmp_args(extranet_lab, "v2c"), target, SYS_NAME, timeout=1)
    assert proc.returncode != 0
    assert "Timeout" in proc.stderr


def test_public_community_answers_only_where_configured(extranet_lab: ExtranetLabInfo) -> None:
    host, entry = _pick(extranet_lab, expected_status="ok", public=True, source="plan")
    acc = entry["access"]["snmp"]
    target = _target(acc["address"], acc["port"], "udp6" if ":" in acc["address"] else "udp")
    proc = _snmp("snmpget", _snmp_args(extranet_lab, "v2c", "public"), target, SYS_NAME)
    assert proc.returncode == 0 and host in proc.stdout, proc.stderr
    _, other = _pick(extranet_lab, expected_status="ok", public=False, v2c=True, source="plan")
    acc = other["access"]["snmp"]
    target = _target(acc["address"], acc["port"], "udp6" if ":" in acc["address"] else "udp")
    assert _snmp("snmpget", _snmp_args(extranet_lab, "v2c", "public"), target, SYS_NAME, timeout=1).returncode != 0


@pytest.mark.parametrize("version", ["v2c", "v3"])
def test_real_snmpd_device_on_ipv6_loopback(extranet_lab: ExtranetLabInfo, version: str) -> None:
    host, entry = _pick(extranet_lab, source="snmpd-readback")
    acc = entry["access"]
    assert acc["mgmt_ipv6"] == "::1"
    target = _target("::1", acc["snmp"]["port"], "udp6")
    assert _walk(extranet_lab, "snmpbulkwalk", version, target, SYS_NAME) == {SYS_NAME: host}
    got = _addresses_from_index(_walk(extranet_lab, "snmpbulkwalk", version, target, IP_ADDRESS_IFINDEX))
    v4, v6, _ = _truth_addresses(entry["facts"])
    assert v4 | v6 <= got
    forwarding = _walk(extranet_lab, "snmpget", version, target, "1.3.6.1.2.1.4.25.0")
    assert forwarding["1.3.6.1.2.1.4.25.0"] == ("1" if entry["facts"]["ipv6_forwarding"] else "2")


# -- faults ----------------------------------------------------------------------------------------
def test_fault_wrong_credentials_is_an_auth_failure(extranet_lab: ExtranetLabInfo) -> None:
    need(module="netmiko")
    from netmiko.exceptions import NetmikoAuthenticationException

    _, entry = _pick(extranet_lab, fault="wrong_credentials")
    assert entry["expected_status"] == "auth_failed"
    with pytest.raises(NetmikoAuthenticationException):
        _netmiko(extranet_lab, entry)


def test_fault_unreachable_refuses_ssh_and_ignores_snmp(extranet_lab: ExtranetLabInfo) -> None:
    _, entry = _pick(extranet_lab, fault="unreachable")
    ssh = entry["access"]["ssh"]
    family = socket.AF_INET6 if ":" in ssh["address"] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        assert s.connect_ex((ssh["address"], ssh["port"])) != 0  # refused: nothing listens
    acc = entry["access"]["snmp"]
    target = _target(acc["address"], acc["port"], "udp6" if ":" in acc["address"] else "udp")
    assert _snmp("snmpget", _snmp_args(extranet_lab, "v3"), target, SYS_NAME, timeout=1).returncode != 0


def test_fault_snmp_timeout_keeps_ssh_working(extranet_lab: ExtranetLabInfo) -> None:
    host, entry = _pick(extranet_lab, fault="snmp_timeout")
    acc = entry["access"]["snmp"]
    target = _target(acc["address"], acc["port"], "udp6" if ":" in acc["address"] else "udp")
    proc = _snmp("snmpget", _snmp_args(extranet_lab, "v3"), target, SYS_NAME, timeout=1)
    assert proc.returncode != 0 and "Timeout" in proc.stderr
    conn = _netmiko(extranet_lab, entry)
    try:
        assert host in conn.find_prompt()
    finally:
        conn.disconnect()


def test_fault_garbage_output(extranet_lab: ExtranetLabInfo) -> None:
    host, entry = _pick(extranet_lab, fault="garbage")
    conn = _netmiko(extranet_lab, entry)
    try:
        out = conn.send_command(f"{SHOW[entry['facts']['platform']]} version")
        assert out.strip()
        assert entry["facts"]["os_version"].split()[0] not in out
        assert host in conn.find_prompt()  # the session itself stays usable
    finally:
        conn.disconnect()


def test_fault_drop_session_mid_command(extranet_lab: ExtranetLabInfo) -> None:
    _, entry = _pick(extranet_lab, fault="drop_session")
    # The first query drops the session; netmiko's paging setup is not a query, so it connects.
    conn = _netmiko(extranet_lab, entry)
    try:
        with pytest.raises((OSError, EOFError, Exception)):
            conn.send_command(f"{SHOW[entry['facts']['platform']]} current-configuration", read_timeout=10)
        assert not conn.is_alive()
    finally:
        conn.disconnect()


def test_fault_slow_device_replies_late(extranet_lab: ExtranetLabInfo) -> None:
    host, entry = _pick(extranet_lab, fault="slow")
    assert entry["fault"]["delay_s"] >= 10
    client, chan = _shell(extranet_lab, entry)
    try:
        banner = _read_until(chan, host, 5)
        assert host in banner  # login itself is quick
        chan.send(f"{SHOW[entry['facts']['platform']]} version\n")
        t0 = time.monotonic()
        late = _read_until(chan, "Copyright", 3)
        assert "Copyright" not in late and time.monotonic() - t0 >= 2.5
    finally:
        client.close()


def _read_until(chan: Any, text: str, seconds: float) -> str:
    buf = ""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and text not in buf:
        if chan.recv_ready():
            buf += chan.recv(65535).decode(errors="replace")
        else:
            time.sleep(0.05)
    return buf


def test_faults_spread_over_the_lab(extranet_lab: ExtranetLabInfo) -> None:
    faults = [e["fault"]["kind"] for e in extranet_lab.truth["devices"].values() if e["fault"]]
    eligible = [e for e in extranet_lab.truth["devices"].values() if e["source"] == "plan"]
    assert len(faults) == round(0.10 * len(eligible))
    assert set(faults) == {"unreachable", "slow", "wrong_credentials", "drop_session", "garbage", "snmp_timeout"}


# -- lifecycle: up twice, status, env, down -------------------------------------------------------
def _listening(ports: list[str]) -> list[str]:
    """Which of ``tcp:ADDR:PORT`` / ``udp:ADDR:PORT`` still have a socket bound."""
    busy = []
    for spec in ports:
        proto, rest = spec.split(":", 1)
        addr, port = rest.rsplit(":", 1)
        addr = addr.strip("[]")
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        with socket.socket(family, kind) as s:
            try:
                s.bind((addr, int(port)))
            except OSError:
                busy.append(spec)
    return busy


def test_up_twice_no_twins_then_down_leaves_nothing(tmp_path: Path, cli: Any) -> None:
    need(module="asyncssh")
    need(module="snmpsim")
    need(binary="snmpd")
    lab_dir = tmp_path / "lab"
    args = ["lab", "up", "--extranet", "--devices", "12", "--seed", "5", "--dir", str(lab_dir)]
    try:
        r = cli(*args)
        assert r.code == 0, r.err
        pids1 = {p.name: json.loads(p.read_text()) for p in (lab_dir / "pids").glob("*.json")}
        assert {n.split("-")[1] for n in pids1} == {"sshd", "snmpsim", "snmpd"}
        r = cli(*args)
        assert r.code == 0, r.err
        pids2 = {p.name: json.loads(p.read_text()) for p in (lab_dir / "pids").glob("*.json")}
        assert {n: p["pid"] for n, p in pids2.items()} == {n: p["pid"] for n, p in pids1.items()}
        r = cli("lab", "status", "--dir", str(lab_dir))
        assert r.code == 0, r.out + r.err
        assert r.out.count(" up ") >= len(pids1)
        r = cli("lab", "env", "--dir", str(lab_dir))
        assert "GOVOPS_CRED_EXTRANET_SSH_PASSWORD=" in r.out and "GOVOPS_CONFIG=" in r.out
        config = (lab_dir / "govops.yaml").read_text()
        assert "password" not in config.lower()
        for secret_file in ("credentials.env", "lab.json", "extranet/sshd-0.json", "extranet/secrets.json"):
            assert (lab_dir / secret_file).stat().st_mode & 0o077 == 0, secret_file
        # Other options: the old peers go, new ones come (still one of each, never both).
        truth1 = json.loads((lab_dir / "truth.json").read_text())
        r = cli("lab", "up", "--extranet", "--devices", "14", "--seed", "6", "--dir", str(lab_dir))
        assert r.code == 0, r.err
        pids3 = {p.name: json.loads(p.read_text()) for p in (lab_dir / "pids").glob("*.json")}
        assert not {p["pid"] for p in pids3.values()} & {p["pid"] for p in pids1.values()}
        assert all(not Path(f"/proc/{p['pid']}").exists() or _zombie_or_other(p) for p in pids1.values())
        truth3 = json.loads((lab_dir / "truth.json").read_text())
        assert len(truth3["devices"]) == 14 and truth3["devices"] != truth1["devices"]
        pids1.update(pids3)
    finally:
        r = cli("lab", "down", "--dir", str(lab_dir))
    assert r.code == 0, r.err
    assert not list((lab_dir / "pids").glob("*.json"))
    for rec in pids1.values():
        assert not Path(f"/proc/{rec['pid']}").exists() or _zombie_or_other(rec)
    ports = [p for rec in pids1.values() for p in rec["ports"]]
    assert ports
    assert _listening(ports) == []
    r = cli("lab", "status", "--dir", str(lab_dir))
    assert r.code == 3


def _zombie_or_other(rec: dict[str, Any]) -> bool:
    """A PID that exists again belongs to another process (reused), never to our stopped peer."""
    try:
        stat = Path(f"/proc/{rec['pid']}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[19] != rec["started"]


def test_a_port_taken_after_the_check_makes_up_retry_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need(module="asyncssh")
    need(module="snmpsim")
    need(binary="snmpd")
    from govops.lab import processes
    from govops.lab.core import Lab, LabOptions
    from govops.lab.extranet import component
    from govops.lab.extranet.plan import PortPlan
    from govops.observer import RecordingObserver

    from tests.conftest import REPO

    base = processes.free_port("127.1.0.1")
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.1.0.1", base))  # device 0's SSH port, taken "by another lab"
    blocker.listen()
    real = component._pick_ports
    picks: list[PortPlan] = []

    def pick(n: int, previous: PortPlan | None) -> PortPlan:
        plan = PortPlan(base, base + 1000) if not picks else real(n, None)
        picks.append(plan)
        return plan

    monkeypatch.setattr(component, "_pick_ports", pick)
    lab = Lab(tmp_path / "lab", REPO)
    obs = RecordingObserver()
    try:
        lab.up(["extranet"], LabOptions(devices=8, seed=2), obs)
        assert len(picks) == 2
        assert any("retrying on other ports" in e[-1] for e in obs.events)
        truth = json.loads((lab.dir / "truth.json").read_text())
        assert all(e["access"]["ssh"]["port"] != base for e in truth["devices"].values() if e["access"]["ssh"])
    finally:
        lab.down()
        blocker.close()
