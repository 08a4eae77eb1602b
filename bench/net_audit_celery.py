"""`govops net audit` local vs `--executor celery` with 1 and 2 workers, in one run, on one lab.

Against one running extranet lab (`govops lab up --extranet --dir DIR`; the full city is 2,297
devices), with a private Redis (the lab's broker component, in a temporary lab folder) and a
private PostgreSQL (tests/integration/postgres.py) on loopback:

1. local: the full audit (the default executor), its own SQLite store;
2. celery, 1 worker: `govops worker` (already running, as in production) and the coordinator
   `govops net audit --executor celery`; wall time is the coordinator's, from start to report;
3. celery, 2 workers: the same with two `govops worker`s (on this same machine: they share its
   cores, so this measures the executor's overhead, not the gain of a second machine).

Each line: wall time, devices per second, statuses as the lab's truth expects, CPU-seconds of
govops' processes (audit or coordinator + workers) per device, and the machine's load.
Issue 22's goal: Celery's wall time at most 15 % over local. `--nornir` adds issue 6's Nornir +
nornir_netmiko baseline (SSH only) for the CPU-s per device comparison.

`--pools prefork,engine` runs steps 2 and 3 for each worker pool (`govops worker --pool`) in the
same run; the engine pool's batch size and concurrency are their own options.

Usage: python bench/net_audit_celery.py --lab DIR [--batch-size 10] [--concurrency N] [--nornir]
       [--pools prefork,engine] [--engine-batch-size N] [--engine-concurrency N] [--workers 1,2] [--keep DIR]
       [--split-sessions] [--spy FILE] [--rounds N]
Needs the `celery` and `postgres` extras, redis-server and PostgreSQL's binaries.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# tests.integration.postgres: the private PostgreSQL helper
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from cpu import CpuMeter  # bench/ is not a package: its folder is put on sys.path above
from net_audit import lab_env, load, run_nornir

HERE = Path(__file__).resolve().parent

GOAL_OVERHEAD = 0.15
SSH_WORKERS = 50  # network.ssh_workers' default: the local audit's SSH sessions
GOVOPS_GROUPS = ("govops audit", "forkserver", "govops-ssh", "govops-snmp")


def write_config(lab: Path, path: Path, store: str, network: dict[str, Any]) -> Path:
    import yaml

    cfg = yaml.safe_load((lab / "govops.yaml").read_text(encoding="utf-8"))
    cfg["store"] = {"url": store}
    cfg.setdefault("network", {}).update(network)
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def govops_cpu(cpu: CpuMeter) -> float:
    return sum(v for k, v in cpu.by_group.items() if k in GOVOPS_GROUPS)


def audit(cfg: Path, env: dict[str, str], *extra: str, spy: Path | None = None) -> tuple[float, dict[str, Any]]:
    cmd = [sys.executable, "-m", "govops", "--config", str(cfg), "-o", "json", "-q", "net", "audit", *extra]
    out = tempfile.TemporaryFile()  # noqa: SIM115 - read back below; a pipe lost output under py-spy
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.PIPE, text=True)
    profiler = None
    if spy is not None:  # py-spy's wall-clock profile of the whole command (it adds its own cost)
        profiler = subprocess.Popen(
            ["py-spy", "record", "--idle", "--format", "raw", "-r", "100", "-o", str(spy), "-p", str(proc.pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    _none, stderr = proc.communicate()
    took = time.perf_counter() - t0
    if profiler is not None:
        profiler.wait()
    if proc.returncode not in (0, 3):
        raise SystemExit(f"govops net audit {' '.join(extra)} exited {proc.returncode}: {stderr[-1500:]}")
    out.seek(0)
    doc: dict[str, Any] = json.loads(out.read())
    out.close()
    return took, doc


def start_worker(
    cfg: Path,
    env: dict[str, str],
    name: str,
    concurrency: int | None,
    work: Path,
    queues: str = "govops",
    pool: str = "prefork",
) -> subprocess.Popen[bytes]:
    log = work / f"worker-{name}.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "govops",
                "--config",
                str(cfg),
                "worker",
                "--queues",
                queues,
                *(["--concurrency", str(concurrency)] if concurrency else []),
                "--name",
                f"{name}@bench",
                "--pool",
                pool,
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while b" ready." not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker {name} did not start: {log.read_text()[-1500:]}")
        time.sleep(0.2)
    return proc


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)  # warm shutdown: the main process stops its pool
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def report(name: str, took: float, doc: dict[str, Any], truth: dict[str, Any], cpu: CpuMeter) -> None:
    n = len(truth["devices"])
    right = sum(1 for d in doc["devices"] if d["status"] == truth["devices"][d["hostname"]]["expected_status"])
    own = govops_cpu(cpu)
    print(
        f"{name:<22} {took:7.1f} s  {n / took:6.1f} dev/s  {right}/{n} statuses as the truth expects  "
        f"govops {own:.1f} CPU-s = {1000 * own / n:.1f} CPU-ms/device {load()}"
    )
    print(f"  {cpu.line()}")


def one_round(
    args: argparse.Namespace,
    lab: Path,
    work: Path,
    env: dict[str, str],
    truth: dict[str, Any],
    broker: str,
    celery_cfg: Path,
    local_cfg: Path,
    pg_url: str,
    overheads: dict[str, list[float]],
) -> None:
    """The local audit, then each Celery step against it."""
    n = len(truth["devices"])
    with CpuMeter(lab=lab) as cpu:
        local_took, doc = audit(local_cfg, env)
    report("local", local_took, doc, truth, cpu)
    local_statuses = {d["hostname"]: d["status"] for d in doc["devices"]}
    steps = [(pool, count) for pool in args.pools.split(",") for count in map(int, args.workers.split(","))]
    for pool, count in steps:
        cfg, conc = celery_cfg, args.concurrency
        if pool == "engine":
            conc = args.engine_concurrency
            size = args.engine_batch_size or args.batch_size
            network: dict[str, Any] = {"broker": broker, "batch_size": size}
            if args.split_sessions and count > 1:
                # the workers share this one machine, as one collector's sessions would
                network |= {"ssh_workers": max(1, SSH_WORKERS // count), "snmp_concurrency": 40 // count}
                print(f"  {count} engine workers on this machine: {network['ssh_workers']} sessions each")
            cfg = write_config(lab, work / f"engine-{count}.yaml", pg_url, network)
        workers = [start_worker(cfg, env, f"{pool}{count}-w{i}", conc, work, pool=pool) for i in range(count)]
        try:
            with CpuMeter(lab=lab) as cpu:
                took, doc = audit(cfg, env, "--executor", "celery", spy=args.spy)
        finally:
            for w in workers:
                stop_worker(w)
        report(f"celery {pool}, {count} w × {conc or 'default'}", took, doc, truth, cpu)
        same = sum(1 for d in doc["devices"] if local_statuses.get(d["hostname"]) == d["status"])
        overhead = took / local_took - 1
        verdict = "met" if overhead <= GOAL_OVERHEAD else "NOT met"
        print(
            f"  overhead vs local: {100 * overhead:+.1f} % (goal <= {100 * GOAL_OVERHEAD:.0f} %: {verdict}); "
            f"{same}/{n} statuses as the local run"
        )
        overheads.setdefault(f"celery {pool}, {count} w", []).append(overhead)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lab", type=Path, required=True, help="folder of a running `govops lab up --extranet`")
    ap.add_argument("--batch-size", type=int, default=10, help="devices per Celery task")
    ap.add_argument("--concurrency", type=int, default=4 * (os.cpu_count() or 1), help="pool processes per worker")
    ap.add_argument("--pools", default="prefork", help="worker pools to measure, e.g. prefork,engine")
    ap.add_argument("--engine-batch-size", type=int, default=None, help="devices per task with --pool engine")
    ap.add_argument(
        "--engine-concurrency", type=int, default=None, help="batches at once per engine worker (default: the worker's)"
    )
    ap.add_argument("--nornir", action="store_true", help="add the Nornir baseline's CPU-s per device")
    ap.add_argument(
        "--split-sessions",
        action="store_true",
        help="engine workers on this one machine share its SSH sessions and SNMP polls (network.ssh_workers / N)",
    )
    ap.add_argument("--rounds", type=int, default=1, help="local then the Celery steps, this many times")
    ap.add_argument("--workers", default="1,2", help="numbers of workers to measure, e.g. 1 or 1,2")
    ap.add_argument("--spy", type=Path, default=None, help="py-spy raw profile of the coordinator to this file")
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (workers' logs, configs)")
    args = ap.parse_args()
    from govops.lab.core import Lab, LabOptions
    from govops.observer import NullObserver

    from tests.integration.postgres import postgres_server

    lab = args.lab.resolve()
    truth = json.loads((lab / "truth.json").read_text())
    creds = lab_env(lab)
    env = os.environ | creds | {"NO_COLOR": "1"}
    n = len(truth["devices"])
    print(
        f"lab {lab}: {n} devices, faults {truth['lab'].get('faults')}; batch {args.batch_size}, "
        f"{args.concurrency} processes per worker; machine: {os.cpu_count()} cores {load()}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-celery-") as tmp, postgres_server() as pg_url:
        work = Path(tmp)
        if args.keep is not None:
            work = args.keep.resolve()
            work.mkdir(parents=True, exist_ok=True)
        broker_lab = Lab(work / "lab", HERE.parent)
        try:
            broker_lab.up(["broker"], LabOptions(), NullObserver())
            broker = broker_lab.state()["components"]["broker"]["config"]["network"]["broker"]
            env |= broker_lab.state()["components"]["broker"]["env"]  # its password
            local_cfg = write_config(lab, work / "local.yaml", f"sqlite:///{work / 'local.db'}", {})
            celery_cfg = write_config(
                lab, work / "celery.yaml", pg_url, {"broker": broker, "batch_size": args.batch_size}
            )
            overheads: dict[str, list[float]] = {}
            for rnd in range(1, args.rounds + 1):
                if args.rounds > 1:
                    print(f"round {rnd} of {args.rounds}")
                one_round(args, lab, work, env, truth, broker, celery_cfg, local_cfg, pg_url, overheads)
            if args.rounds > 1:
                for name, values in overheads.items():
                    values.sort()
                    median = values[len(values) // 2]
                    print(
                        f"{name}: overhead vs the local audit of its round, median {100 * median:+.1f} %"
                        f" (all: {', '.join(f'{100 * v:+.1f} %' for v in values)})"
                    )
        finally:
            broker_lab.down()
        if args.nornir:
            own = resource.getrusage(resource.RUSAGE_SELF)
            with CpuMeter(lab=lab) as cpu:
                ntook, counts = run_nornir(truth, creds, 50, work)
            after = resource.getrusage(resource.RUSAGE_SELF)
            nornir_cpu = after.ru_utime + after.ru_stime - own.ru_utime - own.ru_stime
            ssh_n = sum(counts.values())
            print(
                f"{'Nornir + netmiko':<22} {ntook:7.1f} s  {dict(counts)} (SSH only)  "
                f"{nornir_cpu:.1f} CPU-s = {1000 * nornir_cpu / max(ssh_n, 1):.1f} CPU-ms/device {load()}"
            )
            print(f"  others: {cpu.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
