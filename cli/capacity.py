"""``govops capacity``: quotas, allocations and use per department, cloud headroom, what-if, rightsizing.

Each command parses its options, calls one service (``govops.capacity``) and renders the result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from govops.cli import sources
from govops.cli.application import Application, app_of
from govops.cli.options import AtOpt, ConfidenceOpt, DeptOpt, HorizonOpt, SourceOpt, StepOpt, WindowOpt
from govops.cli.terminal import Column, TableView
from govops.errors import ExitCode
from govops.i18n import Msg

if TYPE_CHECKING:
    from govops.capacity.planner import Source
    from govops.capacity.service import CapacityReport
    from govops.observer import Observer

app = typer.Typer(
    help="Managers: capacity used and allocated per department against quota, with forecasts; the cloud's "
    "headroom (Placement), what-if, rightsizing and daily snapshots (from OpenStack and Prometheus).",
    no_args_is_help=True,
)

GrowthOpt = Annotated[float, typer.Option("--growth-threshold", help="'growing': CPU/RAM use up this % per 30 days.")]
ReclaimOpt = Annotated[
    float, typer.Option("--reclaim-below", help="'over-allocated': p95 use below this % of allocated.")
]


def _report(ctx: typer.Context, observer: Observer, request: Any, source: Source) -> CapacityReport:
    """The capacity report on this command line's ports; its notes shown as warnings."""
    report = sources.planner(ctx, observer).report(request, source)
    a = app_of(ctx)
    for w in report.warnings:
        a.terminal.warn(w)
    if report.usage_series == "recorded":
        a.terminal.info(a.t("capacity.series.recorded"))
    return report


def _labels(a: Application) -> Any:
    from govops.reports.capacity import Labels

    return Labels(a.t.lang)


def _n(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits) + 0.0  # + 0.0: no "-0.0" for a tiny decline


def _render_csv_or_json(a: Application, report: CapacityReport) -> bool:
    """json/yaml: the ``govops.capacity/1`` document; csv: one row per department and resource."""
    from govops.capacity.schema import CSV_COLUMNS, csv_rows, report_dict

    if a.terminal.output in ("json", "yaml"):
        a.terminal.render(TableView([], [], data=report_dict(report)))
        return True
    if a.terminal.output == "csv":
        cols = [Column(c, c) for c in CSV_COLUMNS]
        a.terminal.render(TableView(cols, csv_rows(report, a.t.lang)))
        return True
    return False


def _exit_for_findings(a: Application, report: CapacityReport) -> None:
    if report.failed_sources:
        raise typer.Exit(ExitCode.ERROR)
    if report.findings:
        lab = _labels(a)
        a.terminal.warn(lab("findings", count=len(report.findings), horizon=f"{report.horizon_days:g}"))
        raise typer.Exit(ExitCode.FINDINGS)


@app.command("show")
def show(
    ctx: typer.Context,
    dept: DeptOpt = None,
    window: WindowOpt = "30d",
    step: StepOpt = "1h",
    at: AtOpt = None,
    horizon: HorizonOpt = "90d",
    source: SourceOpt = "auto",
    growth_threshold: GrowthOpt = 20.0,
    reclaim_below: ReclaimOpt = 20.0,
    confidence: ConfidenceOpt = 80.0,
) -> None:
    """Per department: vCPU, RAM and volumes used (mean, p95) and allocated against quota (exit 3: quota
    findings; 1: Prometheus or the cloud failed, what the other gave is shown)."""
    from govops.capacity.assemble import ReportRequest
    from govops.reports.capacity import flag_text, hypervisor_summary, used_alloc_quota

    a = app_of(ctx)
    request = ReportRequest(dept, window, step, at, horizon, growth_threshold, reclaim_below, confidence)
    with a.terminal.progress(Msg("progress.capacity")) as obs:
        report = _report(ctx, obs, request, source)
    if not _render_csv_or_json(a, report):
        lab = _labels(a)
        rows = []
        for d in report.departments:
            res = d.resources
            rows.append(
                {
                    "code": d.code,
                    "name": d.name(a.t.lang),
                    "cpu": used_alloc_quota(res["cpu"], lab),
                    "cpu_util": _n(res["cpu"].utilisation_pct),
                    "ram": used_alloc_quota(res["ram"], lab),
                    "ram_util": _n(res["ram"].utilisation_pct),
                    "storage": used_alloc_quota(res["storage"], lab),
                    "vol_pct": _n(res["storage"].quota_pct),
                    "flags": flag_text(d, lab),
                }
            )
        util = lab("col.util")
        cols = [
            Column("code", lab("col.code")),
            Column("name", lab("col.department")),
            Column("cpu", lab("col.cpu"), justify="right"),
            Column("cpu_util", f"vCPU {util}", justify="right"),
            Column("ram", lab("col.ram"), justify="right"),
            Column("ram_util", f"{lab('res.ram')} {util}", justify="right"),
            Column("storage", lab("col.storage"), justify="right"),
            Column("vol_pct", lab("col.quota_pct"), justify="right"),
            Column("flags", lab("col.flags")),
        ]
        caption = hypervisor_summary(report, lab) if report.hypervisors else None
        a.terminal.render(TableView(cols, rows, title=f"{lab('capacity.title')} ({len(rows)})", caption=caption))
    _exit_for_findings(a, report)


