"""Growth and time-to-quota from daily series: ordinary least squares, in pure Python.

Why least squares on daily means rather than Prometheus' ``predict_linear``: the same fit serves
allocation (a step function of what was created) and usage (which has office-hours and weekend
seasonality); fitting daily means removes the daily cycle, and with two weeks of history or more a
day-of-week term removes the weekly one, which ``predict_linear`` (a plain line through raw samples)
cannot do: over a window ending on a weekend it reports the Friday drop as a trend. Daily points also
keep the answer independent of the scrape interval and of gaps. The cost is resolution: a forecast
needs ``MIN_DAYS`` whole days of history.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

METHOD = (
    "Forecast: ordinary least squares through daily values (daily means of use, the daily allocation), "
    "with a day-of-week term from 14 days of history; days to quota = (quota - allocated now) / growth per day. "
    "Range: where the {confidence:.0%} prediction interval of one future daily value around that line reaches "
    "the quota (Student's t, residuals assumed independent and normal, growth assumed linear): conservative = "
    "earliest, aggressive = latest. Fewer than 3 whole days of history: short_history."
)
DAY = 86400
MIN_DAYS = 3  # fewer whole days: no growth figure ("short history")
WEEKLY_DAYS = 14  # from two weeks on, a day-of-week term absorbs weekly seasonality
FLAT = 1e-9  # growth per day below this (relative to the level) is no growth


@dataclass(frozen=True)
class Fit:
    slope_per_day: float
    level: float  # the fitted value at the last day (seasonality removed)
    days: int  # points used
    weekly: bool  # fitted with a day-of-week term
    # for prediction intervals: residual standard deviation (None: no degree of freedom left),
    # mean and spread of the days fitted, the last day
    resid_sd: float | None = None
    x_mean: float = 0.0
    sxx: float = 0.0
    last_x: float = 0.0
    dof: int = 0

    def prediction_sd(self, ahead: float) -> float | None:
        """Standard error of one new observation ``ahead`` days after the last fitted day."""
        if self.resid_sd is None or self.sxx <= 0:
            return None
        x = self.last_x + ahead
        return self.resid_sd * math.sqrt(1 + 1 / self.days + (x - self.x_mean) ** 2 / self.sxx)


def _solve(a: list[list[float]], b: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting; None when the system is singular."""
    n = len(b)
    m = [[*row, rhs] for row, rhs in zip(a, b, strict=True)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-12:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def fit(days: Sequence[float], values: Sequence[float], *, weekdays: Sequence[int] | None = None) -> Fit | None:
    """Least-squares line through (day, value); with ``weekdays`` (0-6 per point) and at least
    ``WEEKLY_DAYS`` points, one offset per weekday is fitted too and the level is their mean."""
    n = len(values)
    if n < MIN_DAYS or n != len(days):
        return None
    weekly = weekdays is not None and n >= WEEKLY_DAYS and len(set(weekdays)) == 7
    rows: list[list[float]] = []
    for i, t in enumerate(days):
        row = [1.0, float(t)]
        if weekly and weekdays is not None:
            row += [1.0 if weekdays[i] == d else 0.0 for d in range(1, 7)]  # Monday... vs day 0
        rows.append(row)
    k = len(rows[0])
    ata = [[sum(r[i] * r[j] for r in rows) for j in range(k)] for i in range(k)]
    atb = [sum(r[i] * y for r, y in zip(rows, values, strict=True)) for i in range(k)]
    coef = _solve(ata, atb)
    if coef is None:
        return None
    intercept, slope = coef[0], coef[1]
    offsets = [0.0, *coef[2:]] if weekly else [0.0]
    level = intercept + slope * days[-1] + sum(offsets) / len(offsets)
    sse = sum((y - sum(c * x for c, x in zip(coef, r, strict=True))) ** 2 for r, y in zip(rows, values, strict=True))
    dof = n - k
    x_mean = sum(days) / n
    sxx = sum((float(t) - x_mean) ** 2 for t in days)
    sd = math.sqrt(sse / dof) if dof > 0 else None
    return Fit(slope, level, n, weekly, sd, x_mean, sxx, float(days[-1]), dof)


def t_quantile(p: float, dof: int) -> float:
    """Student's t quantile (one-sided ``p``): exact for 1 and 2 degrees of freedom, else the
    Cornish-Fisher expansion around the normal quantile (Abramowitz & Stegun 26.7.5; within 0.2 %
    from 3 degrees of freedom at the confidences used here)."""
    if dof <= 1:
        return math.tan(math.pi * (p - 0.5))
    if dof == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    from statistics import NormalDist

    z = NormalDist().inv_cdf(p)
    v = float(dof)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4)
    )


