"""The document model every manager report is built as, and its text renderers (Markdown, HTML).

A report is a :class:`Document`: a title, the period it covers, key figures, sections of
paragraphs, bullet lists, charts and tables. Table cells keep real numbers (formatted here for
text, given a number format in the spreadsheet), so every format carries the same figures. PDF
is the HTML page laid out by WeasyPrint (``reports/pdf.py``); the spreadsheet is written by
``reports/xlsx.py``; charts are drawn by ``reports/charts.py`` only when a format shows them.
"""

from __future__ import annotations

import base64
import html
import importlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from govops.errors import GovopsError
from govops.i18n import Msg
from govops.reports.locale import Locale

Cell = str | int | float | None


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]]
    align_right: set[int] = field(default_factory=set)
    digits: dict[int, int] = field(default_factory=dict)  # decimals of a numeric column (default: 0 int, 1 float)
    code: set[int] = field(default_factory=set)  # verbatim columns: ids, hostnames, commands, system messages
    print_limit: int | None = None  # rows shown on paper (PDF); the HTML page and the spreadsheet have all

    def text(self, row: Sequence[Cell], i: int, loc: Locale) -> str:
        value = row[i]
        if value is None:
            return "–"
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int):
            return loc.num(value, self.digits.get(i, 0))
        if isinstance(value, float):
            return loc.num(value, self.digits.get(i, 1))
        return value

    def numeric(self, i: int) -> bool:
        return i in self.align_right or any(isinstance(r[i], int | float) for r in self.rows[:50])


@dataclass
class Series:
    name: str
    values: list[float | None]
    kind: str = "line"  # line | dashed | bar
    band: tuple[list[float | None], list[float | None]] | None = None  # (low, high) drawn as a range


@dataclass
class Chart:
    """What a chart shows; ``reports/charts.py`` draws it (matplotlib, SVG)."""

    # barh | bars (grouped bars per category) | quota (series: quota, allocated[, used]) | lines (x = time)
    kind: str
    title: str
    categories: list[str] = field(default_factory=list)  # bars: one per category
    x: list[float] = field(default_factory=list)  # lines: Unix times
    series: list[Series] = field(default_factory=list)
    unit: str = ""
    percent: bool = False  # the axis is a percentage 0-100
    colors: list[str] | None = None  # barh: one per category


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    table: Table | None = None
    paper_table: Table | None = None  # a condensed table in place of ``table`` on paper (PDF)
    bullets: list[str] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # key figures: (label, value)
    charts: list[Chart] = field(default_factory=list)
    sheet: str | None = None  # the spreadsheet's sheet name; None: not in the spreadsheet
    page_break: bool = False  # start a new page on paper (appendices)


@dataclass
class Document:
    title: str
    lang: str
    period: str  # shown under the title and in the page header
    intro: list[str]
    sections: list[Section]
    loc: Locale = field(default_factory=Locale)
    source: str = ""  # what the figures come from (run id, window, sources): the spreadsheet's note
    font_note: str | None = None  # set by the PDF renderer when it had to use another CJK font
    strings: Mapping[str, str] = field(default_factory=dict)  # page, of, etc. in the document's language


class Labels:
    """A report's labels in one language; a key missing there falls back to English."""

    def __init__(self, catalog: Mapping[str, Mapping[str, str]], lang: str) -> None:
        self.catalog = catalog
        self.lang = lang if lang in catalog else "en"

    def __call__(self, key: str, **kwargs: object) -> str:
        text = self.catalog[self.lang].get(key) or self.catalog["en"].get(key, key)
        return text.format(**kwargs) if kwargs else text


def when(t: float | None) -> str:
    return "–" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


# Words of the documents' frame (page numbers, notes) in both languages.
FRAME: dict[str, dict[str, str]] = {
    "en": {
        "page": "Page ",
        "of": " of ",
        "more_rows": "{shown} of {total} rows shown; the HTML and XLSX versions have all.",
        "paper_table": "On paper, grouped; the HTML and XLSX versions list every row.",
        "font": "CJK font: {font} ({preferred} is not installed).",
        "source": "Source",
        "period": "Period",
        "generated": "Generated",
    },
    "zh": {
        "page": "第 ",
        "of": " 页 / 共 ",
        "more_rows": "仅列出 {total} 行中的 {shown} 行,HTML 与 XLSX 版本包含全部。",
        "paper_table": "纸质版为汇总表,HTML 与 XLSX 版本逐行列出。",
        "font": "中文字体:{font}(未安装 {preferred})。",
        "source": "数据来源",
        "period": "统计期",
        "generated": "生成时间",
    },
}


def frame(lang: str, key: str, **kwargs: object) -> str:
    text = FRAME.get(lang, FRAME["en"]).get(key) or FRAME["en"][key]
    return text.format(**kwargs) if kwargs else text


