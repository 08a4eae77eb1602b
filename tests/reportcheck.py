"""What every test of a rendered report checks: the text of each format, the English words left in a
Chinese document, the secrets it must not hold, the HTML page's self-containment."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

# ASCII words a Chinese document may hold: codes, units, protocols, product and format names
ALLOWED_WORDS = {
    "ipv6", "ipv4", "ssh", "ssh1", "ssh2", "snmp", "snmpv3", "tcp6", "udp6", "udp", "acl", "aaa", "ntp", "http", "telnet",
    "ra", "utc", "vcpu", "gib", "mib", "vms", "p95", "cpu", "ram", "az", "az1", "az2", "az3", "sha", "sha-256", "html",
    "xlsx", "pdf", "openstack", "nova", "cinder", "placement", "prometheus", "openstack-exporter", "libvirt",
    "exporter", "vrp", "h3c", "comware", "cisco", "ios", "vty", "noto", "sans", "cjk", "sc", "syslog", "pp", "h",
    "t",  # Student's t distribution, named in the forecasts' method (t 分布)
}  # fmt: skip
_TOKEN = re.compile(r"[A-Za-z0-9._/:+-]+")
_CODE = re.compile(r"[0-9._/:-]")  # ids, hostnames, rule ids, versions, paths: codes, not words


class _Text(HTMLParser):
    """The visible text of a page, without what is marked verbatim (``td.c``, ``code``), the style
    sheet and the charts (drawn as outlines: no text in them)."""

    def __init__(self) -> None:
        super().__init__()
        self.out: list[str] = []
        self._skip: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        verbatim = tag in ("style", "code", "svg", "title") or (tag == "td" and ("class", "c") in attrs)
        if self._skip or verbatim:
            self._skip.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._skip and self._skip[-1] == tag:
            self._skip.pop()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def prose(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join(parser.out)


def english_words(page: str, extra: set[str] = frozenset()) -> set[str]:  # type: ignore[assignment]
    """ASCII words of a Chinese page's prose that are not codes, units or product names."""
    allowed = ALLOWED_WORDS | {w.lower() for w in extra}
    tokens = [t.strip(".:/-") for t in _TOKEN.findall(prose(page))]
    return {t for t in tokens if re.search("[A-Za-z]", t) and not _CODE.search(t) and t.lower() not in allowed}


def chart_words(doc: Any) -> set[str]:
    """English words in a document's chart texts (titles, axes, categories, legends): the charts are
    drawn as outlines, so the page's text does not show them."""
    texts = [
        t for s in doc.sections for c in s.charts for t in (c.title, c.unit, *c.categories, *(x.name for x in c.series))
    ]
    tokens = [t.strip(".:/-()") for t in _TOKEN.findall(" ".join(texts))]
    return {t for t in tokens if re.search("[A-Za-z]", t) and not _CODE.search(t) and t.lower() not in ALLOWED_WORDS}


def self_contained(page: str) -> None:
    """No external stylesheet, script, font or image: the page opens offline and mails as one file."""
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "<link" not in page
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    assert "@import" not in page and "url(http" not in page


def pdf_text(data: bytes, tmp: Path) -> str:
    """pdftotext (poppler-utils) of a PDF, or skip when it is missing."""
    if shutil.which("pdftotext") is None:
        import pytest

        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp / "report.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def pdf_fonts(data: bytes, tmp: Path) -> str:
    path = tmp / "fonts.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout


def pdf_pages(pdf: Path, tmp: Path, *, dpi: int = 40) -> list[Path]:
    """The PDF's pages as PNG images (poppler's pdftoppm, what `make previews` uses): none blank (a
    last page with a few lines inks about 0.3 % of its pixels), the first one full of text and charts."""
    prefix = tmp / f"{pdf.stem}-page"
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), str(pdf), str(prefix)], capture_output=True, check=True)
    pages = sorted(tmp.glob(f"{pdf.stem}-page-*.png"))
    ink = [inked(p) for p in pages]
    assert pages and ink[0] > 0.03 and min(ink) > 0.001, ink
    return pages


def inked(png: Path) -> float:
    """Share of the image's pixels that are not near-white."""
    from PIL import Image

    with Image.open(png) as img:
        grey = img.convert("L")
        hist = grey.histogram()
        return sum(hist[:200]) / max(1, grey.width * grey.height)


def screenshot(page: Path, tmp: Path) -> Path | None:
    """The page in headless Chromium, offline (``make deps`` installs it): it loads and paints text
    and charts, not a blank or error page. None when Chromium is not installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return None
    png = tmp / f"{page.stem}-shot.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={png}", "--window-size=1200,1600",
         f"file://{page}"],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert png.exists() and inked(png) > 0.03, png
    return png


def xlsx_text(data: bytes) -> str:
    """Every cell of every sheet, as text (for secrets and names)."""
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data))
    return "\n".join(
        " ".join(str(v) for v in row if v is not None) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
    )


def sheet_rows(data: bytes, title: str) -> tuple[list[str], list[list[object]]]:
    """(header, data rows) of the sheet named ``title``: the header is the first row after the note."""
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(data))[title]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    head = next(i for i, r in enumerate(rows) if i >= 3 and any(v is not None for v in r))
    return [str(v) for v in rows[head]], rows[head + 1 :]
