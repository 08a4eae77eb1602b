"""Reading every department's quotas (``govops cloud quota show``): 8 concurrent reads next to the
one-at-a-time baseline, in the same run, against a real cloud.

    GOVOPS_CONFIG=/work/devlab/govops.yaml python bench/cloud_quota.py [ROUNDS]

Needs the cloud of that config (e.g. the lab: ``govops lab up --cloud``). Each round reads all
departments once with each setting, alternating, so both see the same load.
"""

from __future__ import annotations

import statistics
import sys
import time


def main() -> int:
    from govops.cloud.connection import resolve_target
    from govops.cloud.openstack import connect
    from govops.cloud.quota import READ_WORKERS, quota_report
    from govops.config import load_config
    from govops.departments import load_departments

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    config = load_config()
    depts = list(load_departments(config.departments_file))
    port = connect(resolve_target(None, config))
    quota_report(port, depts[:2])  # authenticate and discover the endpoints outside the timing
    times: dict[int, list[float]] = {1: [], READ_WORKERS: []}
    figures = {}
    for _ in range(rounds):
        for workers, spent in times.items():
            t0 = time.perf_counter()
            report = quota_report(port, depts, workers=workers)
            spent.append(time.perf_counter() - t0)
            # limits only: usage moves whenever anyone creates a server meanwhile
            figures[workers] = [
                (r.department.code, {k: u.limit for k, u in r.quotas.items.items()}) for r in report.rows
            ]
    assert figures[1] == figures[READ_WORKERS], "concurrent reads gave other limits"
    base = statistics.median(times[1])
    print(f"{len(depts)} departments, {rounds} rounds, median wall time:")
    print(f"  one at a time (baseline): {base:.2f} s")
    fast = statistics.median(times[READ_WORKERS])
    print(f"  {READ_WORKERS} concurrent:            {fast:.2f} s  ({base / fast:.1f}x faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
