"""The report's figures as Prometheus metrics, in the text exposition format that node_exporter's
textfile collector reads (``--collector.textfile.directory``): the city's Grafana then charts the
readiness index and the findings next to everything else it has.

The file is written to a temporary name in the same folder and renamed into place, so the
collector never reads half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from govops.network.results import AuditSummary, Rollup
from govops.reports.audit import SEVERITIES, AuditReportData
from govops.reports.locale import parse_iso


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _value(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


class _Family:
    def __init__(self, name: str, help_: str, kind: str = "gauge") -> None:
        self.name, self.help, self.kind = name, help_, kind
        self.samples: list[tuple[dict[str, str], float]] = []

    def add(self, value: float | None, **labels: str) -> None:
        if value is not None:
            self.samples.append((labels, float(value)))

    def text(self) -> list[str]:
        if not self.samples:
            return []
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        out += [f"{self.name}{_labels(labels)} {_value(v)}" for labels, v in self.samples]
        return out


def _render(families: Iterable[_Family]) -> str:
    lines: list[str] = []
    for f in families:
        lines += f.text()
    return "\n".join(lines) + "\n" if lines else ""


def _ratio(summary: AuditSummary) -> float | None:
    """The index from its counts (the summaries' percentage is rounded to 0.1)."""
    return round(summary.ipv6_ready / summary.ipv6_assessed, 4) if summary.ipv6_assessed else None


def audit_metrics(data: AuditReportData) -> str:
    """Readiness index (city, county, level), devices by status and failed checks by severity."""
    run, results = data.current.run, data.current.results
    names = data.site_names
    index = _Family(
        "govops_ipv6_readiness_ratio", "Share of assessed devices that pass every IPv6 readiness rule (0-1)."
    )
    ready = _Family("govops_ipv6_ready_devices", "Devices that pass every IPv6 readiness rule.")
    assessed = _Family("govops_ipv6_assessed_devices", "Devices assessed for IPv6 readiness.")
    devices = _Family("govops_audit_devices", "Devices of the audit run by status.")
    failed = _Family("govops_audit_failed_checks", "Failed checks of the audit run by severity.")
    affected = _Family("govops_audit_devices_with_failures", "Devices with at least one failed check, by severity.")
    finished = _Family("govops_audit_run_finished_timestamp_seconds", "When the reported audit run finished.")

    def groups(scope: str, summary: Iterable[tuple[str, AuditSummary]], name: Any) -> None:
        for key, s in summary:
            labels = {"scope": scope, scope: key, "name": name(key)}
            index.add(_ratio(s), **labels)
            ready.add(s.ipv6_ready, **labels)
            assessed.add(s.ipv6_assessed, **labels)

    rollup = Rollup.of(results)
    city = rollup.city
    index.add(_ratio(city), scope="city")
    ready.add(city.ipv6_ready, scope="city")
    assessed.add(city.ipv6_assessed, scope="city")
    # the city's own devices (no county) as the county "city"
    groups(
        "county",
        sorted(((k or "city", s) for k, s in rollup.by_county.items()), key=lambda kv: kv[0]),
        lambda k: names.get(k, k),
    )
    groups("level", rollup.by_level.items(), lambda k: k)
    for status, n in sorted(city.status.items()):
        devices.add(n, status=status)
    for sev in [*SEVERITIES, *sorted(set(city.findings_by_severity) - set(SEVERITIES))]:
        failed.add(city.findings_by_severity.get(sev, 0), severity=sev)
        affected.add(rollup.devices_by_severity.get(sev, 0), severity=sev)
    finished.add(parse_iso(run.finished_at or run.started_at))
    return _render([index, ready, assessed, devices, failed, affected, finished])


def capacity_metrics(report: Any) -> str:
    """Per department and resource: quota, allocated, used, time to quota and the flags (1/0)."""
    quota = _Family("govops_capacity_quota", "Department quota (cores, GiB, VMs).")
    alloc = _Family("govops_capacity_allocated", "Allocated against the quota (cores, GiB, VMs).")
    used = _Family("govops_capacity_used_mean", "Mean actually used over the report window (cores, GiB).")
    # seconds, Prometheus' base unit (promtool's lint refuses days)
    days = _Family(
        "govops_capacity_time_to_quota_seconds", "Time until the allocation reaches the quota (0: at or over)."
    )
    flag = _Family("govops_capacity_flag", "Capacity flags of a department (1 set, 0 not set).")
    for d in report.departments:
        for key, r in d.resources.items():
            labels = {"department": d.code, "resource": key}
            quota.add(r.quota, **labels)
            alloc.add(r.allocated, **labels)
            used.add(r.used.mean if r.used is not None else None, **labels)
            days.add(None if r.days_to_quota is None else round(r.days_to_quota * 86400), **labels)
        for name, on in (
            ("over_quota", bool(d.over_quota)),
            ("near_quota", bool(d.near_quota)),
            ("growing", bool(d.growing)),
            ("over_allocated", bool(d.reclaim)),
        ):
            flag.add(1 if on else 0, department=d.code, flag=name)
    return _render([quota, alloc, used, days, flag])


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
