"""PDF from the report's HTML page, laid out by WeasyPrint (no browser, no service): A4, the
title and period in the page header, page numbers, tables whose header row repeats on every page."""

from __future__ import annotations

import logging
from dataclasses import replace

from govops.reports.fonts import PREFERRED, require_cjk
from govops.reports.render import Document, frame, to_html


def to_pdf(doc: Document) -> bytes:
    # every document holds Chinese (names from the inventory, departments), so always a CJK font
    font = require_cjk()
    if not font.preferred:
        doc = replace(doc, font_note=frame(doc.lang, "font", font=font.family, preferred=PREFERRED))
    page = to_html(doc, paper=True)
    if not font.preferred:
        page = page.replace("'Noto Sans CJK SC',", f"'{font.family}','Noto Sans CJK SC',")
    # WeasyPrint logs every CSS property it ignores (e.g. screen-only ones) as a warning
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    from weasyprint import HTML

    out = HTML(string=page).write_pdf()
    assert out is not None
    return bytes(out)
