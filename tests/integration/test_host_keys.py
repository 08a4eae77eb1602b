"""SSH host keys are checked during the key exchange, before any password leaves govops.

Real servers on 127.0.0.1, each started by the test on a free port and stopped by PID:

- the lab's asyncssh device sshd (one device of the extranet lab), with an ``auth_log`` that
  records every login attempt the server sees;
- a real OpenSSH sshd with its own config and host key, at ``LogLevel DEBUG1`` (it logs each
  ``userauth-request``).

Each test connects once with the first host key (pinned, or known), restarts the server on the
same port with another key, connects again through the audit's collector, and asserts the
"host key changed" refusal and that the server saw no authentication attempt at all.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from govops.credentials import Credential, Secret
from govops.network.collectors.base import AuthFailed, HostKeyMismatch, SshTarget
from govops.network.collectors.known_hosts import HostKeyPolicy
from govops.network.collectors.ssh import NetmikoCollector

from tests.conftest import need
from tests.integration.conftest import ExtranetLabInfo

pytestmark = pytest.mark.integration

NETMIKO_TYPE = {"huawei_vrp": "huawei", "hp_comware": "hp_comware", "cisco_ios": "cisco_ios"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
            time.sleep(0.05)
    raise AssertionError(f"server on port {port} not answering; {log.read_text(errors='replace')[-2000:]}")


class Server:
    """A server process started by the test, restartable on the same port with another host key."""

    def __init__(self, start: Callable[[Any], subprocess.Popen[bytes]], port: int, log: Path) -> None:
        self._start = start
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def run(self, key: Path | list[Path]) -> None:
        self.stop()
        self.log.write_text("")
        self.proc = self._start(key)
        _wait_port(self.port, self.proc, self.log)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def lab_device(extranet_lab: ExtranetLabInfo, tmp_path: Path) -> Iterator[tuple[Server, dict[str, Any], list[Path]]]:
    """One device of the extranet lab served by the lab's own sshd on a private port."""
    need(module="asyncssh")
    import asyncssh
    from govops.lab.extranet.plan import DeviceState

    entry = None
    for config in sorted((extranet_lab.dir / "extranet").glob("sshd-*.json")):
        cfg = json.loads(config.read_text())
        for dev in cfg["devices"]:
            st = DeviceState.from_dict(dev["state"])
            if st.platform == "cisco_ios" and st.fault is None and not getattr(st, "first_login_prompt", False):
                entry, username = dev, cfg["username"]
                break
        if entry:
            break
    assert entry is not None, "the lab has no plain cisco_ios device"
    port = _free_port()
    keys = []
    for name in ("key_a", "key_b"):
        key = tmp_path / name
        key.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
        key.chmod(0o600)
        keys.append(key)
    auth_log = tmp_path / "auth.log"

    def start(key: Path) -> subprocess.Popen[bytes]:
        conf = tmp_path / "sshd.json"
        device = {**entry, "listen": ["127.0.0.1"], "port": port}
        conf.write_text(
            json.dumps({"host_key": str(key), "username": username, "devices": [device], "auth_log": str(auth_log)})
        )
        conf.chmod(0o600)
        with open(tmp_path / "sshd.out", "w") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "govops.lab.extranet.sshd", str(conf)], stdout=out, stderr=out
            )

    server = Server(start, port, auth_log)
    try:
        yield (
            server,
            {
                "username": username,
                "password": entry["password"],
                "platform": entry["state"]["platform"],
                "hostname": entry["state"]["hostname"],
            },
            keys,
        )
    finally:
        server.stop()


@pytest.fixture
def openssh(tmp_path: Path) -> Iterator[tuple[Server, list[Path]]]:
    """A real OpenSSH sshd on 127.0.0.1 with password authentication on, logging each auth request."""
    need(binary="sshd")
    need(binary="ssh-keygen")
    d = tmp_path / "openssh"
    d.mkdir(mode=0o700)
    keys = []
    for name, kind in (("key_a", "ed25519"), ("key_b", "ed25519"), ("key_ecdsa", "ecdsa")):
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(d / name)], check=True)
        keys.append(d / name)
    port = _free_port()
    log = d / "log"
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    sshd_bin = shutil.which("sshd")
    assert sshd_bin

    def start(key: Path | list[Path]) -> subprocess.Popen[bytes]:
        host_keys = "".join(f"HostKey {k}\n" for k in (key if isinstance(key, list) else [key]))
        (d / "sshd_config").write_text(
            f"Port {port}\nListenAddress 127.0.0.1\n{host_keys}PidFile {d / 'sshd.pid'}\n"
            "PasswordAuthentication yes\nKbdInteractiveAuthentication no\nPubkeyAuthentication no\n"
            "PermitRootLogin yes\nStrictModes no\nUsePAM no\nLogLevel DEBUG1\n"
        )
        return subprocess.Popen([sshd_bin, "-D", "-E", str(log), "-f", str(d / "sshd_config")])

    server = Server(start, port, log)
    try:
        yield server, keys
    finally:
        server.stop()


