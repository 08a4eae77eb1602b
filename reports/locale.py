"""Times, dates and numbers in a report's language and time zone.

Times are shown in the configured zone (``report.timezone``, default the machine's) with its UTC
offset, so a document forwarded to another city still says when things happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from govops.errors import ConfigError
from govops.i18n import Msg


def zone(name: str | None) -> tzinfo:
    """The named IANA zone, or the machine's own when ``name`` is empty."""
    if not name:
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(Msg("err.report.timezone", zone=name), hint=Msg("err.report.hint_timezone")) from None


@dataclass(frozen=True)
class Locale:
    lang: str = "en"
    tz: tzinfo = UTC

    def _dt(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, self.tz)

    def offset(self, t: float) -> str:
        """``UTC+08:00``: the zone as a reader anywhere can place it."""
        off = self._dt(t).utcoffset()
        minutes = int(off.total_seconds() // 60) if off is not None else 0
        sign = "+" if minutes >= 0 else "-"
        return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    def when(self, t: float | None) -> str:
        """A moment, to the minute, with the zone's offset."""
        if t is None:
            return "–"
        d = self._dt(t)
        if self.lang == "zh":
            return f"{d.year}年{d.month}月{d.day}日 {d:%H:%M}（{self.offset(t)}）"
        return f"{d.day} {d:%b} {d.year}, {d:%H:%M} ({self.offset(t)})"

    def clock(self, t: float | None) -> str:
        """A moment to the second, compact (tables of evidence)."""
        return "–" if t is None else self._dt(t).strftime("%Y-%m-%d %H:%M:%S")

    def date(self, t: float | None) -> str:
        if t is None:
            return "–"
        d = self._dt(t)
        return f"{d.year}年{d.month}月{d.day}日" if self.lang == "zh" else f"{d.day} {d:%b} {d.year}"

    def iso_date(self, day: str | None) -> str:
        """A calendar date from the data (``2026-12-11``) in the report's language."""
        if not day:
            return "–"
        try:
            d = datetime.strptime(day[:10], "%Y-%m-%d")
        except ValueError:
            return day
        return f"{d.year}年{d.month}月{d.day}日" if self.lang == "zh" else f"{d.day} {d:%b} {d.year}"

    def stamp(self, iso: str | None) -> str:
        """The store's ISO timestamps (UTC, ``…Z``) as :meth:`when`."""
        t = parse_iso(iso)
        return "–" if t is None else self.when(t)

    def num(self, value: float | None, digits: int = 0, sign: bool = False) -> str:
        if value is None:
            return "–"
        value = round(float(value), digits) + 0.0  # no "-0.0" for a tiny decline
        text = f"{value:+,.{digits}f}" if sign else f"{value:,.{digits}f}"
        return text

    def pct(self, value: float | None, digits: int = 1) -> str:
        return "–" if value is None else f"{self.num(value, digits)}%"


def parse_iso(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        d = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.timestamp()
