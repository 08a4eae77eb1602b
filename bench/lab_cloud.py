"""Lab cloud: time from nothing to a seeded OpenStack + Prometheus, a restart, and the whole lab's RSS.

usage: python bench/lab_cloud.py [--servers 64] [--days 30] [--step 3600] [--dir /tmp/x]
       (needs the OpenStack venv: `govops lab install --cloud`, or GOVOPS_LAB_OPENSTACK_VENV)

Baseline measured in the same run: the second ``up`` (after ``down``: databases, schemas and seed
kept, services restarted) next to the first one, and the services' share of the first ``up``
(started, nothing seeded) next to the seeding.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from govops.lab.cloud.layout import Layout
from govops.lab.core import Lab, LabOptions
from govops.lab.processes import Peer
from govops.observer import NullObserver

REPO = Path(__file__).resolve().parents[1]
PAGE = 4096


def _tree(pids: set[int]) -> set[int]:
    """``pids`` and every process descending from them (uwsgi workers, beam.smp, ...)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    out = set(pids)
    changed = True
    while changed:
        new = {c for c, p in parent.items() if p in out and c not in out}
        out |= new
        changed = bool(new)
    return out


def rss_mb(peers: list[Peer]) -> dict[str, float]:
    """Resident memory per peer, its children included (shared pages counted in each: an upper bound)."""
    out: dict[str, float] = {}
    for peer in peers:
        total = 0
        for pid in _tree({peer.pid}):
            try:
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
            except (OSError, ValueError, IndexError):
                continue
        out[peer.name] = total / 2**20
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=64)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--step", type=int, default=3600)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    lab_dir = args.dir or Path(tempfile.mkdtemp(prefix="govops-bench-cloud-"))
    lab = Lab(lab_dir, REPO)
    opts = LabOptions(history_days=args.days, step_seconds=args.step, servers=args.servers)
    print(f"lab cloud bench in {lab_dir}: {args.servers} servers, {args.days} d at {args.step} s")
    try:
        t0 = time.perf_counter()
        lab.up(["cloud", "prometheus"], opts, NullObserver())
        first = time.perf_counter() - t0
        seeded = json.loads(Layout(lab_dir).seeded_file.read_text())
        rss = rss_mb(lab.processes.peers())
        t0 = time.perf_counter()
        lab.up(["cloud", "prometheus"], opts, NullObserver())
        again = time.perf_counter() - t0
        t0 = time.perf_counter()
        stopped = lab.down()
        down = time.perf_counter() - t0
        t0 = time.perf_counter()
        lab.up(["cloud", "prometheus"], opts, NullObserver())
        second = time.perf_counter() - t0
    finally:
        lab.down()
    print(f"  first up (nothing -> seeded cloud + Prometheus): {first:6.1f} s")
    for phase, seconds in seeded.get("timings", {}).items():
        print(f"      {phase:<24} {seconds:6.1f} s")
    print(f"  up on a running lab (checks only):                {again:6.1f} s")
    print(f"  down ({len(stopped)} processes):                           {down:6.1f} s")
    print(f"  second up after down (baseline: first up):        {second:6.1f} s  vs {first:.1f} s")
    print(f"  RSS, whole lab: {sum(rss.values()):,.0f} MiB over {len(rss)} peers")
    for name, mb in sorted(rss.items(), key=lambda kv: -kv[1]):
        print(f"      {name:<28} {mb:7.0f} MiB")


if __name__ == "__main__":
    main()
