"""Report assembly shared by ``govops capacity show|forecast`` and ``govops report capacity``.

The command line passes what the user typed (durations, times, a department reference) and the ports
it opened; this module parses and checks the options, picks the departments, runs the service and
adds the figures from other sources (cloud headroom, stored snapshots) to the report, so every
command that shows capacity shows the same figures.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from govops.capacity.labels import Labelling
from govops.capacity.service import CapacityReport, CapacityService, Options
from govops.errors import GovopsError, InputError
from govops.i18n import Msg, Text
from govops.observer import NullObserver, Observer

if TYPE_CHECKING:
    from govops.capacity.ports import MetricsPort
    from govops.capacity.rightsize import RightsizeReport
    from govops.cloud.ports import CloudPort
    from govops.departments import Department, Departments
    from govops.store import Store


@dataclass(frozen=True)
class ReportRequest:
    """The options of a capacity report as the user gave them (strings are parsed here)."""

    dept: str | None = None
    window: str = "30d"
    step: str = "1h"
    at: str | None = None
    horizon: str = "90d"
    growth_threshold: float = 20.0
    reclaim_below: float = 20.0
    confidence: float = 80.0  # % of the forecasts' prediction interval
    cloud_full: bool = False  # add cloud-full dates against Placement's effective capacity
    usage: bool = True  # False: no usage figures (quota forecasts only; far fewer samples read)


def options_of(request: ReportRequest, labelling: Labelling, host_label: str = "host") -> Options:
    from govops.capacity.timespec import parse_duration, parse_time

    if request.growth_threshold <= 0 or not 0 < request.reclaim_below <= 100:
        raise InputError(Msg("err.cap.thresholds"))
    if not 50 <= request.confidence < 100:
        raise InputError(Msg("err.cap.confidence", value=f"{request.confidence:g}"))
    opts = Options(
        at=parse_time(request.at),
        window=parse_duration(request.window, "--window"),
        step=parse_duration(request.step, "--step"),
        horizon_days=parse_duration(request.horizon, "--horizon") / 86400,
        growth_threshold_pct=request.growth_threshold,
        reclaim_below_pct=request.reclaim_below,
        label=labelling.department_label,
        labelling=labelling,
        confidence=request.confidence / 100,
        host_label=host_label,
        usage=request.usage,
    )
    opts.check()
    return opts


def build_report(
    departments: Departments,
    metrics: MetricsPort,
    cloud: CloudPort | None,
    request: ReportRequest,
    *,
    labelling: Labelling | None = None,
    host_label: str = "host",
    observer: Observer | None = None,
    store: Store | None = None,
    rightsize: bool = False,
) -> CapacityReport:
    """Options parsed, departments chosen, the service run; with ``request.cloud_full`` and a cloud,
    the cloud's headroom and its full dates; with a ``store``, days Prometheus no longer holds are
    taken from stored snapshots (``govops capacity snapshot``)."""
    obs = observer or NullObserver()
    opts = options_of(request, labelling or Labelling(), host_label)
    chosen = [departments.get(request.dept)] if request.dept else list(departments)
    want_full = request.cloud_full and request.dept is None and cloud is not None
    # The three parts read different things (Prometheus and quotas; Placement; every VM) and none
    # waits for another's answer: they run side by side, each keeping its own error handling. A
    # cloud wrapped in SharedReads (the planner does it) serves a listing two parts need once.
    # One progress bar for all: the parts' own started/finished would open a bar each.
    stages = _Stages(obs)
    total = (
        (7 if opts.usage else 2) + (1 if cloud is not None else 0) + (2 if want_full else 0) + (2 if rightsize else 0)
    )
    obs.started(total, Msg("progress.cap.figures"))
    try:
        report = _parts(departments, chosen, metrics, cloud, request, opts, stages, store, want_full, rightsize)
    finally:
        obs.finished()
    return replace(report, options=opts)


def _parts(
    departments: Departments,
    chosen: list[Department],
    metrics: MetricsPort,
    cloud: CloudPort | None,
    request: ReportRequest,
    opts: Options,
    stages: Observer,
    store: Store | None,
    want_full: bool,
    rightsize: bool,
) -> CapacityReport:
    with ThreadPoolExecutor(max_workers=2) as pool:
        headroom_f = None
        if want_full:
            from govops.capacity.headroom import HeadroomService

            end = math.floor(opts.at / opts.step) * opts.step  # the report's end (CapacityService.report)
            placement = HeadroomService(cloud, metrics, stages, host_label=opts.host_label)
            headroom_f = pool.submit(placement.headroom, end, step=opts.step)
        rightsize_f = pool.submit(_rightsize, departments, metrics, cloud, request, opts, stages) if rightsize else None
        service = CapacityService(metrics, cloud, stages, store=store)
        report = service.report(chosen, opts, only=request.dept is not None)
        if headroom_f is not None:
            from govops.capacity.cloudfull import add_cloud_full

            report = add_cloud_full(report, cloud, metrics, stages, headroom=headroom_f.result())
        if rightsize_f is not None:
            try:
                found = rightsize_f.result()
            except GovopsError as exc:  # the report stands without it
                report = replace(report, warnings=(*report.warnings, Msg("cap.warn.rightsize_left_out", error=exc)))
            else:
                report = replace(report, rightsize=found, warnings=(*report.warnings, *found.warnings))
    return report


def _rightsize(
    departments: Departments,
    metrics: MetricsPort,
    cloud: CloudPort | None,
    request: ReportRequest,
    opts: Options,
    observer: Observer,
) -> RightsizeReport:
    from govops.capacity.rightsize import RightsizeOptions, RightsizeService

    service = RightsizeService(metrics, cloud, observer, labelling=opts.labels, host_label=opts.host_label)
    department = departments.get(request.dept) if request.dept else None
    return service.rightsize(
        departments, RightsizeOptions(at=opts.at, window=opts.window, step=opts.step), department=department
    )


class _Stages:
    """The caller's observer for parts running side by side: their steps are passed on, their
    started/finished (one bar each) are not; ``build_report`` opens and closes the one bar."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self._lock = threading.Lock()

    def started(self, total: int, description: Text) -> None:
        pass

    def advanced(self, target: str, status: str, detail: str | None = None) -> None:
        with self._lock:
            self.observer.advanced(target, status, detail)

    def message(self, text: Text) -> None:
        with self._lock:
            self.observer.message(text)

    def finished(self) -> None:
        pass
