"""Turn a history plan into TSDB blocks with ``promtool tsdb create-blocks-from openmetrics``.

promtool re-reads its whole input once per block it cuts (one 90-day file takes hours) and pays a
fixed cost per block it writes (~0.5 s here), so the history is written as one file per
``BLOCK_DURATION`` block (aligned as promtool aligns blocks), each read once: 41 files and blocks
for 90 days instead of one file per day cut into four 6-hour blocks (360 blocks).
Files are generated and imported by a small thread pool: promtool runs outside the GIL, so one
thread writes the next file while another's promtool imports the previous one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from govops.lab.processes import LabError
from govops.lab.prometheus.history import Plan, Window, file_lines
from govops.observer import NullObserver, Observer

BLOCK_DURATION = "54h"  # one of promtool's block ranges (2h x 3^k): files cut at its multiples never share a block


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


def write_text(lines: Iterable[str], path: Path) -> int:
    size = 0
    with open(path, "w", encoding="utf-8", buffering=1 << 22) as fh:
        for text in lines:
            fh.write(text)
            size += len(text)
    return size


def _seconds(duration: str) -> int:
    units = {"m": 60, "h": 3600, "d": 86400}
    try:
        return int(duration[:-1]) * units[duration[-1]]
    except (KeyError, ValueError):
        raise ValueError(f"block duration {duration!r}: a number of m, h or d") from None


def backfill(
    plan: Plan,
    data_dir: Path,
    work_dir: Path,
    *,
    observer: Observer | None = None,
    workers: int | None = None,
    block_duration: str = BLOCK_DURATION,
    file_per_block: bool = True,
) -> BackfillStats:
    """Write ``plan``'s history as TSDB blocks into ``data_dir`` (which Prometheus must not hold).

    ``file_per_block=False`` hands promtool one file per chunk (a day) instead: the earlier way, for benchmarks.
    """
    obs = observer or NullObserver()
    tool = promtool()
    data_dir.mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    block_seconds = _seconds(block_duration)
    # A file per block; the earlier way (file_per_block=False, for the benchmark) was a file per chunk.
    files = plan.window.chunks(block_seconds if file_per_block else plan.chunk_seconds)
    stats = BackfillStats(files=len(files), samples=plan.sample_count)
    plan.profiles  # noqa: B018 - build the shared arrays once, before the threads race to
    argv = [tool, "tsdb", "create-blocks-from", "openmetrics", "-q", f"--max-block-duration={block_duration}"]

    def one(index: int, a: int, b: int) -> tuple[int, float, float]:
        path = work_dir / f"part-{index:04d}.om"
        t0 = time.perf_counter()
        size = write_text(file_lines(plan, a, b), path)
        t1 = time.perf_counter()
        proc = subprocess.run([*argv, str(path), str(data_dir)], capture_output=True, text=True, check=False)
        t2 = time.perf_counter()
        path.unlink(missing_ok=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise LabError(f"promtool failed on {path.name}: {' / '.join(tail)}")
        return size, t1 - t0, t2 - t1

    n = workers or min(4, os.cpu_count() or 1)
    return _run_parts(
        files, lambda i, a, b: (0, *one(i, a, b)), n, "backfill", "prometheus backfill", data_dir, stats, obs
    )


def _run_parts(
    files: list[tuple[int, int]],
    one: Callable[[int, int, int], tuple[int, int, float, float]],
    workers: int,
    prefix: str,
    label: str,
    out_dir: Path,
    stats: BackfillStats,
    obs: Observer,
) -> BackfillStats:
    """Each part through ``one`` (samples, text bytes, generate and promtool seconds) on
    ``workers`` threads, summed into ``stats``; a failed part cancels the ones not started."""
    started = time.perf_counter()
    obs.started(len(files), label)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=prefix) as pool:
        futures = {pool.submit(one, i, a, b): i for i, (a, b) in enumerate(files)}
        try:
            for fut in as_completed(futures):
                samples, size, gen, imp = fut.result()
                stats.samples += samples
                stats.text_bytes += size
                stats.generate_seconds += gen
                stats.promtool_seconds += imp
                obs.advanced(f"part {futures[fut] + 1}/{len(files)}", "ok")
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    obs.finished()
    stats.wall_seconds = time.perf_counter() - started
    stats.blocks = sum(1 for p in out_dir.iterdir() if p.is_dir() and (p / "meta.json").exists())
    stats.data_bytes = _dir_bytes(out_dir)
    return stats


# -- recording rules --------------------------------------------------------------------------------


def _om_labels(labels: dict[str, str]) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items()) if k != "__name__") + "}"


def backfill_rules(
    url: str,
    rules: list[tuple[str, str]],
    window: Window,
    out_dir: Path,
    work_dir: Path,
    *,
    observer: Observer | None = None,
    block_duration: str = BLOCK_DURATION,
    workers: int = 2,
) -> BackfillStats:
    """Recorded series for ``rules`` over ``window`` (its step is the rules' interval) as TSDB blocks
    in ``out_dir``, evaluated by the Prometheus at ``url`` from the history it holds.

    What ``promtool tsdb create-blocks-from rules`` does (a range query of each rule at the group's
    interval), with the blocks cut as the history's are (one per ``block_duration``): promtool 2.42
    writes one 2-hour block per rule and 2 hours, 7,560 blocks for 7 rules over 90 days, which
    Prometheus would open one by one and compact for a long time.
    """
    import json
    import urllib.parse

    from govops.lab.prometheus.component import _http_get

    obs = observer or NullObserver()
    tool = promtool()
    out_dir.mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    files = window.chunks(_seconds(block_duration))
    stats = BackfillStats(files=len(files))
    argv = [tool, "tsdb", "create-blocks-from", "openmetrics", "-q", f"--max-block-duration={block_duration}"]

    def evaluate(expr: str, a: int, b: int) -> list[dict[str, object]]:
        params = {
            "query": expr,
            "start": str(window.start + a * window.step),
            "end": str(window.start + (b - 1) * window.step),
            "step": f"{window.step}s",
        }
        status, body = _http_get(f"{url}/api/v1/query_range?{urllib.parse.urlencode(params)}", timeout=600)
        if status != 200:
            raise LabError(f"rule backfill query failed (HTTP {status}): {body[:200].decode(errors='replace')}")
        result: list[dict[str, object]] = json.loads(body)["data"]["result"]
        return result

    def one(index: int, a: int, b: int) -> tuple[int, int, float, float]:
        path = work_dir / f"rules-{index:04d}.om"
        t0 = time.perf_counter()
        samples = 0
        size = 0
        with open(path, "w", encoding="utf-8", buffering=1 << 22) as fh:
            for name, expr in rules:
                fh.write(f"# TYPE {name} gauge\n")
                for series in evaluate(expr, a, b):
                    prefix = name + _om_labels(dict(series["metric"])) + " "  # type: ignore[call-overload]
                    lines = [f"{prefix}{v} {t}\n" for t, v in series["values"]]  # type: ignore[attr-defined]
                    samples += len(lines)
                    text = "".join(lines)
                    size += len(text)
                    fh.write(text)
            fh.write("# EOF\n")
        t1 = time.perf_counter()
        proc = subprocess.run([*argv, str(path), str(out_dir)], capture_output=True, text=True, check=False)
        t2 = time.perf_counter()
        path.unlink(missing_ok=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise LabError(f"promtool failed on {path.name}: {' / '.join(tail)}")
        return samples, size, t1 - t0, t2 - t1

    return _run_parts(files, one, workers, "rules", "recording rules backfill", out_dir, stats, obs)
