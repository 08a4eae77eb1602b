"""The only prometheus-api-client adapter: ``MetricsPort`` over Prometheus' HTTP query API.

prometheus-api-client (and requests, which it pulls in) is imported inside ``connect`` so that
``govops --help`` never pays for it. Its errors become the port's typed errors: no answer ->
``MetricsUnreachable``; HTTP 400 (PromQL Prometheus cannot parse) -> ``BadQuery``; any other non-200
status -> ``MetricsError`` with Prometheus' own ``error`` text.
"""

from __future__ import annotations

import ast
import json
import re
from datetime import UTC, datetime
from typing import Any

from govops.capacity.ports import BadQuery, MetricsError, MetricsUnreachable, Sample, Series
from govops.i18n import Msg

# prometheus-api-client raises PrometheusApiClientException("HTTP Status Code 400 (b'...')")
_STATUS = re.compile(r"HTTP Status Code (\d+) \((.*)\)\s*$", re.DOTALL)
RETRY_STATUSES = (502, 503, 504)  # a restarting or overloaded server; 4xx answers are final
MAX_MESSAGE = 300


def _error_text(raw: str) -> str:
    """Prometheus' ``error`` field from the body quoted in the client's message, else the body."""
    try:
        body = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        body = raw
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("error"):
        text = f"{doc.get('errorType', 'error')}: {doc['error']}"
    text = " ".join(text.split())
    return text[:MAX_MESSAGE] + ("…" if len(text) > MAX_MESSAGE else "")


def display_url(url: str) -> str:
    """The URL without any ``user:password@`` in it, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def _seconds(step: float) -> str:
    return f"{step:g}s"


class PrometheusMetrics:
    """``MetricsPort`` over one Prometheus; built by ``connect``."""

    def __init__(self, client: Any, url: str, timeout: float) -> None:
        self._client = client
        self.url = display_url(url)  # what messages show: never the credentials a URL may carry
        self.timeout = timeout

    def _call(self, promql: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import requests
        from prometheus_api_client.exceptions import PrometheusApiClientException

        try:
            return fn(*args, timeout=self.timeout, **kwargs)
        except PrometheusApiClientException as exc:
            match = _STATUS.match(str(exc))
            status = int(match.group(1)) if match else None
            text = _error_text(match.group(2)) if match else str(exc)
            cls = BadQuery if status == 400 else MetricsError
            raise cls(text, query=promql, status=status, url=self.url) from None
        except requests.exceptions.Timeout:
            raise MetricsUnreachable(
                Msg("err.metrics.timeout", seconds=f"{self.timeout:g}"),
                query=promql,
                url=self.url,
                hint=Msg("err.metrics.hint_timeout"),
            ) from None
        except requests.exceptions.RequestException as exc:
            reason = str(exc.__context__ or exc).split(": ")[-1].rstrip(")'\"")
            raise MetricsUnreachable(
                Msg("err.metrics.unreachable", reason=reason or type(exc).__name__),
                query=promql,
                url=self.url,
                hint=Msg("err.metrics.hint_unreachable"),
            ) from None
        except ValueError as exc:  # a 200 answer that is not Prometheus' JSON (a proxy's login page)
            raise MetricsError(Msg("err.metrics.not_api", reason=exc), query=promql, url=self.url) from None

    def query(self, promql: str, at: float) -> list[Sample]:
        data = self._call(promql, self._client.custom_query, query=promql, params={"time": f"{at:.3f}"})
        return [Sample(dict(r.get("metric", {})), float(r["value"][1])) for r in data]

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[Series]:
        data = self._call(
            promql,
            self._client.custom_query_range,
            query=promql,
            start_time=datetime.fromtimestamp(start, UTC),
            end_time=datetime.fromtimestamp(end, UTC),
            step=_seconds(step),
        )
        return [
            Series(dict(r.get("metric", {})), tuple((float(t), float(v)) for t, v in r.get("values", ()))) for r in data
        ]

    def close(self) -> None:
        self._client.close()


def connect(url: str, *, timeout: float = 30.0) -> PrometheusMetrics:
    """A client for ``url``; nothing is sent until the first query."""
    from prometheus_api_client import PrometheusConnect
    from urllib3.util.retry import Retry

    retry = Retry(total=2, backoff_factor=0.3, status_forcelist=RETRY_STATUSES, raise_on_status=False)
    client = PrometheusConnect(url=url, disable_ssl=False, retry=retry, timeout=int(max(1, timeout)))
    return PrometheusMetrics(client, url, timeout)