@app.command("forecast")
def forecast(
    ctx: typer.Context,
    dept: DeptOpt = None,
    horizon: HorizonOpt = "90d",
    window: WindowOpt = "30d",
    step: StepOpt = "1h",
    at: AtOpt = None,
    source: SourceOpt = "auto",
    all_rows: Annotated[
        bool, typer.Option("--all", help="Every department and resource, not only those reaching a quota.")
    ] = False,
    confidence: ConfidenceOpt = 80.0,
) -> None:
    """Quotas reached within the horizon, soonest first, with growth per day and the date with its range
    (conservative-aggressive); without --dept also when the cloud is full (Placement's effective capacity).
    Method: least squares through daily values (see --confidence). Exit 3 when a quota is reached."""
    from govops.capacity.assemble import ReportRequest
    from govops.reports.capacity import fmt

    a = app_of(ctx)
    # the table shows quotas, allocations and dates only: no usage asked for (json/csv carry everything)
    usage = a.terminal.output in ("json", "yaml", "csv")
    request = ReportRequest(
        dept, window, step, at, horizon, confidence=confidence, cloud_full=dept is None, usage=usage
    )
    with a.terminal.progress(Msg("progress.capacity")) as obs:
        report = _report(ctx, obs, request, source)
    if not _render_csv_or_json(a, report):
        lab = _labels(a)
        items = [
            (d, k, r)
            for d in report.departments
            for k, r in d.resources.items()
            if all_rows or dept or k in d.near_quota
        ]
        items.sort(key=lambda x: (x[2].days_to_quota is None, x[2].days_to_quota or 0.0, x[0].code, x[1]))
        rows = [
            {
                "code": d.code,
                "name": d.name(a.t.lang),
                "resource": lab(f"res.{k}"),
                "allocated": f"{fmt(r.allocated, 0)} / {fmt(r.quota, 0)}",
                "quota_pct": _n(r.quota_pct),
                "growth": _n(r.allocation_growth_per_day, 2),
                "days": _n(r.days_to_quota),
                "date": r.quota_date,
                "range": _range(r.quota_date_conservative, r.quota_date_aggressive),
                "forecast": ("! " if k in d.near_quota else "") + lab(f"forecast.{r.forecast}"),
            }
            for d, k, r in items
        ]

        def num(key: str, label: str) -> Column:
            return Column(key, label, justify="right")

        cols = [
            Column("code", lab("col.code")),
            Column("name", lab("col.department")),
            Column("resource", lab("col.resource")),
            num("allocated", f"{lab('col.allocated')} / {lab('col.quota')}"),
            num("quota_pct", "%"),
            num("growth", lab("col.alloc_growth")),
            num("days", lab("col.days")),
            Column("date", lab("col.date")),
            Column("range", f"{report.options.confidence:.0%}"),
            Column("forecast", lab("col.forecast")),
        ]
        title = lab("forecast.title", horizon=f"{report.horizon_days:g}")
        if rows:
            a.terminal.render(TableView(cols, rows, title=title))
        else:
            a.terminal.success(lab("near.none", horizon=f"{report.horizon_days:g}"))
        if report.cloud_full:
            from govops.cli.capacity_views import cloud_full_table

            a.terminal.render(cloud_full_table(report, a.t.lang))
    _exit_for_findings(a, report)