# -- Markdown ----------------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Document) -> str:
    loc = doc.loc
    out = [f"# {doc.title}", ""]
    if doc.period:
        out += [doc.period, ""]
    out += [p + "\n" for p in doc.intro]
    for s in doc.sections:
        out += [f"## {s.title}", ""]
        if s.figures:
            out += [f"- **{label}**: {value}" for label, value in s.figures] + [""]
        out += [p + "\n" for p in s.paragraphs]
        if s.bullets:
            out += [f"- {b}" for b in s.bullets] + [""]
        if s.table is not None:
            t = s.table
            right = {i for i in range(len(t.headers)) if t.numeric(i)}
            out.append("| " + " | ".join(_md_cell(h) for h in t.headers) + " |")
            out.append("| " + " | ".join("---:" if i in right else "---" for i in range(len(t.headers))) + " |")
            out += ["| " + " | ".join(_md_cell(t.text(row, i, loc)) for i in range(len(row))) + " |" for row in t.rows]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


# -- HTML --------------------------------------------------------------------------------------------

CJK_FAMILY = "'Noto Sans CJK SC','Source Han Sans SC','WenQuanYi Zen Hei','Microsoft YaHei','PingFang SC'"

_CSS = """
:root{--ink:#1d2733;--muted:#5b6673;--line:#d5dbe1;--head:#eef2f6;--accent:#1f5f99}
body{font-family:'Noto Sans','DejaVu Sans',%(cjk)s,system-ui,sans-serif;color:var(--ink);margin:2em auto;
 max-width:1100px;padding:0 1em;font-size:14px;line-height:1.45}
h1{font-size:1.7em;margin:0 0 .2em;color:var(--accent)}
h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:2px solid var(--accent);padding-bottom:.15em;
 break-after:avoid;page-break-after:avoid}
p.period{color:var(--muted);margin:0 0 1em}
.figures{display:flex;flex-wrap:wrap;gap:.6em;margin:.5em 0 1em}
.fig{border:1px solid var(--line);border-radius:6px;padding:.5em .8em;min-width:10em;flex:1 1 10em;break-inside:avoid}
.fig .v{font-size:1.45em;font-weight:bold;color:var(--accent)}.fig .l{color:var(--muted);font-size:.9em}
table{border-collapse:collapse;margin:.5em 0 1.2em;width:100%%;font-size:.92em}
th,td{border:1px solid var(--line);padding:.25em .5em;vertical-align:top;text-align:left}
th{background:var(--head)}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.c,code{font-family:'DejaVu Sans Mono',monospace,%(cjk)s;font-size:.92em;overflow-wrap:anywhere}
table.fixed{table-layout:fixed}thead{display:table-header-group}tr{break-inside:avoid;page-break-inside:avoid}
.chart{margin:.5em 0 1em;break-inside:avoid;page-break-inside:avoid}.chart svg,.chart img{max-width:100%%;height:auto}
.charts{display:flex;flex-wrap:wrap;gap:1em}.charts .chart{flex:1 1 480px}
p.note{color:var(--muted);font-size:.9em}
section.appendix{break-before:page;page-break-before:always}
@page{size:A4;margin:18mm 14mm 16mm;
 @top-left{content:"%(title)s";font-size:8pt;color:#5b6673;font-family:%(cjk)s,sans-serif}
 @top-right{content:"%(period)s";font-size:8pt;color:#5b6673;font-family:%(cjk)s,sans-serif}
 @bottom-center{content:"%(page)s" counter(page) "%(of)s" counter(pages)%(after)s;font-size:8pt;color:#5b6673;
  font-family:%(cjk)s,sans-serif}}
@media print{body{margin:0;max-width:none;padding:0;font-size:10pt}.charts{display:block}
 .chart img{max-width:88%%}
 .fig{min-width:7em}}
"""


