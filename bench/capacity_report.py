"""The capacity report for every department: govops' batched queries next to the obvious script that
asks prometheus-api-client one query per department per metric, in the same run, same Prometheus.

    flock /work/heavy.lock python bench/capacity_report.py [--url URL | --servers 300 --days 90 --step 300] [--rounds 3]

Without ``--url`` it starts the lab's Prometheus (``govops lab up`` component, synthetic cloud of
``--servers`` VMs, ``--days`` of history every ``--step`` seconds) in a temporary folder and stops
it at the end. Both sides compute the same figures per department (CPU mean and p95, memory mean,
p95 and latest, disk written, quota and allocation of vCPU, RAM, volumes and instances, and the
volume allocation's daily history for the forecast); each round runs both, alternating, and the
per-department CPU means are compared so the baseline is not doing less work.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def baseline(url: str, codes: list[str], at: float, window: int, step: int) -> tuple[int, dict[str, float]]:
    """One prometheus-api-client query per department and metric, as a hand-written script would."""
    from govops.lab.prometheus import metrics as m
    from prometheus_api_client import PrometheusConnect

    client = PrometheusConnect(url=url, disable_ssl=True)
    requests = 0
    cpu_mean: dict[str, float] = {}
    params = {"time": str(at)}

    def one(q: str) -> float | None:
        nonlocal requests
        requests += 1
        r = client.custom_query(q, params=params)
        return float(r[0]["value"][1]) if r else None

    for code in codes:
        sel = f'{{department="{code}"}}'
        cpu = f"sum(rate({m.CPU_SECONDS}{sel}[{2 * step - 1}s]))"
        mem = f"sum({m.MEM_AVAILABLE}{sel} - {m.MEM_USABLE}{sel})"
        cpu_mean[code] = one(f"sum(rate({m.CPU_SECONDS}{sel}[{window}s]))") or 0.0
        one(f"quantile_over_time(0.95, ({cpu})[{window}s:{step}s])")
        one(f"avg_over_time(({mem})[{window}s:{step}s])")
        one(f"quantile_over_time(0.95, ({mem})[{window}s:{step}s])")
        one(mem)
        one(f"sum({m.DISK_ALLOCATION}{sel})")
        for metric in (m.Q_VCPUS_MAX, m.Q_VCPUS_USED, m.Q_MEMORY_MAX, m.Q_MEMORY_USED):
            one(f"sum({metric}{sel})")
        for metric in (m.Q_VOLUME_MAX, m.Q_INSTANCES_MAX, m.Q_INSTANCES_USED):
            one(f"sum({metric}{sel})")
        requests += 1
        client.custom_query_range(
            f"sum({m.Q_VOLUME_USED}{sel})",
            start_time=datetime.fromtimestamp(at - window, UTC),
            end_time=datetime.fromtimestamp(at, UTC),
            step="86400s",
        )
    return requests, cpu_mean


def govops(url: str, at: float, window: int, step: int) -> tuple[int, dict[str, float]]:
    from govops.capacity.prometheus import connect
    from govops.capacity.service import CapacityService, Options
    from govops.departments import load_departments

    depts = list(load_departments(REPO / "inventories" / "departments.yaml"))
    report = CapacityService(connect(url, timeout=300)).report(depts, Options(at=at, window=window, step=step))
    means = {d.code: d.resources["cpu"].used.mean or 0.0 for d in report.departments if d.resources["cpu"].used}
    return report.queries, means


def start_lab(folder: Path, servers: int, days: int, step: int) -> tuple[Any, str, float]:
    import json

    from govops.lab.core import Lab, LabOptions
    from govops.observer import NullObserver

    lab = Lab(folder, REPO)
    t0 = time.perf_counter()
    result = lab.up(
        ["prometheus"], LabOptions(seed=1, history_days=days, step_seconds=step, servers=servers), NullObserver()
    )
    print(f"lab Prometheus: {servers} VMs, {days} d every {step} s, up in {time.perf_counter() - t0:.1f} s")
    truth = json.loads((lab.dir / "prometheus-truth.json").read_text())
    return lab, result["prometheus"].config["prometheus"]["url"], float(truth["window"]["end"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="an existing Prometheus with the lab's metric names (else a lab is started)")
    ap.add_argument("--at", type=float, help="report time (default: now, or the lab history's end)")
    ap.add_argument("--servers", type=int, default=300)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--step", type=int, default=3600, help="history step of the lab (s)")
    ap.add_argument("--window-days", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    lab = None
    tmp = None
    try:
        if args.url:
            url, at = args.url, args.at or time.time()
        else:
            tmp = tempfile.TemporaryDirectory(prefix="bench-capacity-")
            lab, url, end = start_lab(Path(tmp.name), args.servers, args.days, args.step)
            at = args.at or end
        from govops.departments import load_departments

        codes = [d.code for d in load_departments(REPO / "inventories" / "departments.yaml")]
        window, step = args.window_days * 86400, 3600
        times: dict[str, list[float]] = {"govops": [], "baseline": []}
        results: dict[str, tuple[int, dict[str, float]]] = {}
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            results["govops"] = govops(url, at, window, step)
            times["govops"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            results["baseline"] = baseline(url, codes, at, window, step)
            times["baseline"].append(time.perf_counter() - t0)
        ours, theirs = results["govops"][1], results["baseline"][1]
        diff = max((abs(ours.get(c, 0.0) - v) / v for c, v in theirs.items() if v), default=0.0)
        g, b = statistics.median(times["govops"]), statistics.median(times["baseline"])
        print(f"{len(codes)} departments, window {args.window_days} d at {step} s, {args.rounds} rounds (median):")
        print(f"  baseline, one query per department per metric: {b:.2f} s, {results['baseline'][0]} requests")
        print(f"  govops capacity (batched):                     {g:.2f} s, {results['govops'][0]} requests")
        print(f"  speed-up {b / g:.1f}x; largest CPU-mean difference between the two: {100 * diff:.3f} %")
        print(f"  uptime: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (load 1/5/15 min)")
        return 0
    finally:
        if lab is not None:
            lab.down()
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
