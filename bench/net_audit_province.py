"""A province over Celery: `govops net audit` local vs `--executor celery` with 2 workers, in one run.

Against a running province lab (`govops lab up --extranet --cities 5 [--lean] --dir DIR`: 5 cities
of the city's shape, 11,485 devices, each city's devices in the inventory group `city-CODE`), with
a private Redis (the lab's broker component, in a temporary lab folder) and a private PostgreSQL
(tests/integration/postgres.py) on loopback:

1. local: the whole province audited by one `govops net audit` (the default executor);
2. celery: `network.routes` sends each city's group to its own queue (`city-jz: jz`, ...), two
   `govops worker`s read every city's queue (a provincial centre's two collectors; on this same
   machine they share its cores with everything else), and the coordinator
   `govops net audit --executor celery` follows the run.

Each line: wall time, devices per second, statuses as the lab's truth expects, and CPU-seconds per
device of each party: the coordinator, the workers (their pool processes and audit helpers), the
broker (Redis) and the results store (PostgreSQL: the postmaster and its backends), and the lab's
own device agents. The load average is printed with each line.

Usage: python bench/net_audit_province.py --lab DIR [--workers 2] [--batch-size 10] [--concurrency N]
       [--pool prefork|engine] [--split-sessions] [--no-local]
Needs the `celery` and `postgres` extras, redis-server and PostgreSQL's binaries.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
import cpu as cpu_mod  # bench/ is not a package: its folder is put on sys.path above
from cpu import CpuMeter
from net_audit import lab_env, load
from net_audit_celery import GOVOPS_GROUPS, audit, start_worker, stop_worker, write_config

HERE = Path(__file__).resolve().parent
_plain_group = cpu_mod._group


def _group(pid: int) -> str:
    """bench/cpu.py's groups, with the Celery run's parties told apart by their command lines."""
    cmd = Path("/proc", str(pid), "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    if "redis-server" in cmd:
        return "broker (redis)"
    if cmd.startswith("postgres"):
        return "store (postgresql)"
    if "-m govops" in cmd and " worker " in cmd:
        return "workers"  # the worker's main process and its prefork pool (forked: same cmdline)
    if "-m govops" in cmd and "--executor celery" in cmd:
        return "coordinator"
    return _plain_group(pid)


cpu_mod._group = _group


class Meter(CpuMeter):
    """Counts the private PostgreSQL too: its postmaster is a daemon (init's child), not ours."""

    def __init__(self, lab: Path, postmaster: int | None) -> None:
        super().__init__(lab=lab)
        self.postmaster = postmaster

    def _counts(self, pid: int) -> bool:
        if super()._counts(pid):
            return True
        up = pid
        for _ in range(8):
            if up == self.postmaster:
                self._ours[pid] = True
                return True
            up = self._parents.get(up, 0)
            if up <= 1:
                break
        return False


def postmaster_pid(url: str) -> int | None:
    port = url.rsplit(":", 1)[1].split("/", maxsplit=1)[0]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path("/proc", entry, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "postgres" in cmd and f"port={port}" in cmd and "pg_ctl" not in cmd:
                return int(entry)
    return None


def report(name: str, took: float, doc: dict[str, Any], truth: dict[str, Any], meter: CpuMeter) -> None:
    n = len(truth["devices"])
    right = sum(1 for d in doc["devices"] if d["status"] == truth["devices"][d["hostname"]]["expected_status"])
    print(f"{name:<22} {took:7.1f} s  {n / took:6.1f} dev/s  {right}/{n} statuses as the truth expects {load()}")
    groups = dict(meter.by_group)
    if "coordinator" in groups or "workers" in groups:
        # the workers' audit helpers (fork server, SSH and SNMP processes) are the workers' work
        groups["workers"] = groups.get("workers", 0.0) + sum(groups.pop(g, 0.0) for g in GOVOPS_GROUPS)
    else:
        groups["govops audit"] = sum(groups.pop(g, 0.0) for g in GOVOPS_GROUPS)
    for g, secs in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {g:<20} {secs:8.1f} CPU-s = {1000 * secs / n:6.2f} CPU-ms/device")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lab", type=Path, required=True, help="folder of a running `govops lab up --extranet --cities N`")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=10, help="devices per Celery task")
    ap.add_argument("--concurrency", type=int, default=None, help="batches at once per worker (default: the worker's)")
    ap.add_argument("--pool", default="prefork", choices=("prefork", "engine"), help="the workers' pool (`--pool`)")
    ap.add_argument("--no-local", action="store_true", help="skip the local audit")
    ap.add_argument(
        "--split-sessions",
        action="store_true",
        help="the workers on this one machine share its SSH sessions and SNMP polls (network.ssh_workers / N)",
    )
    args = ap.parse_args()
    from govops.lab.core import Lab, LabOptions
    from govops.lab.extranet.province import city
    from govops.observer import NullObserver

    from tests.integration.postgres import postgres_server

    lab = args.lab.resolve()
    truth = json.loads((lab / "truth.json").read_text())
    cities = int(truth["lab"].get("cities", 1))
    n = len(truth["devices"])
    env = os.environ | lab_env(lab) | {"NO_COLOR": "1"}
    queues = [city(k).code for k in range(cities)]
    routes = {city(k).group: city(k).code for k in range(cities)}
    print(
        f"lab {lab}: {cities} cities, {n} devices, faults {truth['lab'].get('faults')}; {args.workers} workers "
        f"({args.pool} pool, concurrency {args.concurrency or 'default'}) reading queues {','.join(queues)}; "
        f"batch {args.batch_size}; "
        f"machine: {os.cpu_count()} cores {load()}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-province-") as tmp, postgres_server() as pg_url:
        work = Path(tmp)
        postmaster = postmaster_pid(pg_url)
        broker_lab = Lab(work / "lab", HERE.parent)
        try:
            broker_lab.up(["broker"], LabOptions(), NullObserver())
            state = broker_lab.state()["components"]["broker"]
            env |= state["env"]
            network = {"broker": state["config"]["network"]["broker"], "batch_size": args.batch_size, "routes": routes}
            if args.split_sessions and args.workers > 1:
                # the workers share this one machine, as one collector's sessions would
                network |= {"ssh_workers": max(1, 50 // args.workers), "snmp_concurrency": 40 // args.workers}
                print(f"  {args.workers} workers on this machine: {network['ssh_workers']} SSH sessions each")
            celery_cfg = write_config(lab, work / "celery.yaml", pg_url, network)
            if not args.no_local:
                local_cfg = write_config(lab, work / "local.yaml", f"sqlite:///{work / 'local.db'}", {})
                with Meter(lab, postmaster) as meter:
                    local_took, doc = audit(local_cfg, env)
                report("local", local_took, doc, truth, meter)
            workers = [
                start_worker(celery_cfg, env, f"w{i}", args.concurrency, work, ",".join(queues), args.pool)
                for i in range(args.workers)
            ]
            try:
                with Meter(lab, postmaster) as meter:
                    took, doc = audit(celery_cfg, env, "--executor", "celery")
            finally:
                for w in workers:
                    stop_worker(w)
            report(f"celery {args.pool}, {args.workers} workers", took, doc, truth, meter)
            if not args.no_local:
                print(f"  wall vs local: {100 * (took / local_took - 1):+.1f} %")
        finally:
            broker_lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