def _auth_attempts(server: Server) -> list[str]:
    text = server.log.read_text(errors="replace")
    return [ln for ln in text.splitlines() if "begin_auth" in ln or "password" in ln or "userauth-request" in ln]


def _wait_logged(server: Server) -> list[str]:
    # sshd writes its log from its own process; give it a moment after the client is done
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = _auth_attempts(server)
        if found:
            return found
        time.sleep(0.05)
    return []


def test_lab_device_with_a_changed_key_gets_no_login(
    lab_device: tuple[Server, dict[str, Any], list[Path]], tmp_path: Path
) -> None:
    from govops.network.parsers import commands_for

    server, dev, (key_a, key_b) = lab_device
    known = tmp_path / "known_hosts"
    collector = NetmikoCollector(HostKeyPolicy("accept-new", str(known)))
    target = SshTarget(dev["hostname"], "127.0.0.1", server.port, dev["platform"], NETMIKO_TYPE[dev["platform"]], 10)
    cred = Credential("ssh", "env", username=dev["username"], password=Secret(dev["password"]))
    commands = commands_for(dev["platform"])[:1]

    server.run(key_a)
    out = collector.collect(target, cred, commands, time.monotonic() + 30)  # first use: pinned
    assert out.outputs
    assert any(ln.startswith("password ") for ln in _wait_logged(server))  # the log sees logins
    assert known.read_text().startswith(f"[127.0.0.1]:{server.port} ssh-ed25519 ")
    assert oct(known.stat().st_mode & 0o777) == "0o600"
    collector.collect(target, cred, commands, time.monotonic() + 30)  # the pinned key again: accepted

    server.run(key_b)
    with pytest.raises(HostKeyMismatch) as err:
        collector.collect(target, cred, commands, time.monotonic() + 30)
    assert "host key changed" in err.value.reason and "no password sent" in err.value.reason
    assert err.value.status == "error"
    time.sleep(0.3)
    assert _auth_attempts(server) == []
    assert len(known.read_text().splitlines()) == 1  # the changed key was not pinned


def test_openssh_with_a_changed_key_sees_no_auth_request(openssh: tuple[Server, list[Path]], tmp_path: Path) -> None:
    server, (key_a, key_b, _) = openssh
    known = tmp_path / "known_hosts"
    collector = NetmikoCollector(HostKeyPolicy("accept-new", str(known)))
    target = SshTarget("r1", "127.0.0.1", server.port, "cisco_ios", "cisco_ios", 10)
    cred = Credential("ssh", "env", username="nobody-here", password=Secret("Canary-0penssh-pw"))

    server.run(key_a)
    with pytest.raises(AuthFailed):  # reached authentication: the key was pinned first
        collector.collect(target, cred, ["show version"], time.monotonic() + 30)
    assert _wait_logged(server), "sshd logged no userauth-request: the test could not see a login"
    assert len(known.read_text().splitlines()) == 1

    server.run(key_b)
    with pytest.raises(HostKeyMismatch) as err:
        collector.collect(target, cred, ["show version"], time.monotonic() + 30)
    assert f"[127.0.0.1]:{server.port}" in err.value.reason and "host key changed" in err.value.reason
    time.sleep(0.3)
    assert _auth_attempts(server) == []


def test_strict_accepts_an_ssh_keyscan_file_and_refuses_an_unknown_key(
    openssh: tuple[Server, list[Path]], tmp_path: Path
) -> None:
    need(binary="ssh-keyscan")
    server, (key_a, key_b, _) = openssh
    server.run(key_a)
    known = tmp_path / "known_hosts"
    # OpenSSH's own tool writes the file, hashed (-H): govops reads what OpenSSH writes
    scan = subprocess.run(
        ["ssh-keyscan", "-H", "-t", "ed25519", "-p", str(server.port), "127.0.0.1"],
        capture_output=True,
        text=True,
        check=True,
    )
    known.write_text(scan.stdout)
    assert known.read_text().startswith("|1|")
    cred = Credential("ssh", "env", username="nobody-here", password=Secret("Canary-0penssh-pw"))
    target = SshTarget("r1", "127.0.0.1", server.port, "cisco_ios", "cisco_ios", 10)
    strict = NetmikoCollector(HostKeyPolicy("strict", str(known)))
    server.log.write_text("")
    with pytest.raises(AuthFailed):  # known key: on to authentication
        strict.collect(target, cred, ["show version"], time.monotonic() + 30)
    before = known.read_text()

    server.run(key_b)
    with pytest.raises(HostKeyMismatch):
        strict.collect(target, cred, ["show version"], time.monotonic() + 30)
    assert known.read_text() == before  # strict never writes
    time.sleep(0.3)
    assert _auth_attempts(server) == []


