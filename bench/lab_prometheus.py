"""Lab Prometheus: backfill speed and the cost of capacity-report PromQL forms.

usage: python bench/lab_prometheus.py [--days 90] [--step 300] [--servers 300] [--dir /tmp/x]

Baseline measured in the same run: one day of the same history imported the reference way (2-hour
blocks, promtool re-reading the file per block) next to the lab's way (6-hour blocks).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import tempfile
import time
from pathlib import Path

from govops.departments import load_departments
from govops.lab.core import Lab, LabOptions
from govops.lab.prometheus import history as h
from govops.lab.prometheus.backfill import backfill
from govops.lab.prometheus.inventory import synthesise
from govops.observer import NullObserver

REPO = Path(__file__).resolve().parents[1]


def day_baseline(servers: int, step: int, work: Path) -> None:
    deps = load_departments(REPO / "inventories" / "departments.yaml")
    inv = synthesise(deps, 1, servers)
    plan = h.make_plan(inv, deps, 1, h.Window.ending(time.time(), 2, step))
    a, b = plan.window.chunks()[1]
    one = h.Plan(
        plan.seed,
        h.Window(plan.window.start + a * step, step, b - a),
        plan.vms,
        plan.projects,
        plan.hypervisors,
        plan.growing,
        plan.near_quota,
    )
    for block, per_block, how in (
        ("2h", False, "one file, 2h blocks (reference)"),
        ("6h", False, "one file, 6h blocks (the lab until now)"),
        ("54h", True, "one file per 54h block (the lab)"),
    ):
        out = work / f"baseline-{block}-{per_block}"
        s = backfill(one, out, work / "tmp", workers=1, block_duration=block, file_per_block=per_block)
        print(
            f"  one day, {s.samples:,} samples, {how}: promtool {s.promtool_seconds:.2f} s "
            f"({s.promtool_seconds / s.samples * 1e6:.2f} s/M), python {s.generate_seconds:.2f} s, "
            f"{s.blocks} blocks"
        )
        shutil.rmtree(out)


def timed(label: str, fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    r = fn()
    d = time.perf_counter() - t0
    points = sum(len(s.get("values", [])) for s in r) if r and "values" in r[0] else len(r)
    print(f"  {d:6.2f} s  {label}  ({len(r)} series, {points} points)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--step", type=int, default=300)
    ap.add_argument("--servers", type=int, default=300)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="govops-bench-prom-"))
    print(f"baseline (same machine, same run) in {work}:")
    day_baseline(args.servers, args.step, work)

    lab = Lab(work / "lab", REPO)
    opts = LabOptions(history_days=args.days, step_seconds=args.step, servers=args.servers)
    try:
        t0 = time.perf_counter()
        res = lab.up(["prometheus"], opts, NullObserver())
        up_s = time.perf_counter() - t0
        marker = json.loads((lab.dir / "prometheus" / "backfill.json").read_text())
        st = marker["stats"]
        print(f"lab up, {args.days} d at {args.step} s, {args.servers} servers: {up_s:.1f} s wall")
        print(
            f"  {marker['series']:,} series, {marker['samples']:,} samples, {st['files']} files, "
            f"{st['text_bytes'] / 1e9:.2f} GB OpenMetrics, {st['blocks']} blocks, {st['data_bytes'] / 1e6:.0f} MB TSDB"
        )
        print(
            f"  backfill wall {st['wall_seconds']:.1f} s ({st['wall_seconds'] / marker['samples'] * 1e6:.2f} s/M "
            f"samples); summed over threads: python {st['generate_seconds']:.1f} s, "
            f"promtool {st['promtool_seconds']:.1f} s"
        )
        t0 = time.perf_counter()
        lab.up(["prometheus"], opts, NullObserver())
        print(f"  second up (cached): {time.perf_counter() - t0:.2f} s")

        from prometheus_api_client import PrometheusConnect

        p = PrometheusConnect(url=res["prometheus"].config["prometheus"]["url"], disable_ssl=True)
        truth = json.loads((lab.dir / "prometheus-truth.json").read_text())
        end = dt.datetime.fromtimestamp(truth["window"]["end"], dt.UTC)
        start = dt.datetime.fromtimestamp(truth["window"]["start"], dt.UTC) + dt.timedelta(hours=1)
        cpu = "libvirt_domain_info_cpu_time_seconds_total"
        mem = "libvirt_domain_memory_stats_available_bytes - libvirt_domain_memory_stats_usable_bytes"
        print("queries over the whole history (range queries step 1h unless instant):")

        def rng(q: str):  # type: ignore[no-untyped-def]
            return lambda: p.custom_query_range(q, start_time=start, end_time=end, step="1h")

        def inst(q: str):  # type: ignore[no-untyped-def]
            return lambda: p.custom_query(q, params={"time": end.timestamp()})

        timed(f"sum by (department) (rate({cpu}[1h]))", rng(f"sum by (department) (rate({cpu}[1h]))"))
        timed(f"sum by (department) ({mem})  [raw gauges]", rng(f"sum by (department) ({mem})"))
        timed(
            "sum by (department) (avg_over_time(available[1h]) - avg_over_time(usable[1h]))",
            rng(
                "sum by (department) (avg_over_time(libvirt_domain_memory_stats_available_bytes[1h])"
                " - avg_over_time(libvirt_domain_memory_stats_usable_bytes[1h]))"
            ),
        )
        days = args.days
        timed(
            f"instant sum by (department) (increase({cpu}[{days}d]))",
            inst(f"sum by (department) (increase({cpu}[{days}d]))"),
        )
        timed(
            f"instant quantile_over_time(0.95, sum by (department) (rate(cpu[1h]))[{days}d:1h])",
            inst(f"quantile_over_time(0.95, sum by (department) (rate({cpu}[1h]))[{days}d:1h])"),
        )
        timed(
            f"instant quantile_over_time(0.95, rate(cpu[1h])[{days}d:1h]) per VM",
            inst(f"quantile_over_time(0.95, rate({cpu}[1h])[{days}d:1h])"),
        )
        timed(
            "instant predict_linear(openstack_cinder_limits_volume_used_gb[30d], 30*86400)",
            inst("predict_linear(openstack_cinder_limits_volume_used_gb[30d], 30*86400)"),
        )
        timed(
            f"instant deriv(sum by (department) (avg_over_time(available-usable...)))[{days}d:1d]",
            inst(f"deriv((sum by (department) ({mem}))[{days}d:1d])"),
        )
    finally:
        print("down:", lab.down())


if __name__ == "__main__":
    main()
