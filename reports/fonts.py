"""Which CJK font the charts and the PDF use.

The preferred one is Noto Sans CJK SC (Debian ``fonts-noto-cjk``). Without it, any installed font
that covers Simplified Chinese is used and the document says which; without any, a Chinese
document is refused rather than printed with empty boxes in place of the characters.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from functools import cache

from govops.errors import GovopsError
from govops.i18n import Msg

PREFERRED = "Noto Sans CJK SC"
# tried in order after the preferred one (the family names fontconfig and matplotlib know them by)
FALLBACKS = ("Source Han Sans SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "AR PL UMing CN")


class MissingFontError(GovopsError):
    """No CJK font: exit 1 (the machine lacks a package), not bad input."""


@dataclass(frozen=True)
class CjkFont:
    family: str
    path: str | None

    @property
    def preferred(self) -> bool:
        return self.family == PREFERRED


def _fc_families() -> list[str]:
    """Families fontconfig (WeasyPrint's font source) has for Chinese, first names only."""
    if shutil.which("fc-list") is None:
        return []
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh-cn", "family"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    fams: list[str] = []
    for line in out.splitlines():
        for raw in line.split(","):
            name = raw.strip()
            if name and name not in fams:
                fams.append(name)
    return fams


@cache
def cjk_font() -> CjkFont | None:
    """The CJK font to use, or None when the machine has none."""
    from matplotlib import font_manager

    names = {f.name: f.fname for f in font_manager.fontManager.ttflist}
    for family in (PREFERRED, *FALLBACKS):
        if family in names:
            return CjkFont(family, names[family])
    # anything fontconfig says covers Simplified Chinese and matplotlib can load
    for family in _fc_families():
        if family in names:
            return CjkFont(family, names[family])
    return None


def require_cjk() -> CjkFont:
    font = cjk_font()
    if font is None:
        raise MissingFontError(
            Msg("report.err.font"),
            hint=Msg("report.hint.font"),
        )
    return font
