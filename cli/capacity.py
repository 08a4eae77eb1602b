"""``govops capacity``: CPU, memory and storage used and allocated against quotas, with forecasts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from govops.cli.application import Application, app_of
from govops.cli.terminal import Column, TableView
from govops.errors import ExitCode

if TYPE_CHECKING:
    from govops.capacity.ports import MetricsPort
    from govops.capacity.service import CapacityReport
    from govops.cloud.ports import CloudPort
    from govops.observer import Observer

app = typer.Typer(
    help="Managers: capacity used and allocated per department against quota, with forecasts "
    "(from OpenStack and Prometheus).",
    no_args_is_help=True,
)

Source = Literal["auto", "openstack", "prometheus"]
DeptOpt = Annotated[str | None, typer.Option("--dept", "-d", help="Only this department (code, project or name).")]
WindowOpt = Annotated[str, typer.Option("--window", help="History for usage and growth, e.g. 30d, 12h, 2w.")]
StepOpt = Annotated[str, typer.Option("--step", help="Resolution of usage series (p95, daily means).")]
AtOpt = Annotated[str | None, typer.Option("--at", help="Report time: now, ISO 8601 or Unix seconds (default now).")]
HorizonOpt = Annotated[str, typer.Option("--horizon", help="Flag quotas reached within this time, e.g. 90d.")]
SourceOpt = Annotated[
    Source,
    typer.Option(
        "--source",
        help="Quotas and allocations from: openstack, prometheus (openstack-exporter), "
        "or auto (openstack when a cloud is configured).",
    ),
]
GrowthOpt = Annotated[float, typer.Option("--growth-threshold", help="'growing': CPU/RAM use up this % per 30 days.")]
ReclaimOpt = Annotated[
    float, typer.Option("--reclaim-below", help="'over-allocated': p95 use below this % of allocated.")
]


def open_metrics(ctx: typer.Context) -> MetricsPort:
    """The configured Prometheus; unit tests replace this."""
    from govops.capacity.prometheus import connect
    from govops.errors import ConfigError

    a = app_of(ctx)
    section = a.config.config.prometheus
    if not section.url:
        raise ConfigError(
            f"no Prometheus configured ({a.config.describe_source()})",
            hint="set prometheus.url in govops.yaml (e.g. http://prometheus.example:9090)",
        )
    return connect(section.url, timeout=section.timeout)


def open_cloud(ctx: typer.Context, source: Source) -> CloudPort | None:
    """The cloud for allocations, or None to read them from Prometheus; unit tests replace this."""
    import os

    if source == "prometheus":
        return None
    a = app_of(ctx)
    configured = a.config.config.cloud.name or os.environ.get("OS_CLOUD") or os.environ.get("OS_AUTH_URL")
    if source == "auto" and not configured:
        return None
    from govops.cloud.connection import resolve_target
    from govops.cloud.openstack import connect

    return connect(resolve_target(None, a.config, None))


def build_report(
    ctx: typer.Context,
    observer: Observer,
    *,
    dept: str | None,
    window: str,
    step: str,
    at: str | None,
    horizon: str,
    source: Source,
    growth_threshold: float = 20.0,
    reclaim_below: float = 20.0,
) -> CapacityReport:
    """Options parsed, ports opened, the service run: shared by ``capacity`` and ``report capacity``."""
    from govops.capacity.service import CapacityService, Options
    from govops.capacity.timespec import parse_duration, parse_time
    from govops.errors import InputError

    a = app_of(ctx)
    if growth_threshold <= 0 or not 0 < reclaim_below <= 100:
        raise InputError("--growth-threshold must be > 0 and --reclaim-below within (0, 100]")
    opts = Options(
        at=parse_time(at),
        window=parse_duration(window, "--window"),
        step=parse_duration(step, "--step"),
        horizon_days=parse_duration(horizon, "--horizon") / 86400,
        growth_threshold_pct=growth_threshold,
        reclaim_below_pct=reclaim_below,
        label=a.config.config.prometheus.department_label,
    )
    opts.check()
    departments = a.departments()
    chosen = [departments.get(dept)] if dept else list(departments)
    service = CapacityService(open_metrics(ctx), open_cloud(ctx, source), observer)
    report = service.report(chosen, opts, only=dept is not None)
    for w in report.warnings:
        a.terminal.warn(w)
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
) -> None:
    """Per department: vCPU, RAM and volumes used (mean, p95) and allocated against quota (exit 3: quota findings)."""
    from govops.reports.capacity import flag_text, hypervisor_summary, used_alloc_quota

    a = app_of(ctx)
    with a.terminal.progress("capacity") as obs:
        report = build_report(
            ctx,
            obs,
            dept=dept,
            window=window,
            step=step,
            at=at,
            horizon=horizon,
            source=source,
            growth_threshold=growth_threshold,
            reclaim_below=reclaim_below,
        )
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
) -> None:
    """Quotas reached within the horizon, soonest first, with growth per day and date (exit 3 when any)."""
    from govops.reports.capacity import fmt

    a = app_of(ctx)
    with a.terminal.progress("capacity") as obs:
        report = build_report(ctx, obs, dept=dept, window=window, step=step, at=at, horizon=horizon, source=source)
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
            Column("forecast", lab("col.forecast")),
        ]
        title = lab("forecast.title", horizon=f"{report.horizon_days:g}")
        if rows:
            a.terminal.render(TableView(cols, rows, title=title))
        else:
            a.terminal.success(lab("near.none", horizon=f"{report.horizon_days:g}"))
    _exit_for_findings(a, report)
