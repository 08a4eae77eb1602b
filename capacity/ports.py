"""The metrics port: what the capacity service needs from Prometheus, as typed results and errors.

``govops.capacity.service`` talks only to ``MetricsPort``. ``govops.capacity.prometheus`` implements
it with prometheus-api-client; ``tests.fakes_metrics`` implements it in memory for unit tests, and a
contract test runs the same assertions against both.

Times are Unix timestamps (seconds, UTC); values are floats as Prometheus returns them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from govops.errors import ExitCode, PeerError, PeerErrorInfo
from govops.i18n import Msg, Text


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    """One series of a range query: ``points`` are (timestamp, value), oldest first."""

    labels: Mapping[str, str]
    points: Sequence[tuple[float, float]] = field(default_factory=tuple)


class MetricsError(PeerError):
    """Prometheus failed a request; the message names the query (and the HTTP status when there is one)."""

    def __init__(
        self, message: Text, *, query: str, status: int | None = None, url: str = "", hint: Text | None = None
    ) -> None:
        request = Msg("err.metrics.request", url=url, query=repr(query))
        super().__init__(message, PeerErrorInfo("Prometheus", request=request, status=status), hint=hint)
        self.query = query
        self.status = status


class MetricsUnreachable(MetricsError):
    """No answer at all: connection refused, DNS failure or timeout."""


class BadQuery(MetricsError):
    """Prometheus rejected the PromQL itself (HTTP 400 ``bad_data``): a bad option or label name."""

    exit_code = ExitCode.USAGE


@runtime_checkable
class MetricsPort(Protocol):
    """One Prometheus server (or anything speaking its HTTP query API)."""

    url: str

    def query(self, promql: str, at: float) -> list[Sample]:
        """An instant query evaluated at ``at``."""
        ...

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[Series]:
        """A range query from ``start`` to ``end`` inclusive, every ``step`` seconds."""
        ...
