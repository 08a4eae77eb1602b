"""Charts of a report, drawn by matplotlib (Agg, no display) as SVG to inline in the HTML page.

Text is written as glyph outlines (``svg.fonttype: path``): the page then shows the CJK labels
the same everywhere (a browser, WeasyPrint, a mail client), whatever fonts the reader has.
matplotlib is imported here only, so commands that draw no chart never pay for it.
"""

from __future__ import annotations

import io
import itertools
import re
from datetime import UTC, datetime, tzinfo
from typing import Any

from govops.reports import fonts
from govops.reports.render import Chart

PALETTE = ["#1f5f99", "#e08a1e", "#3a9a5b", "#c23b3b", "#7a5fb0", "#6b7785"]
SEVERITY_COLORS = {"critical": "#7f1d1d", "high": "#c23b3b", "medium": "#e08a1e", "low": "#d9c14a"}
_ids = itertools.count(1)
_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _rc(lang: str) -> dict[str, Any]:
    families = ["DejaVu Sans"]
    font = fonts.cjk_font()
    if font is not None:
        # CJK first for Chinese documents (its Latin glyphs are fine), second otherwise
        families = [font.family, "DejaVu Sans"] if lang == "zh" else ["DejaVu Sans", font.family]
    return {
        "font.family": families,
        "svg.fonttype": "path",
        "svg.hashsalt": "govops",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 10,
        "axes.titleweight": "bold",
        "axes.unicode_minus": False,
    }


def _scoped(svg_text: str, prefix: str) -> str:
    """Ids made unique per chart, so several SVGs can share one page."""
    svg_text = svg_text[svg_text.index("<svg") :]
    svg_text = re.sub(r'id="([^"]+)"', rf'id="{prefix}\1"', svg_text)
    svg_text = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}\1"', svg_text)
    return re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}\1)", svg_text)


def _draw_barh(ax: Any, c: Chart) -> None:
    values = [v or 0.0 for v in c.series[0].values]
    y = list(range(len(c.categories)))[::-1]
    colors = c.colors or [PALETTE[0]] * len(values)
    ax.barh(y, values, color=colors, height=0.7)
    ax.set_yticks(y, c.categories)
    top = max(values, default=0.0)
    for yy, v in zip(y, values, strict=True):
        ax.text(v + top * 0.01, yy, f"{v:,.1f}" if c.percent else f"{v:,.0f}", va="center", fontsize=8)
    if c.percent:
        ax.set_xlim(0, max(100.0, top * 1.1))
    else:
        ax.set_xlim(0, top * 1.15 if top else 1)
    if c.unit:
        ax.set_xlabel(c.unit)


def _draw_bars(ax: Any, c: Chart) -> None:
    n = len(c.series)
    width = 0.8 / max(n, 1)
    xs = range(len(c.categories))
    for i, s in enumerate(c.series):
        ax.bar(
            [x - 0.4 + width * (i + 0.5) for x in xs],
            [v or 0.0 for v in s.values],
            width=width,
            label=s.name,
            color=PALETTE[i % len(PALETTE)],
        )
    ax.set_xticks(list(xs), c.categories, rotation=35 if len(c.categories) > 5 else 0, ha="right")
    if c.unit:
        ax.set_ylabel(c.unit)
    if n > 1:
        ax.legend(fontsize=8, frameon=False)


