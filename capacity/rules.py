"""Recording rules for the capacity queries (``govops capacity rules``), and their use when present.

Without them every ``capacity show`` / ``rightsize`` over 90 days decodes every 5-minute sample of
every VM series (about 180 M samples for 1,000 VMs), on one core per query. The rules below keep,
once an hour, exactly what the queries evaluate at each 1-hour step: per department the sums the
usage range queries return (CPU cores from ``rate()``, memory used, disk written), the CPU
seconds of the hour (for the window's exact mean) and the quotas and allocations (the forecasts'
daily points), and per VM the CPU cores, memory "usable" and
vCPUs rightsizing takes its p95 / p5 / coverage from. Each rule's expression is the raw query's own
expression at one step (built by the same functions), so a recorded value evaluated on the hour is
the raw figure itself.

The query side asks one cheap question first (``probe``): are the recorded series there, with the
configured department key, at the window's end and at its start? Only then, and only at a 1-hour
``--step`` (the rules' resolution), are they read; otherwise the raw series are, as before, and the
result says which (``usage_series``: ``recorded`` | ``raw``) and why.

Rule evaluation time: Prometheus evaluates a group at a fixed offset within its interval (a hash of
the group), ``promtool tsdb create-blocks-from rules`` on the interval's multiples of ``--start``.
The queries take the newest recorded sample within the hour before each step, so with rules
evaluated off the hour a figure is up to one hour older than the raw one (means and p95 over days
do not move beyond rounding; the "latest" figure may).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from govops.capacity import metrics as m
from govops.capacity.labels import Labelling
from govops.i18n import Msg, Text

if TYPE_CHECKING:
    from govops.capacity.ports import MetricsPort

SeriesChoice = Literal["auto", "raw", "recorded"]
SERIES_CHOICES: tuple[SeriesChoice, ...] = ("auto", "raw", "recorded")
RULES_STEP = 3600.0  # the resolution the recorded series serve: the commands' default --step
INTERVAL = "1h"
GROUP = "govops-capacity"
PROBE_TAG = "govops_probe"

DEPT_CPU = "govops:department_cpu_cores:rate2h"
DEPT_RAM = "govops:department_memory_used_bytes"
DEPT_DISK = "govops:department_disk_allocation_bytes"
DEPT_CPU_SECONDS = "govops:department_cpu_seconds:increase1h"
# openstack-exporter's quotas and allocations per department (tagged as service.limits_query tags them)
DEPT_LIMITS = "govops:department_limits:last2h"
VM_CPU = "govops:vm_cpu_cores:rate2h"
VM_USABLE = "govops:vm_memory_usable_bytes"
VM_VCPUS = "govops:vm_vcpus"
DEPARTMENT_SERIES = (DEPT_CPU, DEPT_RAM, DEPT_DISK, DEPT_CPU_SECONDS, DEPT_LIMITS)
LIMIT_SERIES = (DEPT_LIMITS,)
VM_SERIES = (VM_CPU, VM_USABLE, VM_VCPUS)


def _duration(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"


def vm_by(lab: Labelling, host_label: str) -> str:
    """The labels a VM is told apart by (rightsizing's grouping)."""
    return f"max by ({m.VM_UUID}, {m.VM_NAME}, {m.DOMAIN}, {host_label}, {lab.vm_key})"


def rules(lab: Labelling, host_label: str = m.VM_HOST) -> list[tuple[str, str]]:
    """(recorded name, expression) for ``lab``'s labelling. Department rules read the exporters' series
    directly, not other recorded series: promtool's backfill cannot see rules of its own run."""
    from govops.capacity.service import limits_lookback, limits_query, usage_queries

    usage = usage_queries(lab, RULES_STEP)
    back = _duration(2 * RULES_STEP)
    rate = _duration(2 * RULES_STEP - 1)
    by = vm_by(lab, host_label)
    return [
        (DEPT_CPU, usage["cpu_used"]),
        (DEPT_RAM, usage["ram_used"]),
        (DEPT_DISK, usage["storage_used"]),
        (DEPT_CPU_SECONDS, f"sum by ({lab.vm_key}) ({lab.vm(f'increase({m.CPU_SECONDS}[{INTERVAL}])', None, back)})"),
        (DEPT_LIMITS, limits_query(lab, None, limits_lookback(RULES_STEP))),
        (VM_CPU, f"{by} ({lab.vm(f'rate({m.CPU_SECONDS}[{rate}])', None, back)})"),
        (VM_USABLE, f"{by} ({lab.vm(m.MEM_USABLE, None, back)})"),
        (VM_VCPUS, f"{by} ({lab.vm(m.VCPUS, None, back)})"),
    ]


def rules_yaml(lab: Labelling, host_label: str = m.VM_HOST) -> str:
    """A Prometheus rules file (``rule_files:``) holding ``rules`` as one group evaluated hourly."""
    import json

    how = {
        "label": f"the '{lab.department_label}' label",
        "project_name": "the project name (project_name / tenant)",
        "project_id": "the project ID (project_uuid / tenant_id)",
    }[lab.department_from]
    head = [
        "# Recording rules for govops capacity (written by `govops capacity rules`).",
        f"# Departments by {how}"
        + (f", joined from {lab.info_metric} on {lab.join_on}" if lab.joined else "")
        + f"; hypervisor label '{host_label}'.",
        "# Load it with rule_files: in prometheus.yml; backfill history with",
        "#   promtool tsdb create-blocks-from rules --start=<first day> --end=<now> --url=<prometheus> THIS_FILE",
        "# (see the capacity planning guide). Regenerate it when prometheus.* labelling changes.",
        "groups:",
        f"  - name: {GROUP}",
        f"    interval: {INTERVAL}",
        "    rules:",
    ]
    body = []
    for name, expr in rules(lab, host_label):
        # JSON strings are YAML double-quoted scalars: no escaping rules of our own
        body += [f"      - record: {name}", f"        expr: {json.dumps(expr)}"]
    return "\n".join(head + body) + "\n"


def check_rules(text: str) -> tuple[bool, str]:
    """``promtool check rules`` on ``text``: (ok, promtool's output); (True, "") without promtool."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    tool = shutil.which("promtool")
    if tool is None:
        return True, ""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "govops-capacity.rules.yml"
        path.write_text(text, encoding="utf-8")
        proc = subprocess.run([tool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


# -- the query side ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """Which series a report read: ``recorded`` or ``raw``, and a note when recorded series exist
    but could not be used (empty otherwise)."""

    series: Literal["raw", "recorded"]
    note: Text = ""


def _key(lab: Labelling, name: str) -> str:
    """The department key label a recorded series carries (openstack-exporter's for the limits)."""
    return lab.tenant_key if name in LIMIT_SERIES else lab.vm_key


def probe_query(lab: Labelling, names: Sequence[str], window: float, host_label: str) -> str:
    """One instant query (at the window's end): for each recorded name, how many series carry the
    department key at the end and at the window's start; and whether raw series exist at the start."""
    parts: list[tuple[str, str]] = []
    back = _duration(RULES_STEP - 1)
    offset = f" offset {_duration(window)}"
    raw = m.Q_VCPUS_USED if set(names) <= set(LIMIT_SERIES) else m.CPU_SECONDS
    for name in names:
        need = f'{_key(lab, name)}!=""' + (f',{host_label}!=""' if name in VM_SERIES else "")
        sel = f"{name}{{{need}}}[{back}]"
        parts += [
            (f"{name}@end", f"count(last_over_time({sel}))"),
            (f"{name}@start", f"count(last_over_time({sel}{offset}))"),
        ]
    parts.append(("raw@start", f"count(last_over_time({raw}[{back}]{offset}))"))
    return " or ".join(f'label_replace({expr}, "{PROBE_TAG}", "{tag}", "", "")' for tag, expr in parts)


def choose(
    metrics: MetricsPort,
    lab: Labelling,
    names: Sequence[str],
    *,
    end: float,
    window: float,
    step: float,
    wanted: SeriesChoice = "auto",
    host_label: str = m.VM_HOST,
) -> Choice:
    """Recorded series when ``wanted`` allows, the step is the rules' and they cover the window; one
    request (none for ``raw`` or another step)."""
    if wanted == "raw":
        return Choice("raw")
    if step != RULES_STEP:
        note = Msg("cap.warn.recorded_step", step=f"{step:g}")
        return Choice("raw", note if wanted == "recorded" else "")
    found: dict[str, float] = {}
    for s in metrics.query(probe_query(lab, names, window, host_label), end):
        found[s.labels.get(PROBE_TAG, "")] = s.value
    missing = [n for n in names if not found.get(f"{n}@end")]
    if missing:
        if len(missing) == len(names) and wanted == "auto":
            return Choice("raw")  # no rules loaded: nothing to say
        return Choice(
            "raw",
            f"recorded series missing ({', '.join(missing)}; load `govops capacity rules` for this labelling): "
            "raw series read",
        )
    late = [n for n in names if not found.get(f"{n}@start")]
    if late and found.get("raw@start"):
        return Choice(
            "raw",
            "recorded series start after the window's start: raw series read "
            "(backfill them with `promtool tsdb create-blocks-from rules`, see the capacity planning guide)",
        )
    return Choice("recorded")


def _sel(name: str, lab: Labelling, values: Sequence[str] | None) -> str:
    return f'{name}{{{_key(lab, name)}=~"{lab.alternatives(values)}"}}' if values else name


def recorded_limits_query(lab: Labelling, values: Sequence[str] | None = None) -> str:
    """``service.limits_query`` (daily points, 2-hour lookback) from the recorded hourly values: the
    newest of the hour before each day's end, with the same tags."""
    return f"last_over_time({_sel(DEPT_LIMITS, lab, values)}[{_duration(RULES_STEP - 1)}])"


def recorded_usage_queries(lab: Labelling, values: Sequence[str] | None = None) -> dict[str, str]:
    """``service.usage_queries`` at a 1-hour step, from the recorded per-department sums: the newest
    recorded sample of the hour before each step (the one on the step when the rules run on the hour)."""
    back = _duration(RULES_STEP - 1)
    by = f"sum by ({lab.vm_key})"
    return {
        tag: f"{by} (last_over_time({_sel(name, lab, values)}[{back}]))"
        for tag, name in (("cpu_used", DEPT_CPU), ("ram_used", DEPT_RAM), ("storage_used", DEPT_DISK))
    }


def recorded_cpu_mean_query(lab: Labelling, window: float, values: Sequence[str] | None = None) -> str:
    """Mean cores over the window: the CPU seconds of its hours, summed, over its length (the raw
    query's rate over the whole window, counted hour by hour)."""
    return (
        f"sum by ({lab.vm_key}) (sum_over_time({_sel(DEPT_CPU_SECONDS, lab, values)}[{_duration(window - 1)}]))"
        f" / {_duration(window)[:-1]}"
    )


def recorded_vm_parts(lab: Labelling, window: float, values: Sequence[str] | None = None) -> Mapping[str, str]:
    """Rightsizing's window parts (p95 CPU, p5 usable, steps with data) from the per-VM recorded series;
    a range over them holds the same hourly steps as the raw subquery ``[window:1h]``."""
    w = _duration(window)
    return {
        "cpu_p95": f"quantile_over_time(0.95, {_sel(VM_CPU, lab, values)}[{w}])",
        "usable_p05": f"quantile_over_time(0.05, {_sel(VM_USABLE, lab, values)}[{w}])",
        "steps": f"count_over_time({_sel(VM_VCPUS, lab, values)}[{w}])",
    }