def _css_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def css(doc: Document) -> str:
    after = ' " 页"' if doc.lang == "zh" else ""
    return _CSS % {
        "cjk": CJK_FAMILY,
        "title": _css_string(doc.title),
        "period": _css_string(doc.period),
        "page": _css_string(frame(doc.lang, "page")),
        "of": _css_string(frame(doc.lang, "of")),
        "after": after,
    }


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _html_table(t: Table, loc: Locale, lang: str, limit: int | None, paper: bool = False) -> list[str]:
    e = html.escape
    right = {i for i in range(len(t.headers)) if t.numeric(i)}
    rows = t.rows if limit is None else t.rows[:limit]
    if paper:
        # fixed layout with widths from the text: WeasyPrint's automatic layout measures every cell
        # twice (min and max content), which was most of a PDF's time
        widths = [min(max(_width(h) // 2, 4), 40) for h in t.headers]
        for row in rows[:200]:
            for i in range(len(widths)):
                widths[i] = min(max(widths[i], _width(t.text(row, i, loc))), 40)
        total = sum(widths) or 1
        cols = "".join(f'<col style="width:{100 * w / total:.1f}%">' for w in widths)
        head = f'<table class="fixed"><colgroup>{cols}</colgroup><thead><tr>'
    else:
        head = "<table><thead><tr>"
    out = [head + "".join(f"<th>{e(h)}</th>" for h in t.headers) + "</tr></thead><tbody>"]
    for row in rows:
        cells = []
        for i in range(len(row)):
            cls = ' class="n"' if i in right else (' class="c"' if i in t.code else "")
            cells.append(f"<td{cls}>{e(t.text(row, i, loc))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if limit is not None and len(t.rows) > limit:
        out.append(f'<p class="note">{e(frame(lang, "more_rows", shown=limit, total=len(t.rows)))}</p>')
    return out


def to_html(doc: Document, *, paper: bool = False, charts: bool = True) -> str:
    """One self-contained page: inline CSS, charts as inline SVG. ``paper``: the PDF's variant
    (long tables cut at their ``print_limit``)."""
    e = html.escape
    draw: Any = None
    if charts and any(s.charts for s in doc.sections):
        from govops.reports.charts import svg

        draw = svg
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if doc.lang == "zh" else "en"}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(doc.title)}</title><style>{css(doc)}</style></head><body>",
        f"<header><h1>{e(doc.title)}</h1>",
    ]
    if doc.period:
        out.append(f'<p class="period">{e(doc.period)}</p>')
    out += [f"<p>{e(p)}</p>" for p in doc.intro]
    if doc.font_note:
        out.append(f'<p class="note">{e(doc.font_note)}</p>')
    out.append("</header>")
    for s in doc.sections:
        out.append('<section class="appendix">' if s.page_break else "<section>")
        out.append(f"<h2>{e(s.title)}</h2>")
        if s.figures:
            out.append('<div class="figures">')
            out += [
                f'<div class="fig"><div class="v">{e(v)}</div><div class="l">{e(k)}</div></div>' for k, v in s.figures
            ]
            out.append("</div>")
        out += [f"<p>{e(p)}</p>" for p in s.paragraphs]
        if s.bullets:
            out.append("<ul>" + "".join(f"<li>{e(b)}</li>" for b in s.bullets) + "</ul>")
        if s.charts and draw is not None:
            out.append('<div class="charts">')
            for c in s.charts:
                picture = draw(c, doc.lang, doc.loc.tz)
                if paper:
                    # an image to WeasyPrint: its SVG renderer draws it without styling each glyph
                    # outline as a document element (inline, the charts took a third of a PDF's time)
                    data = base64.b64encode(picture.encode()).decode()
                    picture = f'<img alt="{e(c.title)}" src="data:image/svg+xml;base64,{data}">'
                out.append(f'<div class="chart">{picture}</div>')
            out.append("</div>")
        table = s.paper_table if paper and s.paper_table is not None else s.table
        if table is not None and table is s.paper_table:
            out.append(f'<p class="note">{e(frame(doc.lang, "paper_table"))}</p>')
        if table is not None:
            out += _html_table(table, doc.loc, doc.lang, table.print_limit if paper else None, paper)
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def document(title: str, intro: Sequence[str], sections: Sequence[Section], lang: str, fmt: str) -> str:
    """Markdown (``md``) or a standalone HTML page (``html``) of a bare report (no period, no charts)."""
    doc = Document(title, lang, "", list(intro), list(sections), Locale(lang))
    return to_html(doc, charts=False) if fmt == "html" else to_markdown(doc)


FORMATS = ("html", "pdf", "xlsx", "md")
# the Python packages (the ``reports`` extra) each format needs
NEEDS: dict[str, tuple[str, ...]] = {"md": (), "html": ("matplotlib",), "pdf": ("matplotlib", "weasyprint")}
NEEDS["xlsx"] = ("openpyxl",)
SYSTEM_LIBS = "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0"


class RendererMissing(GovopsError):
    """A format's Python package (the ``reports`` extra) or WeasyPrint's system libraries are not
    installed: exit 1, the machine lacks a package; the input was fine."""

    def __init__(self, fmt: str, package: str, *, system: bool = False) -> None:
        key = "system" if system else "extra"
        super().__init__(Msg(f"report.err.{key}", fmt=fmt, package=package), hint=Msg(f"report.hint.{key}"))
        self.fmt, self.package, self.system = fmt, package, system


def _import(module: str) -> None:
    importlib.import_module(module)


def check_renderer(fmt: str) -> None:
    """Before any work: the packages ``fmt`` needs import (``RendererMissing`` otherwise)."""
    for module in NEEDS.get(fmt, ()):
        try:
            _import(module)
        except ImportError as exc:
            raise RendererMissing(fmt, (exc.name or module).split(".")[0]) from None
        except OSError as exc:
            # WeasyPrint opens Pango and HarfBuzz through cffi at import: "cannot load library 'x'"
            found = re.search(r"library '([^']+)'", str(exc))
            raise RendererMissing(fmt, found.group(1) if found else "pango", system=True) from None


def render_bytes(doc: Document, fmt: str) -> bytes:
    """The document in one of :data:`FORMATS`; PDF and XLSX renderers are imported only when used."""
    check_renderer(fmt)
    if fmt == "md":
        return to_markdown(doc).encode()
    if fmt == "html":
        return to_html(doc).encode()
    if fmt == "pdf":
        from govops.reports.pdf import to_pdf

        return to_pdf(doc)
    if fmt == "xlsx":
        from govops.reports.xlsx import to_xlsx

        return to_xlsx(doc)
    raise ValueError(f"unknown report format {fmt!r}")