MAX_DAYS = 3650.0  # a range end beyond ten years is reported as none


def days_range(
    current: float, limit: float | None, f: Fit | None, confidence: float, *, level: float | None = None
) -> tuple[float | None, float | None]:
    """(earliest, latest) days until the fitted line reaches ``limit``, taking the ``confidence``
    prediction interval of one future daily value around it: the earliest is where its upper bound
    reaches the limit (conservative), the latest where its lower bound does (aggressive). ``current``
    at or over the limit: (0, 0).
    None: no limit, no growth, no interval, or beyond ``MAX_DAYS``."""
    if limit is None or f is None:
        return None, None
    if current >= limit:
        return 0.0, 0.0
    if f.slope_per_day <= max(FLAT, FLAT * abs(limit)) or f.prediction_sd(0) is None:
        return None, None
    t = t_quantile(0.5 + confidence / 2, max(1, f.dof))

    # around the fitted line, not the last (noisy) value: the interval is the line's. ``level``: where
    # the line stands now when the fitted series is another measure of the same thing (the cloud's
    # Placement allocation against the departments' summed quota usage): the line is moved there.
    level = f.level if level is None else level

    def band(h: float, sign: float) -> float:
        sd = f.prediction_sd(h) or 0.0
        return level + f.slope_per_day * h + sign * t * sd

    def first(sign: float) -> float | None:
        if band(0.0, sign) >= limit:
            return 0.0
        if band(MAX_DAYS, sign) < limit:
            return None
        # the lower band may dip first (its interval widens): step to the first crossing, then bisect
        lo, hi, step = 0.0, MAX_DAYS, 1.0
        h = 0.0
        while h < MAX_DAYS:
            if band(h + step, sign) >= limit:
                lo, hi = h, h + step
                break
            h += step
            step *= 1.5
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if band(mid, sign) >= limit else (mid, hi)
        return hi

    return first(+1.0), first(-1.0)


def days_to_limit(current: float, limit: float | None, slope_per_day: float | None) -> float | None:
    """Days until ``current`` growing at ``slope_per_day`` reaches ``limit``: 0 when already there;
    None when there is no limit or no growth."""
    if limit is None:
        return None
    if current >= limit:
        return 0.0
    if slope_per_day is None or slope_per_day <= max(FLAT, FLAT * abs(limit)):
        return None
    return (limit - current) / slope_per_day


def date_after(at: float, days: float | None) -> str | None:
    if days is None or math.isinf(days):
        return None
    return datetime.fromtimestamp(at + days * DAY, UTC).date().isoformat()


def daily_means(points: Sequence[tuple[float, float]], step: float) -> list[tuple[int, float]]:
    """Mean of each whole UTC day's points, as (day number since the epoch, mean): a day counts
    only when it has every point a step of ``step`` seconds gives it (partial first and last
    days would bias the fit towards the hours they hold). A point belongs to the day of its
    timestamp, as the lab's ground truth counts an interval in the day its end sample falls in."""
    per_day = round(DAY / step) if step <= DAY else 0
    buckets: dict[int, list[float]] = {}
    for t, v in points:
        buckets.setdefault(int(t // DAY), []).append(v)
    return sorted((d, sum(vs) / len(vs)) for d, vs in buckets.items() if per_day and len(vs) == per_day)


def day_start_of(day: str) -> float:
    """The UTC midnight starting ISO date ``day`` (YYYY-MM-DD)."""
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


def weekday(day_number: int) -> int:
    """The day of the week of a day number (0 is a Thursday, as 1970-01-01 was: only equality
    matters to the fit)."""
    return day_number % 7
