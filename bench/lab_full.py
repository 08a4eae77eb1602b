"""The whole lab at full size: `govops lab up --all` on a fresh folder, per component, with peak memory.

usage: python bench/lab_full.py [--devices 2297] [--servers 300] [--days 90] [--step 300] [--dir /tmp/x]
                                [--build-snapshot | --no-snapshot]
       (needs `govops lab install --all`; GOVOPS_LAB_OPENSTACK_VENV to share an OpenStack venv)

The cloud restores the install-time seeded-cloud snapshot of its plan when there is one
(``--build-snapshot`` makes it first and prints how long that took: the install-time cost);
``--no-snapshot`` seeds through the APIs, the baseline to run in the same session.

Prints the time of each component's `up` (extranet, cloud, prometheus) and their total next to the
issue's goal (the whole lab in under 5 minutes on a fresh machine), the peak resident and
proportional memory of every process the lab started (sampled every 2 s), then `lab down` and
whether anything the lab started is still listening. Run it under `flock /work/heavy.lock`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from govops.lab.cloud import snapshot
from govops.lab.cloud.layout import Layout
from govops.lab.core import Lab, LabOptions
from govops.lab.processes import still_listening
from govops.observer import NullObserver

REPO = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 300
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(stat.parent.name))
    return kids


def lab_pids(lab: Lab) -> set[int]:
    """Every live process the lab started, with their children (uwsgi workers, beam.smp, ...)."""
    kids = _children()
    todo = [p.pid for p in lab.processes.peers() if p.alive()]
    seen: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(kids.get(pid, []))
    return seen


def memory_mib(pids: set[int]) -> tuple[float, float]:
    """(RSS, PSS) summed over ``pids``: RSS counts shared pages in each process, PSS shares them out."""
    rss = pss = 0
    for pid in pids:
        try:
            rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
                    break
        except (OSError, ValueError, IndexError):
            continue
    return rss / 2**20, pss / 2**20


class Sampler(threading.Thread):
    def __init__(self, lab: Lab) -> None:
        super().__init__(daemon=True)
        self.lab = lab
        self.stop = threading.Event()
        self.peak = (0.0, 0.0, 0)  # RSS MiB, PSS MiB, processes

    def run(self) -> None:
        while not self.stop.wait(2.0):
            pids = lab_pids(self.lab)
            rss, pss = memory_mib(pids)
            if pss > self.peak[1]:
                self.peak = (rss, pss, len(pids))


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=2297)
    ap.add_argument("--servers", type=int, default=300)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--step", type=int, default=300)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--no-snapshot", action="store_true", help="seed the cloud through the APIs (the baseline)")
    ap.add_argument(
        "--build-snapshot", action="store_true", help="first make the seeded-cloud snapshot if missing (timed)"
    )
    args = ap.parse_args()
    lab_dir = args.dir or Path(tempfile.mkdtemp(prefix="govops-bench-full-"))
    lab = Lab(lab_dir, REPO)
    opts = LabOptions(
        devices=args.devices,
        history_days=args.days,
        step_seconds=args.step,
        servers=args.servers,
        snapshot=not args.no_snapshot,
    )
    print(f"whole lab in {lab_dir}: {args.devices} devices, {args.servers} servers, {args.days} d at {args.step} s")
    print(f"uptime: {uptime()}")
    if args.build_snapshot and not args.no_snapshot:
        venv = Layout(lab_dir).venv
        t0 = time.perf_counter()
        _, seconds = snapshot.build_if_missing(venv, REPO, args.servers, opts.seed)
        took = f"made in {time.perf_counter() - t0:.1f} s" if seconds else "already there"
        print(f"  install-time seeded-cloud snapshot ({args.servers} servers): {took}   load {load()}", flush=True)
    sampler = Sampler(lab)
    sampler.start()
    times: dict[str, float] = {}
    try:
        for name in ("extranet", "cloud", "prometheus"):
            t0 = time.perf_counter()
            lab.up([name], opts, NullObserver())
            times[name] = time.perf_counter() - t0
            print(f"  {name:<10} up {times[name]:7.1f} s   load {load()}", flush=True)
    finally:
        sampler.stop.set()
        sampler.join()
        peers = lab.processes.peers()
        pids = lab_pids(lab)
        t0 = time.perf_counter()
        stopped = lab.down()
        down = time.perf_counter() - t0
        left = still_listening(peers)
        alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    total = sum(times.values())
    print(f"  total      up {total:7.1f} s   (goal < {GOAL_SECONDS} s: {'met' if total < GOAL_SECONDS else 'NOT met'})")
    seeded = Layout(lab_dir).seeded_file
    if seeded.exists():
        record = json.loads(seeded.read_text())
        source = record.get("restored_from")
        how = f"restored from snapshot {source['snapshot']}" if source else "seeded through the APIs"
        print(f"      cloud: {how}")
        for phase, seconds in record.get("timings", {}).items():
            print(f"      cloud {phase:<24} {seconds:7.1f} s")
    backfill = lab_dir / "prometheus" / "backfill.json"
    if backfill.exists():
        stats = json.loads(backfill.read_text())["stats"]
        print(
            f"      prometheus backfill {stats['samples']:,} samples: {stats['wall_seconds']:.1f} s "
            f"(generate {stats['generate_seconds']:.0f} s + promtool {stats['promtool_seconds']:.0f} s over threads), "
            f"{stats['text_bytes'] / 2**30:.1f} GiB of text -> {stats['data_bytes'] / 2**20:.0f} MiB of blocks"
        )
    rss, pss, procs = sampler.peak
    print(f"  peak memory of the lab's {procs} processes: PSS {pss / 1024:.1f} GiB (RSS summed {rss / 1024:.1f} GiB)")
    print(f"  down: {len(stopped)} peers in {down:.1f} s; still listening: {left or 'nothing'}; "
          f"processes left: {len(alive)}")  # fmt: skip
    print(f"uptime: {uptime()}")


if __name__ == "__main__":
    main()
