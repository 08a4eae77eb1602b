"""The report as a workbook (openpyxl): one sheet per section, real numbers with number formats,
the header row frozen and filterable, columns wide enough for their text, and on top of every
sheet the report's title, period and source run."""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Sequence

from govops.reports.render import Cell, Document, Section, frame

_BAD_SHEET = re.compile(r"[\[\]:*?/\\]")
NOTE_ROWS = 3  # title, period, source; a blank row, then the table


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _sheet_name(name: str, taken: set[str]) -> str:
    base = _BAD_SHEET.sub(" ", name).strip()[:31] or "Sheet"
    out, n = base, 2
    while out.lower() in taken:
        suffix = f" {n}"
        out, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(out.lower())
    return out


def _rows(s: Section) -> tuple[list[str], list[Sequence[Cell]], dict[int, int]]:
    """(headers, rows, decimals per column) of a section: its table, or its key figures."""
    if s.table is not None:
        return s.table.headers, list(s.table.rows), s.table.digits
    rows: list[Sequence[Cell]] = [[k, v] for k, v in s.figures]
    rows += [[p] for p in s.paragraphs] + [[b] for b in s.bullets]
    return [s.title], rows, {}


def to_xlsx(doc: Document) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    taken: set[str] = set()
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="EEF2F6")
    note_font = Font(italic=True, color="5B6673")
    for s in doc.sections:
        if s.sheet is None:
            continue
        headers, rows, digits = _rows(s)
        ws = wb.create_sheet(_sheet_name(s.sheet, taken))
        ws.cell(1, 1, f"{doc.title} · {s.title}").font = Font(bold=True, size=12)
        ws.cell(2, 1, f"{frame(doc.lang, 'period')}: {doc.period}").font = note_font
        ws.cell(3, 1, f"{frame(doc.lang, 'source')}: {doc.source}").font = note_font
        head = NOTE_ROWS + 2
        widths = [_width(h) + 2 for h in headers]
        for j, h in enumerate(headers, 1):
            c = ws.cell(head, j, h)
            c.font, c.fill = bold, head_fill
            c.alignment = Alignment(wrap_text=True, vertical="top")
        for i, row in enumerate(rows, head + 1):
            for j, value in enumerate(row, 1):
                if value is None:
                    continue
                c = ws.cell(i, j, value)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    d = digits.get(j - 1, 0 if isinstance(value, int) else 1)
                    c.number_format = "#,##0" if d == 0 else "#,##0." + "0" * d
                    w = len(f"{value:,.{d}f}")
                else:
                    w = _width(str(value))
                if j - 1 < len(widths):
                    widths[j - 1] = max(widths[j - 1], w + 2)
                else:
                    widths.append(w + 2)
        for j, w in enumerate(widths, 1):
            ws.column_dimensions[get_column_letter(j)].width = min(max(w, 8), 70)
        ws.freeze_panes = ws.cell(head + 1, 1)
        if rows and s.table is not None:
            ws.auto_filter.ref = f"A{head}:{get_column_letter(len(headers))}{head + len(rows)}"
    if not wb.sheetnames:
        wb.create_sheet("-")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
