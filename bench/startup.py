"""`govops --help` start-up time next to `openstack --help`, measured in the same run.

Goal (issue 3): govops <= 0.25 s and >= 6x faster than python-openstackclient.
Each command runs once to warm the page cache, then N times; we report min and median wall time.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 10


def measure(argv: list[str]) -> list[float]:
    subprocess.run(argv, capture_output=True, check=False)
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr[-500:]!r}")
    return times


def main() -> int:
    govops = shutil.which("govops")
    openstack = shutil.which("openstack")
    if govops is None:
        raise SystemExit("govops is not installed: make dev")
    rows = [("govops --help", measure([govops, "--help"]))]
    rows.append(("govops net --help", measure([govops, "net", "--help"])))
    if openstack is not None:
        rows.append(("openstack --help (baseline)", measure([openstack, "--help"])))
    else:
        print("openstack not installed: pip install 'govops[bench]' for the baseline", file=sys.stderr)
    print(f"{'command':32} {'min s':>8} {'median s':>9}   ({RUNS} runs each)")
    for name, t in rows:
        print(f"{name:32} {min(t):8.3f} {statistics.median(t):9.3f}")
    if openstack is not None:
        g, o = statistics.median(rows[0][1]), statistics.median(rows[-1][1])
        print(f"speed-up (median): {o / g:.1f}x   goal: govops <= 0.25 s and >= 6x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
