"""Every format of the capacity report, in both languages, for every department of the lab cloud.

    flock /tmp/heavy.lock python bench/report_capacity.py [--config govops.yaml] [--rounds 3]

The capacity figures are computed once, as `govops report capacity` computes them (the composition
root's ports from ``--config`` or ``$GOVOPS_CONFIG``, e.g. the lab's ``govops.yaml``; the capacity
planner with OpenStack quotas and allocations, Placement's headroom and cloud-full dates, the
rightsizing, the lab Prometheus' usage) and timed on their own; then each format is built and
rendered ``--rounds`` times (median). Baseline, same run: Markdown, the format the report had before.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from report_timing import print_load, time_formats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, help="govops.yaml (default: $GOVOPS_CONFIG)")
    ap.add_argument("--at", type=float, help="report time (default: now)")
    ap.add_argument("--source", choices=("auto", "openstack", "prometheus"), default="auto")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, help="keep the rendered files here")
    args = ap.parse_args()
    if args.config:
        os.environ["GOVOPS_CONFIG"] = str(args.config)

    from govops.capacity.assemble import ReportRequest
    from govops.capacity.labels import Labelling
    from govops.capacity.planner import CapacityPlanner, CapacityPorts
    from govops.cli.application import Application
    from govops.reports.capacity import build
    from govops.reports.locale import Locale, zone
    from govops.reports.render import render_bytes

    # the figures exactly as `govops report capacity` gets them: the composition root's ports, the
    # planner with Placement's headroom, cloud-full dates and rightsizing
    app = Application()
    cfg = app.config
    assert cfg.config.prometheus.url, "no prometheus.url in the config"
    p = cfg.config.prometheus
    ports = CapacityPorts(
        departments=app.departments,
        metrics=app.metrics,
        cloud=app.cloud,
        cloud_configured=app.cloud_configured,
        store=None,
        labelling=Labelling(p.department_from, p.department_label, p.info_metric),
        host_label=p.host_label,
    )
    at = None if args.at is None else str(args.at)
    t0 = time.perf_counter()
    report = CapacityPlanner(ports).report(ReportRequest(at=at, cloud_full=True), args.source, rightsize=True)
    data_s = time.perf_counter() - t0
    servers = sum(h.running_vms for h in report.hypervisors)
    print(
        f"{len(report.departments)} departments, {len(report.hypervisors)} hypervisors, {servers:.0f} running VMs; "
        f"figures from {report.allocation_source} + Prometheus in {data_s:.2f} s ({report.queries} queries)"
    )
    tz = zone(cfg.config.report.timezone or "Asia/Shanghai")
    medians = time_formats(
        lambda fmt, lang: render_bytes(build(report, lang, loc=Locale(lang, tz)), fmt),
        rounds=args.rounds,
        out=args.out,
        prefix="capacity",
    )
    worst = max(medians.values())
    print(f"slowest format: {worst:.2f} s rendering, {worst + data_s:.2f} s with the figures (goal <= 10 s)")
    print_load()
    return 0


if __name__ == "__main__":
    sys.exit(main())