def _range(low: str | None, high: str | None) -> str | None:
    if low is None and high is None:
        return None
    return f"{low or '?'} … {high or 'later'}"


AzOpt = Annotated[str | None, typer.Option("--az", help="Only this availability zone.")]


@app.command("cloud")
def cloud(
    ctx: typer.Context,
    at: AtOpt = None,
    az: AzOpt = None,
    hosts: Annotated[bool, typer.Option("--hosts", help="One row per hypervisor too.")] = False,
    step: StepOpt = "1h",
) -> None:
    """The cloud's headroom from Placement: per host, zone and total, capacity = (total - reserved) x
    allocation_ratio, allocated, free, next to physical use (Prometheus); how many more VMs of each flavor
    fit, host by host (exit 1: Placement or Prometheus failed, what the other gave is shown)."""
    from govops.capacity.schema import document, headroom_dict
    from govops.capacity.timespec import parse_duration, parse_time
    from govops.cli import capacity_views as views

    a = app_of(ctx)
    when = parse_time(at)
    step_s = parse_duration(step, "--step")
    with a.terminal.progress(Msg("progress.capacity")) as obs:
        result = sources.planner(ctx, obs, store=False).headroom(when, step=step_s, az=az)
    for w in result.warnings:
        a.terminal.warn(w)
    if a.terminal.output in ("json", "yaml"):
        a.terminal.render(TableView([], [], data=document(when, cloud_headroom=headroom_dict(result))))
    elif a.terminal.output == "csv":
        a.terminal.render(views.headroom_csv(result))
    else:
        if hosts:
            a.terminal.render(views.hosts_table(result, a.t.lang))
        a.terminal.render(views.zones_table(result, a.t.lang))
        if result.flavors:
            a.terminal.render(views.slots_table(result, a.t.lang))
    if not result.complete:
        raise typer.Exit(ExitCode.ERROR)


@app.command("whatif")
def whatif(
    ctx: typer.Context,
    dept: DeptOpt = None,
    add: Annotated[
        list[str] | None, typer.Option("--add", help="COUNTxFLAVOR to add, e.g. 40xm1.large (repeatable).")
    ] = None,
    az: AzOpt = None,
    spec: Annotated[
        str | None, typer.Option("--spec", help="A `govops cloud apply` spec: its VMs, flavors, zones and volumes.")
    ] = None,
    window: WindowOpt = "30d",
    at: AtOpt = None,
) -> None:
    """Would these VMs fit? The department's quota (each resource, the shortfall named), the cloud's free
    capacity host by host per zone, the resource that runs out first and how many days earlier each quota is
    reached at the department's growth. Nothing is created. Exit 0 fits, 3 does not fit, 1 the cloud's
    fit is unknown (Placement forbidden) though the quota fits."""
    from pathlib import Path

    from govops.capacity.schema import document, whatif_dict
    from govops.capacity.timespec import parse_time
    from govops.capacity.whatif import describe
    from govops.cli import capacity_views as views

    a = app_of(ctx)
    when = parse_time(at)
    with a.terminal.progress(Msg("progress.capacity")) as obs:
        result = sources.planner(ctx, obs, store=False).whatif(
            dept, add or [], az=az, spec=Path(spec) if spec else None, window=window, at=when
        )
    for w in result.warnings:
        a.terminal.warn(w)
    if a.terminal.output in ("json", "yaml"):
        a.terminal.render(TableView([], [], data=document(when, whatif=whatif_dict(result))))
    else:
        a.terminal.render(views.whatif_table(result, a.terminal.output == "csv", a.t.lang))
        if a.terminal.output != "csv":
            (a.terminal.success if result.fits else a.terminal.warn)(describe(result))
    if not result.fits:
        raise typer.Exit(ExitCode.FINDINGS)
    if result.cloud_fits is None:
        raise typer.Exit(ExitCode.ERROR)


