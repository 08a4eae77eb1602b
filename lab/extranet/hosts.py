"""``govops lab up --hosts jb,jn --store URL``: Celery workers as separate "hosts" in network namespaces.

Each host is a network namespace the lab creates, joined to the machine by a veth pair, with
loopback addresses only, all the lab's own: the namespace's end is ``127.2.A.(K+1)``, and its
routes reach exactly the machine's ``127.0.0.1`` (the broker and the results store) and the IPv4
management addresses of the devices of *its* county, city or inventory group. Every other device
has no route ("Network is unreachable"), as a city's collector cannot reach another city's
network; the machine's ``::1`` (the IPv6-only devices) is not reachable at all. The namespace's
own loopback stays down, so nothing in it is local but its veth address.

In each namespace runs one ``govops worker --queues host-CODE`` (``ip netns exec``; its PID
recorded like every lab peer's), with a folder of its own under ``<lab>/hosts/CODE/``: its
govops.yaml (broker, store, its own known_hosts), its HOME; it gets the device credentials and
the broker's password in its environment and no inventory. The lab's govops.yaml routes each
host's code to its queue (``network.routes``) and points the coordinator at the same store.

The kernel drops packets to or from 127.0.0.0/8 on other interfaces than ``lo`` unless
``route_localnet`` is set on them: the lab sets it on its own veths only. The machine side gets
one route per host in its ``local`` table (the host's /32 over its veth: more specific than
``local 127.0.0.0/8``), removed with the veth when the namespace is deleted.
``lab down`` stops the workers by PID, then deletes the namespaces it recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from govops.lab.core import ComponentResult, LabContext, PeerStatus
from govops.lab.processes import LabError, Peer

PREFIX = "hosts-"
QUEUE_PREFIX = "host-"
START_TIMEOUT = 60.0
CONCURRENCY = 2


def _ip(*args: str, namespace: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = ["ip", *(["-n", namespace] if namespace else []), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed: {proc.stderr.strip() or proc.returncode}")
    return proc


def _sysctl(key: str, namespace: str | None = None) -> None:
    path = f"/proc/sys/net/ipv4/conf/{key}/route_localnet"
    argv = ["ip", "netns", "exec", namespace, "sh", "-c", f"echo 1 > {path}"] if namespace else None
    if argv is None:
        Path(path).write_text("1\n")
        return
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LabError(f"cannot set route_localnet in {namespace}: {proc.stderr.strip()}")


def netns_permitted() -> str | None:
    """None when this process may create network namespaces, else why not (for a test's skip)."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is missing"
    if os.geteuid() != 0:
        return "network namespaces need root (`ip netns add`)"
    probe = f"gvprobe{os.getpid() % 100000}"
    proc = _ip("netns", "add", probe, check=False)
    if proc.returncode != 0:
        return f"`ip netns add` is not permitted here: {proc.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def _taken_blocks() -> set[int]:
    """The A of every 127.2.A.x route the machine's local table holds (other labs' hosts)."""
    proc = _ip("-j", "route", "show", "table", "local", check=False)
    try:
        routes = json.loads(proc.stdout or "[]")
    except ValueError:
        routes = []
    out: set[int] = set()
    for r in routes:
        parts = str(r.get("dst", "")).split("/")[0].split(".")
        if len(parts) == 4 and parts[:2] == ["127", "2"]:
            out.add(int(parts[2]))
    return out


def _state_file(ctx: LabContext) -> Path:
    return ctx.path("hosts", "hosts.json")


def _read_state(ctx: LabContext) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(_state_file(ctx).read_text())
        return data
    except (OSError, ValueError):
        return {}


def _lab_state(ctx: LabContext) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(ctx.path("lab.json").read_text())
        return data
    except (OSError, ValueError):
        return {"components": {}}


def _members(inventory: Path, code: str) -> list[Any]:
    """The devices a route naming ``code`` sends to its queue: county, site, city or group."""
    from govops.network.inventory import load_inventory

    inv = load_inventory(inventory)
    return [d for d in inv.devices.values() if code in (d.county, d.site.code, d.site.city) or code in d.groups]


def _wait_for(peer: Peer, marker: bytes, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    log = Path(peer.log)
    while marker not in log.read_bytes():
        if not peer.alive():
            raise LabError(f"{what} exited; see {log}")
        if time.monotonic() > deadline:
            raise LabError(f"{what} not ready after {START_TIMEOUT:.0f} s; see {log}")
        time.sleep(0.3)


class HostsLab:
    name = "hosts"

    def install(self, ctx: LabContext) -> None:
        if shutil.which("ip") is None:
            raise LabError("the `ip` command is missing", hint="apt-get install iproute2")

    def up(self, ctx: LabContext) -> ComponentResult:
        opts = ctx.options
        codes = [c for c in opts.hosts if c]
        if not codes:
            raise LabError("no hosts named", hint="govops lab up --hosts jb,jn --store postgresql://…")
        if not opts.store or not opts.store.startswith(("postgresql://", "postgres://")):
            raise LabError(
                "the hosts' workers need a PostgreSQL results store they all reach",
                hint="govops lab up --hosts jb,jn --store postgresql://user@127.0.0.1:5432/db",
            )
        components = _lab_state(ctx)["components"]
        broker = components.get("broker", {}).get("config", {}).get("network", {}).get("broker")
        if broker is None or "extranet" not in components:
            raise LabError("the hosts need the lab's extranet and broker", hint="govops lab up --extranet --broker …")
        if reason := netns_permitted():
            raise LabError(f"cannot create the hosts: {reason}")
        self.down(ctx)  # a fresh set: no namespace or worker of a previous `up` is left behind
        inventory = ctx.path("extranet", "inventory")
        taken = _taken_blocks()
        block = next((a for a in range(1, 255) if a not in taken), None)
        if block is None:
            raise LabError("no free 127.2.A.0/24 block for the hosts' addresses")
        env = dict(components["extranet"].get("env", {})) | dict(components["broker"].get("env", {}))
        state: dict[str, Any] = {"block": block, "hosts": {}}
        try:
            for k, code in enumerate(codes):
                members = _members(inventory, code)
                if not members:
                    raise LabError(f"no device of the lab is in county, city or group '{code}'")
                state["hosts"][code] = self._start_host(ctx, k, block, code, members, broker, env, state)
            _state_file(ctx).write_text(json.dumps(state, indent=1))
        except BaseException:
            self.down(ctx)
            raise
        routes = {code: f"{QUEUE_PREFIX}{code}" for code in codes}
        return ComponentResult(
            config={"store": {"url": opts.store}, "network": {"executor": "celery", "routes": routes}},
            next_steps=[
                f"workers in namespaces: {', '.join(h['namespace'] for h in state['hosts'].values())}",
                f"govops net audit --executor celery --county {codes[0]}",
            ],
        )

    def _start_host(
        self,
        ctx: LabContext,
        k: int,
        block: int,
        code: str,
        members: list[Any],
        broker: str,
        env: dict[str, str],
        state: dict[str, Any],
    ) -> dict[str, Any]:
        ns, outer, inner = f"gvh{block}-{k}", f"gvh{block}k{k}r", f"gvh{block}k{k}n"
        address = f"127.2.{block}.{k + 1}"
        # recorded before it exists: a failure half-way still gets it deleted by down()
        state["hosts"][code] = {"namespace": ns, "address": address, "veth": outer}
        _state_file(ctx).parent.mkdir(parents=True, exist_ok=True)
        _state_file(ctx).write_text(json.dumps(state, indent=1))
        _ip("netns", "add", ns)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", ns)
        _sysctl(outer)
        _ip("link", "set", outer, "up")
        _ip("route", "add", f"{address}/32", "dev", outer, "table", "local")
        _sysctl(inner, ns)
        _ip("addr", "add", f"{address}/32", "dev", inner, namespace=ns)
        _ip("link", "set", inner, "up", namespace=ns)
        # its own ::1 (the relay's side of the IPv6 devices), without 127.0.0.0/8 on lo, which
        # would take every 127.x destination for the namespace's own
        _ip("link", "set", "lo", "up", namespace=ns)
        _ip("addr", "del", "127.0.0.1/8", "dev", "lo", namespace=ns, check=False)
        targets = sorted({"127.0.0.1", *(str(d.mgmt_ipv4) for d in members if d.mgmt_ipv4 is not None)})
        batch = "".join(f"route add {t}/32 dev {inner} src {address}\n" for t in targets)
        proc = subprocess.run(["ip", "-n", ns, "-batch", "-"], input=batch, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise LabError(f"routes of {ns}: {proc.stderr.strip()}")
        home = ctx.path("hosts", code)
        home.mkdir(parents=True, exist_ok=True)
        cfg = home / "govops.yaml"
        from govops.yamlio import dump

        doc = {
            "version": 1,
            "store": {"url": ctx.options.store},
            "network": {"broker": broker, "known_hosts": str(home / "known_hosts")},
            "credentials": {"sources": ["env"]},
        }
        fd = os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"# Written by `govops lab up --hosts`: the worker of host {code} ({ns}).\n" + dump(doc))
        v6 = [d for d in members if d.mgmt_ipv6 is not None]
        relay = {
            "namespace": ns,
            "tcp": sorted({p for d in v6 if d.ssh is not None and (p := d.ssh_port or d.ssh.port)}),
            "udp": sorted({p for d in v6 if d.snmp is not None and (p := d.snmp_port or d.snmp.port)}),
        }
        (home / "relay.json").write_text(json.dumps(relay))
        relay_peer = ctx.processes.start(
            f"{PREFIX}relay-{code}",
            [sys.executable, "-m", "govops.lab.extranet.nsrelay", str(home / "relay.json")],
            cwd=home,
        )
        _wait_for(relay_peer, b"relaying ", f"the IPv6 relay of host {code}")
        queue = f"{QUEUE_PREFIX}{code}"
        argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "govops", "--config", str(cfg), "worker"]
        argv += ["--queues", queue, "--concurrency", str(CONCURRENCY), "--name", f"{code}@{ns}"]
        # HOME and the working folder are the host's own: nothing shared with the machine's govops
        peer = ctx.processes.start(f"{PREFIX}{code}", argv, env=env | {"HOME": str(home), "NO_COLOR": "1"}, cwd=home)
        _wait_for(peer, b" ready.", f"the worker of host {code}")
        return {
            "namespace": ns,
            "address": address,
            "veth": outer,
            "queue": queue,
            "routes": len(targets),
            "relayed": {"tcp": len(relay["tcp"]), "udp": len(relay["udp"])},
            "devices": [d.hostname for d in members],
            "pid": peer.pid,
        }

    def status(self, ctx: LabContext) -> list[PeerStatus]:
        out = []
        for code, h in sorted(_read_state(ctx).get("hosts", {}).items()):
            peer = ctx.processes.get(f"{PREFIX}{code}")
            alive = peer is not None and peer.alive()
            ns_ok = _ip("netns", "pids", h["namespace"], check=False).returncode == 0
            detail = f"namespace {h['namespace']} {h['address']}, queue {h.get('queue', '?')}" + (
                f", worker pid {peer.pid}" if alive and peer else ", worker not running"
            )
            out.append(PeerStatus(self.name, f"host {code}", alive and ns_ok, detail))
        return out

    def down(self, ctx: LabContext) -> list[str]:
        stopped = ctx.processes.stop_all(PREFIX, timeout=30.0)  # warm shutdown: running batches finish
        for h in _read_state(ctx).get("hosts", {}).values():
            # The machine's end of the veth first: deleting it deletes the pair (and the route to the
            # host) at once, while the kernel frees a deleted namespace, and the veths in it, only
            # later. Until then the machine lists an interface that is no longer the lab's (a net-snmp
            # device of another lab reading the machine's interfaces would see it).
            if h.get("veth"):
                _ip("link", "del", h["veth"], check=False)
            _ip("netns", "del", h["namespace"], check=False)
        _state_file(ctx).unlink(missing_ok=True)
        return stopped