def _draw_quota(ax: Any, c: Chart) -> None:
    """Allocated (bar) and used (thin bar) per category, the quota as a tick; a quota far beyond
    every allocation is written at the edge instead of squashing the bars to nothing."""
    from matplotlib.lines import Line2D

    quota, alloc = c.series[0], c.series[1]
    used = c.series[2] if len(c.series) > 2 else None
    y = list(range(len(c.categories)))[::-1]
    a = [v or 0.0 for v in alloc.values]
    ax.barh(y, a, height=0.62, color=PALETTE[0], label=alloc.name)
    if used is not None:
        ax.barh(y, [v or 0.0 for v in used.values], height=0.28, color=PALETTE[2], label=used.name)
    top = max([*a, *[v or 0.0 for v in (used.values if used else [])]], default=0.0)
    limit = top * 1.6 if top else 1.0
    for yy, q in zip(y, quota.values, strict=True):
        if q is None:
            continue
        if q <= limit:
            ax.plot([q, q], [yy - 0.42, yy + 0.42], color=PALETTE[3], linewidth=2)
        else:
            ax.text(limit, yy, f"{quota.name} {q:,.0f} »", ha="right", va="center", fontsize=7, color=PALETTE[3])
    ax.set_xlim(0, limit)
    ax.set_yticks(y, c.categories)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([0], [0], color=PALETTE[3], linewidth=2, label=quota.name))
    ax.legend(handles=handles, fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3)
    if c.unit:
        ax.set_xlabel(c.unit)


def _draw_lines(ax: Any, c: Chart, tz: tzinfo = UTC) -> None:
    import matplotlib.dates as mdates

    xs = [datetime.fromtimestamp(t, tz) for t in c.x]
    for i, s in enumerate(c.series):
        color = PALETTE[i % len(PALETTE)]
        pts = [(x, v) for x, v in zip(xs, s.values, strict=True) if v is not None]
        if not pts:
            continue
        style = "--" if s.kind == "dashed" else "-"
        marker = "o" if len(pts) <= 20 else None
        ax.plot(
            [p[0] for p in pts],
            [p[1] for p in pts],
            style,
            color=color,
            label=s.name,
            linewidth=1.6,
            marker=marker,
            ms=3,
        )
        if s.band is not None:
            lo, hi = s.band
            band = [(x, a, b) for x, a, b in zip(xs, lo, hi, strict=True) if a is not None and b is not None]
            if band:
                ax.fill_between(
                    [b[0] for b in band],
                    [b[1] for b in band],
                    [b[2] for b in band],
                    color=color,
                    alpha=0.18,
                    linewidth=0,
                )
    span = (max(c.x) - min(c.x)) if c.x else 0.0
    # matplotlib.dates has no annotations
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=8))  # type: ignore[no-untyped-call]
    fmt = "%m-%d %H:%M" if span < 3 * 86400 else "%m-%d"
    ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt, tz=tz))  # type: ignore[no-untyped-call]
    if c.percent:
        ax.set_ylim(0, 100)
    if c.unit:
        ax.set_ylabel(c.unit)
    ax.legend(fontsize=8, frameon=False)


def _texts(c: Chart) -> list[str]:
    return [c.title, c.unit, *c.categories, *(s.name for s in c.series)]


def svg(c: Chart, lang: str, tz: tzinfo = UTC) -> str:
    """The chart as an ``<svg>`` element."""
    if any(_CJK.search(t) for t in _texts(c)):
        # glyph outlines of a font without these characters would be empty boxes: refuse instead
        fonts.require_cjk()
    plt = _pyplot()
    with plt.rc_context(_rc(lang)):
        height = 2.6
        if c.kind in ("barh", "quota"):
            height = max(1.4, 0.26 * len(c.categories) + 0.8)
        fig, ax = plt.subplots(figsize=(6.0, height))
        try:
            if c.kind == "lines":
                _draw_lines(ax, c, tz)
            else:
                {"barh": _draw_barh, "bars": _draw_bars, "quota": _draw_quota}[c.kind](ax, c)
            ax.set_title(c.title, loc="left")
            ax.grid(axis="x" if c.kind in ("barh", "quota") else "y", color="#e3e7eb", linewidth=0.6)
            ax.set_axisbelow(True)
            fig.tight_layout()
            buf = io.StringIO()
            fig.savefig(buf, format="svg", metadata={"Date": None})
        finally:
            plt.close(fig)
    return _scoped(buf.getvalue(), f"c{next(_ids)}-")
