"""The timing loop of the report benches (``report_audit.py``, ``report_capacity.py``): every format
in both languages, each built and rendered ``rounds`` times, the median printed with the size.

Imported by those scripts as a sibling module (``python bench/report_….py`` puts ``bench/`` first
on the path); never by the product.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

FORMATS = ("md", "html", "pdf", "xlsx")
LANGS = ("zh", "en")
BASELINE = "md"  # the reports' only text format before issue 20: a table dump


def time_formats(
    render: Callable[[str, str], bytes],
    *,
    rounds: int = 3,
    out: Path | None = None,
    prefix: str = "report",
    heading: str = "builds the document and renders it",
) -> dict[tuple[str, str], float]:
    """{(format, lang): median seconds} of ``render(fmt, lang)`` (document built and rendered),
    each printed as it is measured; with ``out``, the last round's bytes are kept there as
    ``{prefix}-{lang}.{fmt}``."""
    print(f"{'format':<6} {'lang':<4} {'median s':>9} {'size':>10}  ({heading})")
    medians: dict[tuple[str, str], float] = {}
    for fmt in FORMATS:
        for lang in LANGS:
            times, data = [], b""
            for _ in range(rounds):
                t0 = time.perf_counter()
                data = render(fmt, lang)
                times.append(time.perf_counter() - t0)
            medians[fmt, lang] = statistics.median(times)
            tag = "  <- baseline (the format before: a table dump)" if fmt == BASELINE else ""
            print(f"{fmt:<6} {lang:<4} {medians[fmt, lang]:>9.2f} {len(data):>10,}{tag}")
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                (out / f"{prefix}-{lang}.{fmt}").write_bytes(data)
    return medians


def print_load() -> None:
    load1, load5, load15 = os.getloadavg()
    print(f"load average {load1:.2f} {load5:.2f} {load15:.2f}, {os.cpu_count()} CPUs")
