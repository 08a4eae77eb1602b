"""The lab cloud alone: `govops lab up --cloud` on a fresh folder, seeded with multi-create batches
and, as the baseline in the same run, one create request per server (how the lab seeded before).

usage: python bench/lab_cloud_seed.py [--servers 100] [--only batched|single] [--dir-prefix /tmp/x]
       (needs `govops lab install --cloud`; GOVOPS_LAB_OPENSTACK_VENV to share an OpenStack venv)

Each variant starts its own cloud in a new folder, prints the phases `up` records (services,
hypervisors, departments, server create requests, ACTIVE/SHUTOFF) with the machine's load, checks
that every planned server exists under its planned name, then stops the lab. Run it under
`flock /work/heavy.lock`: each variant is a whole cloud bring-up.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from govops.lab.cloud import seed
from govops.lab.cloud.layout import Layout
from govops.lab.cloud.plan import PlannedServer
from govops.lab.core import Lab, LabOptions
from govops.observer import NullObserver

REPO = Path(__file__).resolve().parents[1]
BATCHED = seed.server_batches


def one_per_request(servers: list[PlannedServer]) -> list[list[PlannedServer]]:
    return [[s] for s in servers]


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run(variant: str, servers: int, prefix: str | None) -> dict[str, float]:
    # The baseline swaps only how servers are grouped into requests; everything else is the same code.
    seed.server_batches = BATCHED if variant == "batched" else one_per_request  # type: ignore[assignment]
    lab_dir = Path(tempfile.mkdtemp(prefix=f"govops-bench-seed-{variant}-", dir=prefix))
    lab = Lab(lab_dir, REPO)
    t0 = time.perf_counter()
    try:
        lab.up(["cloud"], LabOptions(servers=servers), NullObserver())
        total = time.perf_counter() - t0
        layout = Layout(lab_dir)
        timings: dict[str, float] = json.loads(layout.seeded_file.read_text())["timings"]
        planned = {
            s["name"] for d in json.loads(layout.truth_file.read_text())["departments"].values() for s in d["servers"]
        }
        found = {s["name"] for s in json.loads(layout.inventory_file.read_text())["servers"]}
        missing = planned - found
        print(f"  {variant:<8} cloud up {total:7.1f} s   load {load()}   servers {len(found)}/{len(planned)}"
              f"{'   MISSING ' + str(sorted(missing)[:5]) if missing else ''}", flush=True)  # fmt: skip
        for phase, seconds in timings.items():
            print(f"      {phase:<24} {seconds:7.1f} s")
        return {"total": total, **timings}
    finally:
        lab.down()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=100)
    ap.add_argument("--only", choices=("batched", "single"), default=None)
    ap.add_argument("--dir-prefix", default=None)
    args = ap.parse_args()
    print(f"lab cloud alone, {args.servers} servers; uptime: {os.popen('uptime').read().strip()}")
    results = {v: run(v, args.servers, args.dir_prefix) for v in ("single", "batched") if args.only in (None, v)}
    if len(results) == 2:
        single, batched = results["single"]["create_requests"], results["batched"]["create_requests"]
        print(f"  create requests: {single:.1f} s one per server (baseline) -> {batched:.1f} s batched")
    print(f"uptime: {os.popen('uptime').read().strip()}")


if __name__ == "__main__":
    main()
