"""The document model every manager report is built as (title, paragraphs, tables) and its two
renderers, so Markdown and HTML always carry the same content and every report looks alike."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    align_right: set[int] = field(default_factory=set)


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    table: Table | None = None


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


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(title: str, intro: Sequence[str], sections: Sequence[Section]) -> str:
    out = [f"# {title}", "", *[p + "\n" for p in intro]]
    for s in sections:
        out += [f"## {s.title}", ""]
        out += [p + "\n" for p in s.paragraphs]
        if s.table is not None:
            t = s.table
            out.append("| " + " | ".join(_md_cell(h) for h in t.headers) + " |")
            out.append("| " + " | ".join("---:" if i in t.align_right else "---" for i in range(len(t.headers))) + " |")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


_CSS = (
    "body{font-family:system-ui,'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.3em .6em}"
    "th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}"
)


def to_html(title: str, intro: Sequence[str], sections: Sequence[Section], lang: str) -> str:
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        *[f"<p>{e(p)}</p>" for p in intro],
    ]
    for s in sections:
        out.append(f"<h2>{e(s.title)}</h2>")
        out += [f"<p>{e(p)}</p>" for p in s.paragraphs]
        if s.table is not None:
            t = s.table
            out.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in t.headers) + "</tr></thead><tbody>")
            for row in t.rows:
                cells = "".join(
                    f'<td class="n">{e(c)}</td>' if i in t.align_right else f"<td>{e(c)}</td>"
                    for i, c in enumerate(row)
                )
                out.append(f"<tr>{cells}</tr>")
            out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def document(title: str, intro: Sequence[str], sections: Sequence[Section], lang: str, fmt: str) -> str:
    """Markdown (``md``) or a standalone HTML page (``html``)."""
    return to_html(title, intro, sections, lang) if fmt == "html" else to_markdown(title, intro, sections)
