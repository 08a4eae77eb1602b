"""``govops report``: documents to forward (HTML, PDF, XLSX, Markdown) in Chinese or English, and
the figures as Prometheus metrics for the city's Grafana."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from govops.cli import sources
from govops.cli.application import Application, app_of
from govops.cli.options import AtOpt, ConfidenceOpt, HorizonOpt, SourceOpt, StepOpt, WindowOpt
from govops.i18n import Msg

if TYPE_CHECKING:
    from govops.reports.audit import AuditReportData
    from govops.reports.locale import Locale

app = typer.Typer(
    help="Reports for managers (capacity, audit results) in Chinese or English: HTML, PDF, XLSX, Markdown.",
    no_args_is_help=True,
)

Format = Literal["html", "pdf", "xlsx", "md"]
FormatOpt = Annotated[
    Format | None,
    typer.Option(
        "--format",
        "-f",
        help="md (Markdown), html (one self-contained page with charts), pdf (A4, from the page) or xlsx "
        "(a sheet per section); default: from the --out file's extension, else md. pdf and xlsx need --out.",
        show_default=False,
    ),
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write the report to this file (default: stdout).")]
SUFFIXES: dict[str, Format] = {".html": "html", ".htm": "html", ".pdf": "pdf", ".xlsx": "xlsx", ".md": "md"}


def _format(a: Application, fmt: Format | None, out: Path | None) -> Format:
    """Before any work: the format (given, or the --out file's), a file for the binary ones, and the
    packages the format needs."""
    from govops.errors import InputError
    from govops.reports.render import check_renderer

    implied = SUFFIXES.get(out.suffix.lower()) if out is not None else None
    if fmt is None:
        fmt = implied or "md"
    elif implied is not None and implied != fmt:
        # a Markdown page in a file called .pdf: nobody could open what they forward
        raise InputError(a.t("report.err.suffix", path=out, fmt=fmt, implied=implied))
    if out is None and fmt in ("pdf", "xlsx"):
        raise InputError(a.t("report.err.need_out", fmt=fmt))
    check_renderer(fmt)
    return fmt


def _emit(a: Application, data: bytes, out: Path | None) -> None:
    import sys

    from govops.errors import InputError

    if out is None:
        sys.stdout.write(data.decode())
        return
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise InputError(a.t("report.err.write", path=out, reason=exc.strerror)) from None
    a.terminal.success(a.t("report.wrote", path=out))


def report_locale(a: Application) -> Locale:
    from govops.reports.locale import Locale, zone

    return Locale(a.t.lang, zone(a.config.config.report.timezone))


@app.command("capacity")
def capacity(
    ctx: typer.Context,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    window: WindowOpt = "30d",
    step: StepOpt = "1h",
    at: AtOpt = None,
    horizon: HorizonOpt = "90d",
    source: SourceOpt = "auto",
    confidence: ConfidenceOpt = 80.0,
) -> None:
    """A capacity report to forward: executive summary, charts of quota / allocated / used and of usage
    with its forecast, departments near or over quota with dates, reclaimable resources, every department
    (exit 3: quota findings; 1: a source failed)."""
    from govops.capacity.assemble import ReportRequest
    from govops.errors import ExitCode
    from govops.reports.capacity import CapacityExtras, build
    from govops.reports.render import render_bytes

    a = app_of(ctx)
    fmt = _format(a, fmt, out)
    loc = report_locale(a)
    request = ReportRequest(None, window, step, at, horizon, confidence=confidence, cloud_full=True)
    with a.terminal.progress(Msg("progress.capacity")) as obs:
        report = sources.planner(ctx, obs).report(request, source, rightsize=True)
    for w in report.warnings:
        a.terminal.warn(w)
    extras = CapacityExtras.from_store(a.store, report)
    _emit(a, render_bytes(build(report, a.t.lang, loc=loc, extras=extras), fmt), out)
    if report.failed_sources:
        raise typer.Exit(ExitCode.ERROR)
    if report.findings:
        raise typer.Exit(ExitCode.FINDINGS)


def audit_data(a: Application, run_id: str | None, compare: str | None) -> AuditReportData:
    """The run from the store, with site names from its inventory and fix lines from the rules."""
    from govops.errors import GovopsError
    from govops.reports.audit import fixes_of, load, site_names_of

    data = load(a.store, run_id, compare)
    inv_path = data.current.run.params.get("inventory")
    for candidate in ([Path(inv_path)] if inv_path else []) + [None]:
        try:
            data.site_names = site_names_of(a.inventory(candidate))
            break
        except (GovopsError, OSError):
            continue  # an inventory moved since: the report shows codes where names are unknown
    try:
        from govops.network.analysis import known_facts
        from govops.network.rules.engine import load_rules

        rule_files = [a.config.path(p) for p in a.config.config.network.rules]
        data.fixes = fixes_of(load_rules(rule_files, known_facts()))
    except GovopsError:
        data.fixes = fixes_of(load_rules([], known_facts()))
    return data


@app.command("audit")
def audit(
    ctx: typer.Context,
    run_id: Annotated[
        str | None, typer.Argument(help="The audit run (default: the latest finished one, see `govops net runs`).")
    ] = None,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare", help="Run to compare with (default: the previous finished run of the same selection)."
        ),
    ] = None,
) -> None:
    """A network audit report to forward: executive summary, IPv6 readiness by level and county (names
    from the inventory) with charts and trend, findings by severity, top failing rules, devices not
    audited, a worklist of failing checks with fixes, an evidence appendix (exit 3: findings or failed
    devices)."""
    from govops.errors import ExitCode
    from govops.reports.audit import build
    from govops.reports.render import render_bytes

    a = app_of(ctx)
    fmt = _format(a, fmt, out)
    data = audit_data(a, run_id, compare)
    _emit(a, render_bytes(build(data, a.t.lang, loc=report_locale(a)), fmt), out)
    if data.has_findings:
        raise typer.Exit(ExitCode.FINDINGS)


@app.command("metrics")
def metrics(
    ctx: typer.Context,
    out: Annotated[
        Path,
        typer.Option("--out", help="The .prom file node_exporter's textfile collector reads (written atomically)."),
    ],
    run_id: Annotated[
        str | None, typer.Option("--run", help="The audit run (default: the latest finished one).")
    ] = None,
    capacity: Annotated[
        bool | None,
        typer.Option(
            "--capacity/--no-capacity",
            help="Also the departments' capacity figures and flags (default: when prometheus.url is configured).",
        ),
    ] = None,
) -> None:
    """Readiness index (city, county, level), failed checks by severity and, with --capacity, the
    departments' capacity flags in Prometheus' text format for node_exporter's textfile collector."""
    from govops.capacity.assemble import ReportRequest
    from govops.errors import GovopsError, InputError
    from govops.reports.metrics import audit_metrics, capacity_metrics, write_atomic

    a = app_of(ctx)
    try:
        text = audit_metrics(audit_data(a, run_id, None))
    except InputError:
        if run_id is not None or capacity is False or not a.config.config.prometheus.url:
            raise
        text = ""  # no audit yet: the capacity figures alone
        a.terminal.warn(a.t("report.warn.capacity_only"))
    asked = capacity
    if capacity is None:
        capacity = bool(a.config.config.prometheus.url)
    if capacity:
        try:
            with a.terminal.progress(Msg("progress.capacity")) as obs:
                report = sources.planner(ctx, obs).report(ReportRequest(), "auto")
            text += capacity_metrics(report)
        except GovopsError as exc:
            if asked:
                raise
            # not asked for: the audit's metrics still go to Grafana, without the capacity ones
            a.terminal.warn(a.t("report.warn.capacity_left_out", error=exc.render_in(a.t)))
    try:
        write_atomic(out, text)
    except OSError as exc:
        raise InputError(a.t("report.err.write", path=out, reason=exc.strerror)) from None
    a.terminal.success(a.t("report.wrote", path=out))
