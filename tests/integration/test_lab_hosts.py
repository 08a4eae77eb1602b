"""`govops lab up --hosts`: workers as separate hosts in network namespaces, each reaching its county only.

A lab of its own (12 devices: counties ``jb`` and ``jn``), its Redis, a private PostgreSQL that
accepts the hosts' 127.2.A.K addresses, and two hosts ``jb`` and ``jn``. Checks that the lab made
two namespaces whose worker only ever receives its own county's devices and audits them (over
IPv4 routes and the IPv6 relay) as the lab's truth expects, that another county's device is
unreachable from inside a namespace, and that ``lab down`` deletes the namespaces and stops the
workers by PID. Skipped with the reason when this machine does not allow ``ip netns add``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, need
from tests.integration.postgres import pg_bindir, postgres_server

pytestmark = pytest.mark.integration
COUNTIES = ("jb", "jn")


@pytest.fixture(scope="module")
def hosts_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    need(binary="redis-server")
    need(module="celery")
    need(module="psycopg")
    if pg_bindir() is None:
        need(binary="initdb")
    from govops.lab.core import Lab, LabOptions
    from govops.lab.extranet.hosts import netns_permitted
    from govops.observer import NullObserver

    if reason := netns_permitted():
        pytest.skip(f"lab hosts need network namespaces: {reason}")
    lab = Lab(tmp_path_factory.mktemp("hosts") / "lab", REPO)
    with postgres_server(allow=["127.2.0.0/16"]) as pg_url:
        try:
            lab.up(["extranet", "broker"], LabOptions(devices=12, seed=5), NullObserver())
            lab.up(["hosts"], LabOptions(devices=12, seed=5, hosts=COUNTIES, store=pg_url), NullObserver())
            yield lab
        finally:
            lab.down()


def _hosts(lab: Any) -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads((lab.dir / "hosts" / "hosts.json").read_text())["hosts"]
    return data


def _inventory(lab: Any) -> Any:
    from govops.network.inventory import load_inventory

    return load_inventory(lab.dir / "extranet" / "inventory")


def _connect(namespace: str, host: str, port: int) -> str:
    """A TCP connect from inside the namespace: the SSH banner, or the error."""
    code = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)\n"
        "s.settimeout(5)\n"
        "try:\n s.connect((sys.argv[1], int(sys.argv[2]))); print(s.recv(40).decode(errors='replace'))\n"
        "except OSError as e: print(f'error {e.errno}')\n"
    )
    proc = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", code, host, str(port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return proc.stdout.strip()


def test_each_host_reaches_only_its_county(hosts_lab: Any) -> None:
    import errno

    inv = _inventory(hosts_lab)
    hosts = _hosts(hosts_lab)
    assert set(hosts) == set(COUNTIES)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    for code, h in hosts.items():
        assert h["namespace"] in listed
        own = next(d for d in inv.devices.values() if d.county == code and d.ssh and d.mgmt_ipv4)
        other = next(d for d in inv.devices.values() if d.county not in (code, None) and d.ssh and d.mgmt_ipv4)
        assert _connect(h["namespace"], str(own.mgmt_ipv4), own.ssh_port).startswith("SSH-2.0"), own.hostname
        # no route to another county's address: the kernel refuses before any packet leaves
        assert _connect(h["namespace"], str(other.mgmt_ipv4), other.ssh_port) == f"error {errno.ENETUNREACH}"
        # nor to another county's IPv6 endpoint: the namespace's ::1 relays only its county's ports
        assert _connect(h["namespace"], "::1", other.ssh_port) == f"error {errno.ECONNREFUSED}"


def test_a_county_audit_runs_on_its_host_only(hosts_lab: Any) -> None:
    truth = json.loads((hosts_lab.dir / "truth.json").read_text())["devices"]
    env = {**os.environ, **hosts_lab.env(), "NO_COLOR": "1"}
    inv = _inventory(hosts_lab)
    for code in COUNTIES:
        proc = subprocess.run(
            [sys.executable, "-m", "govops", "-o", "json", "net", "audit", "--executor", "celery", "--county", code],
            capture_output=True,
            text=True,
            env=env,
            timeout=240,
            check=False,
        )
        assert proc.returncode in (0, 3), proc.stderr[-2000:]
        doc = json.loads(proc.stdout)
        got = {d["hostname"]: d["status"] for d in doc["devices"]}
        wanted = {d.hostname for d in inv.devices.values() if d.county == code}
        assert set(got) == wanted
        assert {h: got[h] for h in wanted} == {h: truth[h]["expected_status"] for h in wanted}
        # which worker ran which device: its own log's "batch started: HOSTS" lines
        for other in COUNTIES:
            log = (hosts_lab.dir / "logs" / f"hosts-{other}.log").read_text(encoding="utf-8", errors="replace")
            ran = {h for m in re.finditer(r"batch started: (.*)$", log, re.M) for h in m.group(1).split()}
            counties = {inv.device(h).county for h in ran}
            assert counties <= {other}, f"host {other} received devices of {counties - {other}}"
            if other == code:
                assert wanted <= ran


def test_down_deletes_the_namespaces(hosts_lab: Any) -> None:
    hosts = _hosts(hosts_lab)
    pids = [int(p) for h in hosts.values() for p in [h["pid"]]]
    hosts_lab.down(["hosts"])
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    out = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    links = {line.split()[0].split("@")[0] for line in out.splitlines() if line.strip()}
    for h in hosts.values():
        assert h["namespace"] not in listed.split()
        # gone at once, not when the kernel gets round to freeing the namespace
        assert h["veth"] not in links
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    assert not (hosts_lab.dir / "hosts" / "hosts.json").exists()
