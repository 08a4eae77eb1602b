"""Load + validate the 2,297-site sample inventory (issue 3 goal: under 1 s)."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from govops.network.inventory import load_inventory

ROOT = Path(__file__).resolve().parents[1] / "inventories" / "extranet"


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        inv = load_inventory(ROOT)
        times.append(time.perf_counter() - t0)
    print(f"inventory {inv.name}: {len(inv.sites)} sites, {len(inv)} devices")
    med = statistics.median(times)
    print(f"load+validate: min {min(times):.3f} s, median {med:.3f} s ({runs} runs; goal < 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
