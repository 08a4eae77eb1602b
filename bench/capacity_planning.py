"""``capacity show`` + ``forecast`` + ``rightsize`` on a lab Prometheus of 1,000 VMs x 90 days at 5 min:
wall time and bytes received from Prometheus, next to a per-VM range-query script with
prometheus-api-client, in one run, same Prometheus.

    flock /tmp/heavy.lock python bench/capacity_planning.py [--dir /tmp/capbench] [--servers 1000 --days 90 --step 300]

The lab Prometheus is started in ``--dir`` (kept for the next run: a second start with the same
options only checks it; ``--down`` stops it at the end). Both sides compute, over a window of
``--window-days`` at 1 h resolution: per department CPU mean and p95, memory mean and p95, disk
written, the quota/allocation history (forecast), and per VM the p95 of CPU and memory (rightsizing:
idle VMs). The baseline asks, as a hand-written script does, one range query per VM and metric and
computes the rest in Python. Bytes are the JSON bodies received (decoded), counted on each client's
requests session.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GOAL_SECONDS, GOAL_BYTES_FACTOR = 5.0, 10.0


class Meter:
    """Counts responses and their decoded bytes on a requests session."""

    def __init__(self) -> None:
        self.bytes = 0
        self.requests = 0

    def hook(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self.bytes += len(response.content)
        self.requests += 1
        return response

    def attach(self, session: Any) -> None:
        session.hooks["response"].append(self.hook)


def govops_run(
    url: str, at: float, window: int, step: int, series: str = "auto"
) -> tuple[Meter, dict[str, float], int, str]:
    """show, forecast and rightsize as the commands run them (no cloud: Prometheus only). ``series``
    "auto" reads the recorded series of ``govops capacity rules`` (the lab loads and backfills them),
    "raw" the exporters' series as without the rules."""
    from govops.capacity.prometheus import connect
    from govops.capacity.rightsize import RightsizeOptions, RightsizeService
    from govops.capacity.service import CapacityService, Options
    from govops.departments import load_departments

    departments = load_departments(REPO / "inventories" / "departments.yaml")
    metrics = connect(url, timeout=300)
    meter = Meter()
    meter.attach(metrics._client._session)
    opts = Options(at=at, window=window, step=step, series=series)  # type: ignore[arg-type]
    show = CapacityService(metrics).report(list(departments), opts)  # capacity show
    # capacity forecast as its table runs it: quotas, allocations and their dates, no usage queries
    CapacityService(metrics).report(list(departments), replace(opts, usage=False))
    right = RightsizeService(metrics, None).rightsize(
        departments,
        RightsizeOptions(at=at, window=window, step=step, series=series),  # type: ignore[arg-type]
    )
    means = {d.code: d.resources["cpu"].used.mean or 0.0 for d in show.departments if d.resources["cpu"].used}
    idle = sum(1 for i in right.items if i.kind == "idle")
    return meter, means, idle, f"{show.usage_series}/{right.usage_series}"


