"""Durations (``30d``, ``12h``, ``2w``) and points in time (``now``, ISO 8601, Unix seconds) as typed."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from govops.errors import InputError
from govops.i18n import Msg

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str, option: str) -> float:
    """Seconds in ``text`` (Prometheus' units: s, m, h, d, w); a bad value is exit 2 naming the option."""
    match = _DURATION.match(text.lower())
    if not match or float(match.group(1)) <= 0:
        raise InputError(Msg("err.cap.duration", option=option, text=text), hint=Msg("err.cap.hint_duration"))
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_time(text: str | None, option: str = "--at") -> float:
    """``now`` (also when empty), a Unix timestamp, or an ISO 8601 date/time (UTC unless it says)."""
    if text is None or text.strip().lower() in ("", "now"):
        return datetime.now(UTC).timestamp()
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(Msg("err.cap.time", option=option, text=text), hint=Msg("err.cap.hint_time")) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
