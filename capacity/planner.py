"""One entry point for every capacity command: the ports opened as each command needs them, the inputs
gathered, the services run, every source's failure turned into a note on the result.

``govops capacity show|forecast|cloud|whatif|rightsize|snapshot`` and ``govops report capacity`` each
make one call here and render what comes back; none of them opens a connection or decides what a
failing source means. The ports come as openers (the composition root's ``app.metrics``, ``app.cloud``,
the store) so that a source a command does not need is never opened, and one that cannot be opened
(no Prometheus configured, no results store) is a note where the command can do without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from govops.capacity import metrics as m
from govops.capacity.headroom import NO_PROMETHEUS_NOTES, is_note
from govops.capacity.labels import Labelling
from govops.errors import GovopsError, InputError
from govops.i18n import Msg, Text
from govops.observer import NullObserver, Observer

if TYPE_CHECKING:
    from govops.capacity.assemble import ReportRequest
    from govops.capacity.headroom import CloudHeadroom
    from govops.capacity.ports import MetricsPort
    from govops.capacity.rightsize import RightsizeOptions, RightsizeReport
    from govops.capacity.service import CapacityReport
    from govops.capacity.snapshots import SnapshotResult
    from govops.capacity.whatif import WhatIf
    from govops.cloud.ports import CloudPort
    from govops.departments import Departments
    from govops.store import Store

Source = Literal["auto", "openstack", "prometheus"]


@dataclass
class CapacityPorts:
    """What the capacity services read, as openers: called only when a command needs that source.

    ``cloud_configured`` says whether ``cloud`` can be opened at all (``--source auto`` asks it);
    ``store`` is None when no results store is to be used."""

    departments: Callable[[], Departments]
    metrics: Callable[[], MetricsPort]
    cloud: Callable[[], CloudPort]
    cloud_configured: Callable[[], bool]
    store: Callable[[], Store] | None = None
    labelling: Labelling = field(default_factory=Labelling)
    host_label: str = m.VM_HOST


@dataclass(frozen=True)
class SnapshotOutcome:
    result: SnapshotResult
    report: CapacityReport
    headroom: CloudHeadroom | None

    @property
    def warnings(self) -> tuple[Text, ...]:
        return self.report.warnings + (self.headroom.warnings if self.headroom else ())

    @property
    def failed(self) -> bool:
        return bool(self.report.failed_sources)


class CapacityPlanner:
    """The capacity commands' service: each method is one command's whole job, and never prints."""

    def __init__(self, ports: CapacityPorts, observer: Observer | None = None) -> None:
        self.ports = ports
        self.observer = observer or NullObserver()
        self._departments: Departments | None = None

    # -- sources ----------------------------------------------------------------------------------

    @property
    def departments(self) -> Departments:
        if self._departments is None:
            self._departments = self.ports.departments()
        return self._departments

    def cloud_for(self, source: Source) -> CloudPort | None:
        """The cloud for quotas and allocations, or None to read them from Prometheus
        (openstack-exporter): ``auto`` takes the cloud when one is configured."""
        if source == "prometheus" or (source == "auto" and not self.ports.cloud_configured()):
            return None
        return self.ports.cloud()

    def metrics_or_note(self, notes: list[Text], consequence: Text = "") -> MetricsPort | None:
        """Prometheus, or None with a note when none can be opened (a command that can do without it)."""
        try:
            return self.ports.metrics()
        except GovopsError as exc:
            notes.append(
                Msg("cap.warn.error_because", error=exc, consequence=consequence)
                if consequence
                else Msg("cap.warn.error", error=exc)
            )
            return None

    def store_or_note(self, notes: list[Text]) -> Store | None:
        """The results store for snapshots, or None with a note (reports stand without snapshots)."""
        if self.ports.store is None:
            return None
        try:
            return self.ports.store()
        except GovopsError as exc:
            notes.append(Msg("cap.warn.store_failed", error=exc))
            return None

    # -- commands ---------------------------------------------------------------------------------

    def report(self, request: ReportRequest, source: Source = "auto", *, rightsize: bool = False) -> CapacityReport:
        """``capacity show|forecast`` and ``report capacity``: Prometheus is required (a missing
        configuration raises); the cloud's failure is a note and Prometheus' figures stay."""
        from govops.capacity.assemble import build_report

        notes: list[Text] = []
        store = self.store_or_note(notes)
        metrics = self.ports.metrics()
        cloud = self.cloud_for(source)
        if cloud is not None:
            from govops.cloud.reads import SharedReads

            # the report's parts run side by side and several list the same servers, flavors, projects
            cloud = SharedReads(cloud)
        if request.cloud_full and cloud is None:
            request = replace(request, cloud_full=False)
        report = build_report(
            self.departments,
            metrics,
            cloud,
            request,
            labelling=self.ports.labelling,
            host_label=self.ports.host_label,
            observer=self.observer,
            store=store,
            rightsize=rightsize,
        )
        return replace(report, warnings=(*notes, *report.warnings)) if notes else report

    def headroom(self, at: float, *, step: float = 3600.0, az: str | None = None) -> CloudHeadroom:
        """``capacity cloud``: Placement's headroom with physical use next to it; either source may be
        missing or fail (a note each, ``complete`` False)."""
        from govops.capacity.headroom import HeadroomService

        notes: list[Text] = []
        metrics = self.metrics_or_note(notes)
        cloud = self.cloud_for("auto")
        result = HeadroomService(cloud, metrics, self.observer, host_label=self.ports.host_label).headroom(
            at, step=step, az=az
        )
        if notes:
            # "no Prometheus configured" from the service says less than the opener's own message
            kept = tuple(w for w in result.warnings if not is_note(w, NO_PROMETHEUS_NOTES))
            result = replace(result, warnings=(*notes, *kept))
        return result

    def whatif(
        self,
        dept: str | None,
        add: list[str],
        *,
        az: str | None = None,
        spec: Path | None = None,
        window: str = "30d",
        at: float,
    ) -> WhatIf:
        """``capacity whatif``: the additions from ``--add`` and a ``cloud apply`` spec, checked against
        the department's quota (Nova), the cloud's free capacity host by host (Placement) and the
        department's growth (Prometheus; missing or failing: a note). Nothing is created."""
        from govops.capacity.whatif import additions_of_spec, parse_add, run_whatif

        departments = self.departments
        items = [parse_add(x, az) for x in add]
        if spec is not None:
            from govops.cloud.spec import load_spec
            from govops.paths import display_path

            batch = load_spec(spec, display=display_path(spec))
            if dept and departments.get(dept).code != departments.get(batch.department).code:
                raise InputError(
                    Msg("err.cap.dept_mismatch", dept=dept, spec=display_path(spec), spec_dept=batch.department)
                )
            dept = dept or batch.department
            items += additions_of_spec(batch)
        if not dept:
            raise InputError(Msg("err.cap.dept_required"))
        department = departments.get(dept)
        notes: list[Text] = []
        metrics = self.metrics_or_note(notes, Msg("cap.warn.growth_unknown"))
        cloud = self.cloud_for("openstack")
        assert cloud is not None
        return run_whatif(
            departments,
            department,
            items,
            cloud,
            metrics,
            at=at,
            window=window,
            labelling=self.ports.labelling,
            host_label=self.ports.host_label,
            observer=self.observer,
            warnings=notes,
        )

    def rightsize(self, opts: RightsizeOptions, dept: str | None = None) -> RightsizeReport:
        """``capacity rightsize``: idle and oversized VMs need Prometheus (missing: a note and
        ``prometheus`` among the failed sources), stopped ones the cloud (when configured)."""
        from govops.capacity.rightsize import RightsizeService

        opts.check()
        departments = self.departments
        department = departments.get(dept) if dept else None
        notes: list[Text] = []
        metrics = self.metrics_or_note(notes)
        cloud = self.cloud_for("auto")
        service = RightsizeService(
            metrics, cloud, self.observer, labelling=self.ports.labelling, host_label=self.ports.host_label
        )
        result = service.rightsize(departments, opts, department=department)
        if metrics is None:
            kept = tuple(w for w in result.warnings if not is_note(w, NO_PROMETHEUS_NOTES))
            failed = result.failed_sources
            if "prometheus" not in failed:
                failed = ("prometheus", *failed)
            result = replace(result, warnings=(*notes, *kept), failed_sources=failed)
        return result

    def snapshot(self, *, at: str | None = None, step: str = "1h", source: Source = "auto") -> SnapshotOutcome:
        """``capacity snapshot``: today's report (window 1 d) and the cloud's headroom written to the
        results store once per UTC day. Prometheus and the store are required."""
        from govops.capacity.snapshots import take_snapshot

        if self.ports.store is None:
            raise InputError(Msg("err.cap.no_store"))
        store = self.ports.store()
        metrics = self.ports.metrics()
        cloud = self.cloud_for(source)
        result, report, headroom = take_snapshot(
            store,
            self.departments,
            metrics,
            cloud,
            at=at,
            step=step,
            labelling=self.ports.labelling,
            host_label=self.ports.host_label,
            observer=self.observer,
        )
        return SnapshotOutcome(result, report, headroom)