def baseline_run(url: str, at: float, window: int, step: int) -> tuple[Meter, dict[str, float], int, str]:
    """One range query per VM and metric (prometheus-api-client), aggregates computed in Python."""
    from govops.capacity import metrics as m
    from prometheus_api_client import PrometheusConnect

    client = PrometheusConnect(url=url, disable_ssl=True)
    meter = Meter()
    meter.attach(client._session)
    start = datetime.fromtimestamp(at - window, UTC)
    end = datetime.fromtimestamp(at, UTC)
    vms = client.custom_query(f"last_over_time({m.VCPUS}[{window}s])", params={"time": str(at)})
    per_dept_cpu: dict[str, list[float]] = {}
    idle = 0
    rate = f"{2 * step - 1}s"

    def series(q: str) -> list[float]:
        r = client.custom_query_range(q, start_time=start, end_time=end, step=f"{step}s")
        return [float(v) for _, v in r[0]["values"]] if r else []

    def p95(xs: list[float]) -> float:
        s = sorted(xs)
        pos = (len(s) - 1) * 0.95
        lo, hi = math.floor(pos), math.ceil(pos)
        return s[lo] + (s[hi] - s[lo]) * (pos - lo) if s else 0.0

    for vm in vms:
        uuid, dept = vm["metric"]["uuid"], vm["metric"].get("department", "")
        sel = f'{{uuid="{uuid}"}}'
        cpu = series(f"rate({m.CPU_SECONDS}{sel}[{rate}])")
        mem = series(f"{m.MEM_AVAILABLE}{sel} - {m.MEM_USABLE}{sel}")
        series(f"{m.DISK_ALLOCATION}{sel}")
        series(f"{m.VCPUS}{sel}")
        if cpu and p95(cpu) < 0.05 * float(vm["value"][1]):
            idle += 1
        p95(mem)
        per_dept_cpu.setdefault(dept, [])
        if cpu:
            per_dept_cpu[dept].append(sum(cpu) / len(cpu))
    for metric in (m.Q_VCPUS_MAX, m.Q_VCPUS_USED, m.Q_MEMORY_MAX, m.Q_MEMORY_USED, m.Q_VOLUME_MAX, m.Q_VOLUME_USED):
        for dept in per_dept_cpu:
            client.custom_query_range(f'{metric}{{department="{dept}"}}', start_time=start, end_time=end, step="86400s")
    return meter, {d: sum(v) for d, v in per_dept_cpu.items()}, idle, "raw"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default="/tmp/capbench", help="the lab folder (kept between runs)")
    ap.add_argument("--servers", type=int, default=1000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--step", type=int, default=300, help="history step of the lab (s)")
    ap.add_argument("--window-days", type=int, default=90)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--down", action="store_true", help="stop the lab Prometheus at the end")
    ap.add_argument("--no-raw", action="store_true", help="do not also time govops on the raw series")
    args = ap.parse_args()

    import json

    from govops.lab.core import Lab, LabOptions
    from govops.observer import NullObserver

    lab = Lab(Path(args.dir), REPO)
    t0 = time.perf_counter()
    options = LabOptions(seed=1, history_days=args.days, step_seconds=args.step, servers=args.servers)
    result = lab.up(["prometheus"], options, NullObserver())
    url = result["prometheus"].config["prometheus"]["url"]
    truth = json.loads((lab.dir / "prometheus-truth.json").read_text())
    at = float(truth["window"]["end"])
    print(
        f"lab Prometheus: {args.servers} VMs, {args.days} d every {args.step} s, up in {time.perf_counter() - t0:.1f} s"
    )
    try:
        window, step = args.window_days * 86400, 3600
        times: dict[str, list[float]] = {"govops": [], "raw": [], "baseline": []}
        out: dict[str, tuple[Meter, dict[str, float], int, str]] = {}
        load0 = os.getloadavg()
        for _ in range(args.rounds):
            t = time.perf_counter()
            out["govops"] = govops_run(url, at, window, step)
            times["govops"].append(time.perf_counter() - t)
            if not args.no_raw:
                t = time.perf_counter()
                out["raw"] = govops_run(url, at, window, step, "raw")
                times["raw"].append(time.perf_counter() - t)
            t = time.perf_counter()
            out["baseline"] = baseline_run(url, at, window, step)
            times["baseline"].append(time.perf_counter() - t)
        g, b = statistics.median(times["govops"]), statistics.median(times["baseline"])
        gm, bm = out["govops"][0], out["baseline"][0]
        ours, theirs = out["govops"][1], out["baseline"][1]
        diff = max((abs(ours.get(c, 0.0) - v) / v for c, v in theirs.items() if v and c), default=0.0)
        load = os.getloadavg()
        print(
            f"window {args.window_days} d at {step} s, {args.rounds} round(s) (median), "
            f"load {load0[0]:.1f} before, {load[0]:.1f} after:"
        )
        print(f"  baseline (per-VM range queries): {b:7.2f} s, {bm.requests:6d} requests, {bm.bytes / 1e6:8.1f} MB")
        print(
            f"  govops show+forecast+rightsize: {g:7.2f} s, {gm.requests:6d} requests, {gm.bytes / 1e6:8.1f} MB "
            f"(series: show/rightsize {out['govops'][3]})"
        )
        if "raw" in out:
            r, rm = statistics.median(times["raw"]), out["raw"][0]
            raw_means = out["raw"][1]
            rdiff = max((abs(ours.get(c, 0.0) - v) / v for c, v in raw_means.items() if v and c), default=0.0)
            print(
                f"  govops on the raw series:       {r:7.2f} s, {rm.requests:6d} requests, {rm.bytes / 1e6:8.1f} MB "
                f"(series {out['raw'][3]}; idle VMs {out['raw'][2]}; largest CPU-mean difference to the recorded "
                f"path {100 * rdiff:.3f} %)"
            )
        print(
            f"  {b / g:.1f}x faster, {bm.bytes / max(1, gm.bytes):.0f}x fewer bytes "
            f"(goal: <= {GOAL_SECONDS:g} s and >= {GOAL_BYTES_FACTOR:g}x fewer bytes); "
            f"idle VMs found: govops {out['govops'][2]}, baseline {out['baseline'][2]}, "
            f"planted {len(truth['idle_vms'])}; "
            f"largest CPU-mean difference {100 * diff:.2f} % (sampled mean vs counter mean)"
        )
        return 0
    finally:
        if args.down:
            lab.down()


if __name__ == "__main__":
    sys.exit(main())
