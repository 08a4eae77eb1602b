"""Secrets canary suite: every kind of credential set to a distinctive canary, every command that can
fail run with ``-vv`` in each output format, and every place govops writes searched for each canary
and for any 8-character substring of it.

Credentials: SSH password and enable secret (in an ansible-vault file), the vault password, SNMP v2c
community and SNMPv3 auth/priv keys (environment), the clouds.yaml password, a PostgreSQL store URL
password, a Prometheus URL password, a playbook extra var (``-e api_token=…``).

Real peers where a peer is needed: the lab's asyncssh device sshd, started privately with two of the
extranet lab's devices (one accepts the canary password, one refuses it: auth_failed); SNMP, the
cloud, Prometheus and PostgreSQL point at closed loopback ports (their failures are what is tested);
the playbook runs with ansible-runner on the local connection and fails on purpose.

Searched: stdout and stderr of every run, the results store (database and WAL), the audit reports
(Markdown, HTML), the kept play artefacts, known_hosts, and the command lines of every process
(``ps``) sampled while the commands run (worker processes and ansible-playbook included).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, need
from tests.integration.conftest import ExtranetLabInfo

pytestmark = pytest.mark.integration

FORMATS = ("table", "json", "yaml", "csv")
# letters that never occur in hex digests: an 8-character window of a canary cannot match a hash by chance
_ALPHABET = "ghjkmnpqrstvwxyzGHJKMNPQRSTVWXYZ"
KINDS = ("ssh", "enable", "community", "v3auth", "v3priv", "vault", "cloud", "store_url", "prom_url", "extra_var")


def _canary(kind: str) -> str:
    rng = random.SystemRandom()
    return f"Cn{kind[:2].upper()}" + "".join(rng.choice(_ALPHABET) for _ in range(18))


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class World:
    dir: Path
    env: dict[str, str]
    config: Path
    bad_store_config: Path
    canaries: dict[str, str]
    store: Path
    ok_device: str
    refused_device: str
    outputs: list[tuple[str, str]] = field(default_factory=list)
    ps_lines: set[str] = field(default_factory=set)
    files: list[Path] = field(default_factory=list)

    def run(self, label: str, *args: str, config: Path | None = None, env: dict[str, str] | None = None) -> Any:
        full_env = {**os.environ, **self.env, "GOVOPS_CONFIG": str(config or self.config), **(env or {})}
        p = subprocess.run(
            [sys.executable, "-m", "govops", "-vv", *args],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=self.dir,
        )
        last = (p.stderr.strip().splitlines() or [""])[-1]
        print(f"{label}: exit {p.returncode}: {last[:160]}")  # shown with -s or on failure
        self.outputs.append((f"{label} stdout", p.stdout))
        self.outputs.append((f"{label} stderr", p.stderr))
        return p


class PsSampler:
    """Every distinct process command line while the suite runs (what ``ps`` shows any local user)."""

    def __init__(self, into: set[str]) -> None:
        self.into = into
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for entry in Path("/proc").glob("[0-9]*"):
                try:
                    self.into.add((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"))
                except OSError:
                    continue
            self._stop.wait(0.05)

    def __enter__(self) -> PsSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _lab_devices(lab: ExtranetLabInfo) -> tuple[str, list[dict[str, Any]]]:
    """Two plain devices of the lab (no fault, no first-login dialogue), as its sshd config lists them."""
    from govops.lab.extranet.plan import DeviceState

    picked: dict[str, dict[str, Any]] = {}
    username = ""
    for config in sorted((lab.dir / "extranet").glob("sshd-*.json")):
        cfg = json.loads(config.read_text())
        username = cfg["username"]
        for dev in cfg["devices"]:
            st = DeviceState.from_dict(dev["state"])
            if st.fault is None and not st.first_login_prompt and st.platform not in picked:
                picked[st.platform] = dev
    devices = [picked[p] for p in ("cisco_ios", "huawei_vrp") if p in picked]
    assert len(devices) == 2, "the lab lacks plain cisco_ios and huawei_vrp devices"
    return username, devices


@pytest.fixture(scope="module")
def world(extranet_lab: ExtranetLabInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    need(module="asyncssh")
    import asyncssh
    from govops.vault import encrypt

    d = tmp_path_factory.mktemp("canary")
    c = {k: _canary(k) for k in KINDS}
    username, (ok_dev, refused_dev) = _lab_devices(extranet_lab)

    # the lab's own device sshd: one device takes the canary password, the other refuses it
    key = d / "host_key"
    key.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    key.chmod(0o600)
    ports = [_free_port(), _free_port()]
    entries = [
        {**ok_dev, "listen": ["127.0.0.1"], "port": ports[0], "password": c["ssh"], "community": c["community"]},
        {**refused_dev, "listen": ["127.0.0.1"], "port": ports[1], "password": "refuses-the-canary-1"},
    ]
    sshd_conf = d / "sshd.json"
    sshd_conf.write_text(json.dumps({"host_key": str(key), "username": username, "devices": entries}))
    sshd_conf.chmod(0o600)
    with open(d / "sshd.out", "w") as out:
        sshd = subprocess.Popen(
            [sys.executable, "-m", "govops.lab.extranet.sshd", str(sshd_conf)], stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 20
        while not sshd_conf.with_suffix(".ready").exists():
            assert sshd.poll() is None and time.monotonic() < deadline, (d / "sshd.out").read_text()
            time.sleep(0.05)

        # an inventory of the two devices; SNMP to a closed port, one v3 and one v2c
        inv = d / "inventory"
        inv.mkdir()
        for name in ("sites.yaml", "groups.yaml", "defaults.yaml"):
            shutil.copy(extranet_lab.inventory / name, inv / name)
        (inv / "profiles.yaml").write_text(
            yaml.safe_dump(
                {
                    "ssh": {"default": {"credential": "extranet-ssh", "port": 22, "timeout": 10}},
                    "snmp": {
                        "v3": {"version": "v3", "credential": "extranet-snmpv3", "timeout": 0.5, "retries": 0},
                        "v2c": {
                            "version": "v2c",
                            "credential": "extranet-snmp-community",
                            "timeout": 0.5,
                            "retries": 0,
                        },
                    },
                }
            )
        )
        lab_devices = yaml.safe_load((extranet_lab.inventory / "devices.yaml").read_text())["devices"]
        snmp_port = _free_port(socket.SOCK_DGRAM)
        devices = {}
        for entry, extra_group in zip(entries, ([], ["legacy-snmp"]), strict=True):
            host = entry["state"]["hostname"]
            src = lab_devices[host]
            devices[host] = {
                "site": src["site"],
                "groups": [*src.get("groups", []), *extra_group],
                "mgmt_ipv4": "127.0.0.1",
                "ssh_port": entry["port"],
                "snmp_port": snmp_port,
            }
        (inv / "devices.yaml").write_text(yaml.safe_dump({"devices": devices}, allow_unicode=True))

        # SSH credentials in the vault; SNMP ones in the environment
        vault = d / "vault.yml"
        plain = {"extranet-ssh": {"username": username, "password": c["ssh"], "enable": c["enable"]}}
        vault.write_bytes(encrypt(yaml.safe_dump(plain), c["vault"]))
        env = {
            "GOVOPS_VAULT_PASSWORD": c["vault"],
            "GOVOPS_CRED_EXTRANET_SNMPV3_USERNAME": "govops-audit",
            "GOVOPS_CRED_EXTRANET_SNMPV3_AUTH_KEY": c["v3auth"],
            "GOVOPS_CRED_EXTRANET_SNMPV3_PRIV_KEY": c["v3priv"],
            "GOVOPS_CRED_EXTRANET_SNMP_COMMUNITY_COMMUNITY": c["community"],
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
        clouds = d / "clouds.yaml"
        clouds.write_text(
            yaml.safe_dump(
                {
                    "clouds": {
                        "gov": {
                            "auth": {
                                "auth_url": f"http://127.0.0.1:{_free_port()}/v3",
                                "username": "admin",
                                "password": c["cloud"],
                                "project_name": "admin",
                                "user_domain_name": "Default",
                                "project_domain_name": "Default",
                            },
                            "region_name": "RegionOne",
                        }
                    }
                }
            )
        )
        (d / "playbooks").mkdir()
        (d / "playbooks" / "fails.yml").write_text(
            "- hosts: all\n  gather_facts: false\n  tasks:\n"
            "    - name: uses the token, then fails\n"
            "      ansible.builtin.command: /bin/false {{ api_token | length }}\n"
        )
        store = d / "state" / "govops.db"
        base = {
            "version": 1,
            "departments": str(REPO / "inventories" / "departments.yaml"),
            "playbooks": str(d / "playbooks"),
            "cloud": {"name": "gov", "clouds_file": str(clouds)},
            "prometheus": {"url": f"http://monitor:{c['prom_url']}@127.0.0.1:{_free_port()}", "timeout": 2},
            "network": {
                "inventory": str(inv),
                "known_hosts": str(d / "known_hosts"),
                "retries": 0,
                "device_timeout": 20,
            },
            "credentials": {"sources": ["vault", "env"], "vault_file": str(vault)},
        }
        config = d / "govops.yaml"
        config.write_text(yaml.safe_dump({**base, "store": {"url": f"sqlite:///{store}"}}))
        bad = d / "govops-pg.yaml"
        pg = f"postgresql://gov:{c['store_url']}@127.0.0.1:{_free_port()}/govops?connect_timeout=2"
        bad.write_text(yaml.safe_dump({**base, "store": {"url": pg}}))
        yield World(d, env, config, bad, c, store, ok_dev["state"]["hostname"], refused_dev["state"]["hostname"])
    finally:
        sshd.terminate()
        sshd.wait(10)


def _windows(canary: str) -> set[str]:
    return {canary[i : i + 8] for i in range(len(canary) - 7)}


def test_no_canary_anywhere(world: World) -> None:
    need(module="ansible_runner")
    w = world
    with PsSampler(w.ps_lines):
        for fmt in FORMATS:
            r = w.run(f"net audit -o {fmt}", "-o", fmt, "net", "audit")
            assert r.returncode == 3, r.stderr[-1500:]  # the refused device and the SNMP timeouts
        audit = json.loads(next(t for label, t in w.outputs if label == "net audit -o json stdout"))
        status = {d["hostname"]: d for d in audit["devices"]}
        # the canaries were really used: the SSH password logged one device in, the other refused it
        assert status[w.ok_device]["collected"]["ssh"] == "ok", status[w.ok_device]
        assert status[w.refused_device]["status"] == "auth_failed", status[w.refused_device]
        for fmt in FORMATS:
            assert w.run(f"net runs -o {fmt}", "-o", fmt, "net", "runs").returncode == 0
            w.run(f"net readiness -o {fmt}", "-o", fmt, "net", "readiness")
            assert w.run(f"doctor -o {fmt}", "-o", fmt, "doctor").returncode == 3  # cloud, Prometheus down
            assert w.run(f"config show -o {fmt}", "-o", fmt, "config", "show").returncode == 0
            assert w.run(f"capacity show -o {fmt}", "-o", fmt, "capacity", "show").returncode != 0
            assert w.run(f"cloud quota show -o {fmt}", "-o", fmt, "cloud", "quota", "show").returncode != 0
            assert w.run(f"capacity forecast -o {fmt}", "-o", fmt, "capacity", "forecast").returncode != 0
            assert w.run(f"cloud check -o {fmt}", "-o", fmt, "cloud", "check").returncode != 0
            r = w.run(f"bad store: net runs -o {fmt}", "-o", fmt, "net", "runs", config=w.bad_store_config)
            assert r.returncode == 1 and "PostgreSQL" in r.stderr, r.stderr
            w.run(f"bad store: doctor -o {fmt}", "-o", fmt, "doctor", config=w.bad_store_config)
            w.run(f"bad store: config show -o {fmt}", "-o", fmt, "config", "show", config=w.bad_store_config)
        wrong_vault = {"GOVOPS_VAULT_PASSWORD": w.canaries["vault"][::-1]}  # a wrong one, also a canary
        w.canaries["vault_wrong"] = wrong_vault["GOVOPS_VAULT_PASSWORD"]
        w.run("wrong vault: net audit", "-o", "json", "net", "audit", env=wrong_vault)
        w.run("wrong vault: doctor", "doctor", env=wrong_vault)
        for fmt in ("md", "html"):
            out = w.dir / f"report.{fmt}"
            w.run(f"report audit {fmt}", "report", "audit", "--format", fmt, "--out", str(out))
            w.files.append(out)
        assert w.run("report capacity", "report", "capacity").returncode != 0  # Prometheus down
        for fmt in ("table", "json"):
            r = w.run(
                f"play run -o {fmt}",
                "-o", fmt, "play", "run", "fails", "--hosts", "local-a", "-e", "ansible_connection=local",
                "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"api_token={w.canaries['extra_var']}",
                "--keep-artifacts",
            )  # fmt: skip
            assert r.returncode == 3, r.stdout + r.stderr[-1500:]
    artefacts = Path(os.environ["XDG_DATA_HOME"]) / "govops" / "ansible"
    assert any(artefacts.iterdir()), "no kept play artefacts to search"
    w.files += [p for p in artefacts.rglob("*") if p.is_file()]
    w.files += [p for p in w.store.parent.iterdir() if p.is_file()]  # database, -wal, -shm
    w.files.append(w.dir / "known_hosts")
    assert any("ansible-playbook" in line for line in w.ps_lines), "ps sampling saw no child process"

    places: list[tuple[str, bytes]] = [(label, text.encode()) for label, text in w.outputs]
    places += [(str(p), p.read_bytes()) for p in w.files if p.exists()]
    # the test's own ``python -m govops …`` lines are its input (a user's -e NAME=VALUE is on their
    # own command line: docs/reference/security.md says to pass secrets as -e @file); every process
    # govops starts (SSH/SNMP workers, ansible-playbook and its children) is searched
    places += [
        (f"ps: {line[:100]}", line.encode())
        for line in w.ps_lines
        if ("govops" in line or "ansible" in line or "multiprocessing" in line) and " -m govops " not in line
    ]
    leaks = []
    for kind, canary in w.canaries.items():
        for where, data in places:
            hit = next((s for s in sorted(_windows(canary)) if s.encode() in data), None)
            if hit is not None:
                leaks.append(f"{kind} ({hit}…) in {where}")
    checked = len(w.canaries)
    print(f"canaries checked: {checked}; places searched: {len(places)}; leaks: {len(leaks)}")
    assert leaks == [], "\n".join(leaks)