def test_audit_reports_a_changed_key_and_pins_the_rest(extranet_lab: ExtranetLabInfo, tmp_path: Path) -> None:
    """The whole CLI (sessions in worker processes): one device's known key is wrong, the rest get pinned."""
    from tests.integration.test_net_audit import govops, write_config

    store = tmp_path / "store.db"
    known = tmp_path / "known_hosts"
    cfg = write_config(extranet_lab, store)
    lines = [ln for ln in cfg.read_text().splitlines() if not ln.strip().startswith("known_hosts:")]
    cfg.write_text("\n".join(lines).replace("network:", f"network:\n  known_hosts: {known}", 1) + "\n")
    from govops.network.inventory import load_inventory

    devices = extranet_lab.truth["devices"]
    inv = load_inventory(extranet_lab.inventory)
    # a site whose devices all answer (a fault's timeout would only slow the test down)
    victim, site = next(
        (h, code)
        for h in sorted(extranet_lab.devices(expected_status="ok"))
        if devices[h]["access"]["ssh"]
        for code in [inv.devices[h].site.code]
        if all(devices[d.hostname]["expected_status"] == "ok" for d in inv.select(site=code))
    )
    ssh = devices[victim]["access"]["ssh"]
    wrong = "AAAAC3NzaC1lZDI1NTE5AAAAIE9mGZ6m2Yt0XKmJ5T0Ykq4p3XgQhN1Hn5qZ0p3VxQ7a"
    known.write_text(f"[{ssh['address']}]:{ssh['port']} ssh-ed25519 {wrong}\n")
    run = govops(extranet_lab, store, "-o", "json", "net", "audit", "--checks", "ipv6", "--site", site)
    assert "Traceback" not in run.err, run.err[-2000:]
    assert run.out, run.err[-3000:]
    by_host = {d["hostname"]: d for d in json.loads(run.out)["devices"]}
    assert by_host[victim]["status"] == "error"
    assert "host key changed" in by_host[victim]["reason"]
    pinned = {ln.split()[0] for ln in known.read_text().splitlines()[1:]}
    collected = [h for h, d in by_host.items() if d["collected"].get("ssh") == "ok"]
    assert collected
    for h in collected:
        access = devices[h]["access"]
        assert f"[{access['ssh']['address']}]:{access['ssh']['port']}" in pinned, h
    assert len(pinned) == len(known.read_text().splitlines()) - 1  # no host pinned twice


def test_the_known_key_type_is_asked_for_first(openssh: tuple[Server, list[Path]], tmp_path: Path) -> None:
    """A device with an Ed25519 and an ECDSA key, known by its ECDSA key only (``ssh-keyscan -t
    ecdsa``, or a known_hosts from before a firmware upgrade added Ed25519): paramiko prefers
    Ed25519, OpenSSH prefers the known type; govops used to refuse the device as "changed"."""
    need(binary="ssh-keyscan")
    server, (key_a, key_b, key_ecdsa) = openssh
    server.run([key_a, key_ecdsa])
    known = tmp_path / "known_hosts"
    scan = ["ssh-keyscan", "-t", "ecdsa", "-p", str(server.port), "127.0.0.1"]
    known.write_text(subprocess.run(scan, capture_output=True, text=True, check=True).stdout)
    assert " ecdsa-sha2-nistp256 " in known.read_text()
    cred = Credential("ssh", "env", username="nobody-here", password=Secret("Canary-0penssh-pw"))
    target = SshTarget("r1", "127.0.0.1", server.port, "cisco_ios", "cisco_ios", 10)
    for policy in ("strict", "accept-new"):
        with pytest.raises(AuthFailed):  # the ECDSA key was negotiated and known: on to authentication
            NetmikoCollector(HostKeyPolicy(policy, str(known))).collect(target, cred, ["x"], time.monotonic() + 30)  # type: ignore[arg-type]
    assert len(known.read_text().splitlines()) == 1  # nothing pinned besides

    server.run(key_b)  # the device now has an Ed25519 key only
    with pytest.raises(HostKeyMismatch) as err:
        NetmikoCollector(HostKeyPolicy("accept-new", str(known))).collect(target, cred, ["x"], time.monotonic() + 30)
    assert "host key changed" in err.value.reason and "ecdsa-sha2-nistp256" in err.value.reason
    assert "no password sent" in err.value.reason
    time.sleep(0.3)
    assert _auth_attempts(server) == []
    assert len(known.read_text().splitlines()) == 1