@app.command("rightsize")
def rightsize(
    ctx: typer.Context,
    dept: DeptOpt = None,
    window: WindowOpt = "30d",
    step: StepOpt = "1h",
    at: AtOpt = None,
    idle_below: Annotated[float, typer.Option("--idle-below", help="Idle: p95 CPU below this % of vCPUs.")] = 5.0,
    headroom: Annotated[
        float, typer.Option("--headroom", help="Oversized: the smallest flavor holding p95 CPU and RAM x this.")
    ] = 1.3,
    stopped_days: Annotated[
        float, typer.Option("--stopped-days", help="Stopped: SHUTOFF for more than this many days.")
    ] = 30.0,
) -> None:
    """Idle VMs (p95 CPU below --idle-below % all window), oversized VMs (a smaller flavor holds p95 x
    --headroom), VMs stopped for more than --stopped-days; each with its department, flavor, suggestion and
    the quota it frees, and totals per department (exit 3 when any is found, 1 when a source failed)."""
    from govops.capacity.rightsize import RightsizeOptions
    from govops.capacity.schema import document, rightsize_dict
    from govops.capacity.timespec import parse_duration, parse_time
    from govops.cli import capacity_views as views

    a = app_of(ctx)
    opts = RightsizeOptions(
        at=parse_time(at),
        window=parse_duration(window, "--window"),
        step=parse_duration(step, "--step"),
        idle_cpu_pct=idle_below,
        headroom=headroom,
        stopped_days=stopped_days,
    )
    with a.terminal.progress(Msg("progress.capacity")) as obs:
        result = sources.planner(ctx, obs, store=False).rightsize(opts, dept)
    for w in result.warnings:
        a.terminal.warn(w)
    if result.usage_series == "recorded":
        a.terminal.info(a.t("capacity.series.recorded"))
    if a.terminal.output in ("json", "yaml"):
        a.terminal.render(TableView([], [], data=document(result.at, rightsize=rightsize_dict(result))))
    else:
        a.terminal.render(views.rightsize_table(result, a.t.lang))
        if a.terminal.output != "csv" and result.totals:
            a.terminal.render(views.rightsize_totals_table(result, a.t.lang))
    if result.failed_sources:
        raise typer.Exit(ExitCode.ERROR)
    if result.findings:
        raise typer.Exit(ExitCode.FINDINGS)


@app.command("rules")
def rules(
    ctx: typer.Context,
    check: Annotated[
        bool, typer.Option("--check", help="Validate the file with `promtool check rules` (when installed).")
    ] = False,
) -> None:
    """Print a Prometheus recording rules file for the configured labelling (prometheus.department_from,
    department_label, info_metric, host_label): hourly per-department and per-VM aggregates that `show`,
    `forecast` and `rightsize` read instead of every raw sample when Prometheus holds them for the whole
    window (at --step 1h; otherwise the raw series, and the output says which). Load it with `rule_files:`
    in prometheus.yml and backfill its history with `promtool tsdb create-blocks-from rules`."""
    from govops.capacity.labels import Labelling
    from govops.capacity.rules import check_rules, rules_yaml

    a = app_of(ctx)
    p = a.config.config.prometheus
    text = rules_yaml(Labelling(p.department_from, p.department_label, p.info_metric), p.host_label)
    if check:
        ok, output = check_rules(text)
        if not ok:
            a.terminal.warn(output)
            raise typer.Exit(ExitCode.ERROR)
        if output:
            a.terminal.info(output)
    typer.echo(text, nl=False)


@app.command("snapshot")
def snapshot(
    ctx: typer.Context,
    at: AtOpt = None,
    step: StepOpt = "1h",
    source: SourceOpt = "auto",
) -> None:
    """Store today's figures per department (quota, allocated, used mean/p95) and the cloud's headroom in
    the results store, once per UTC day (run again: nothing is written). Reports use them for the part of
    a window Prometheus no longer holds. Timer: `govops capacity snapshot` daily, e.g. cron
    `15 0 * * * govops capacity snapshot`."""
    a = app_of(ctx)
    with a.terminal.progress(Msg("progress.capacity")) as obs:
        outcome = sources.planner(ctx, obs).snapshot(at=at, step=step, source=source)
    for w in outcome.warnings:
        a.terminal.warn(w)
    result = outcome.result
    data = {
        "day": result.day,
        "written": list(result.written),
        "kept": list(result.kept),
        "cloud": result.cloud,
        "store": a.store.display_url,
    }
    if a.terminal.output in ("json", "yaml"):
        a.terminal.render(TableView([], [], data=data))
    else:
        a.terminal.success(
            f"snapshot of {result.day}: {len(result.written)} department(s) written, {len(result.kept)} already "
            f"stored{', cloud headroom' if result.cloud else ''} ({data['store']})"
        )
    if outcome.failed:
        raise typer.Exit(ExitCode.ERROR)
