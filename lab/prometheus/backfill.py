"""Turn a history plan into TSDB blocks with ``promtool tsdb create-blocks-from openmetrics``.

One OpenMetrics file per UTC day: promtool re-reads its whole input once per block it cuts, so one
file for the whole window takes hours, while a day file with 6-hour blocks is read four times.
Files are generated and imported by a small thread pool: promtool runs outside the GIL, so one
thread writes the next day while another's promtool imports the previous one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from govops.lab.processes import LabError
from govops.lab.prometheus.history import Plan, chunk_lines
from govops.observer import NullObserver, Observer

BLOCK_DURATION = "6h"  # divides a day: one day file never shares a block with its neighbour


@dataclass
class BackfillStats:
    files: int = 0
    samples: int = 0
    text_bytes: int = 0
    generate_seconds: float = 0.0  # summed over threads
    promtool_seconds: float = 0.0  # summed over threads
    wall_seconds: float = 0.0
    blocks: int = 0
    data_bytes: int = 0


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        raise LabError("promtool is not installed", hint="govops lab install --cloud (apt package prometheus)")
    return path


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def write_chunk(plan: Plan, a: int, b: int, path: Path) -> int:
    size = 0
    with open(path, "w", encoding="utf-8", buffering=1 << 22) as fh:
        for text in chunk_lines(plan, a, b):
            fh.write(text)
            size += len(text)
    return size


def backfill(
    plan: Plan,
    data_dir: Path,
    work_dir: Path,
    *,
    observer: Observer | None = None,
    workers: int | None = None,
    block_duration: str = BLOCK_DURATION,
) -> BackfillStats:
    """Write every chunk of ``plan`` as TSDB blocks into ``data_dir`` (which Prometheus must not hold)."""
    obs = observer or NullObserver()
    tool = promtool()
    data_dir.mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    chunks = plan.window.chunks(plan.chunk_seconds)
    stats = BackfillStats(files=len(chunks), samples=plan.sample_count)
    plan.profiles  # noqa: B018 - build the shared arrays once, before the threads race to

    def one(index: int, a: int, b: int) -> tuple[int, float, float]:
        path = work_dir / f"chunk-{index:04d}.om"
        t0 = time.perf_counter()
        size = write_chunk(plan, a, b, path)
        t1 = time.perf_counter()
        argv = [tool, "tsdb", "create-blocks-from", "openmetrics", "-q"]
        proc = subprocess.run(
            [*argv, f"--max-block-duration={block_duration}", str(path), str(data_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        t2 = time.perf_counter()
        path.unlink(missing_ok=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise LabError(f"promtool failed on {path.name}: {' / '.join(tail)}")
        return size, t1 - t0, t2 - t1

    started = time.perf_counter()
    obs.started(len(chunks), "prometheus backfill")
    n = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="backfill") as pool:
        futures = {pool.submit(one, i, a, b): i for i, (a, b) in enumerate(chunks)}
        try:
            for fut in as_completed(futures):
                size, gen, imp = fut.result()
                stats.text_bytes += size
                stats.generate_seconds += gen
                stats.promtool_seconds += imp
                obs.advanced(f"day {futures[fut] + 1}/{len(chunks)}", "ok")
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    obs.finished()
    stats.wall_seconds = time.perf_counter() - started
    stats.blocks = sum(1 for p in data_dir.iterdir() if p.is_dir() and (p / "meta.json").exists())
    stats.data_bytes = _dir_bytes(data_dir)
    return stats
