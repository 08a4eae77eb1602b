"""``govops report``: printable reports in Chinese or English from the results store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from govops.cli import sources
from govops.cli.application import Application, app_of
from govops.cli.options import AtOpt, ConfidenceOpt, HorizonOpt, SourceOpt, StepOpt, WindowOpt

app = typer.Typer(help="Reports for managers (capacity, audit results) in Chinese or English.", no_args_is_help=True)

FormatOpt = Annotated[Literal["md", "html"], typer.Option("--format", "-f", help="Markdown or a standalone HTML page.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write the report to this file (default: stdout).")]


def _emit(a: Application, text: str, out: Path | None) -> None:
    import sys

    from govops.errors import InputError

    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{out}: cannot write the report ({exc.strerror})") from None
    a.terminal.success(f"wrote {out}")


@app.command("capacity")
def capacity(
    ctx: typer.Context,
    fmt: FormatOpt = "md",
    out: OutOpt = None,
    window: WindowOpt = "30d",
    step: StepOpt = "1h",
    at: AtOpt = None,
    horizon: HorizonOpt = "90d",
    source: SourceOpt = "auto",
    confidence: ConfidenceOpt = 80.0,
) -> None:
    """A capacity report to forward: city summary, departments near quota with dates, top growers,
    over-allocated departments, every department (exit 3: quota findings; 1: a source failed)."""
    from govops.capacity.assemble import ReportRequest
    from govops.errors import ExitCode
    from govops.reports.capacity import render

    a = app_of(ctx)
    request = ReportRequest(None, window, step, at, horizon, confidence=confidence, cloud_full=True)
    with a.terminal.progress("capacity") as obs:
        report = sources.planner(ctx, obs).report(request, source, rightsize=True)
    for w in report.warnings:
        a.terminal.warn(w)
    _emit(a, render(report, a.t.lang, fmt), out)
    if report.failed_sources:
        raise typer.Exit(ExitCode.ERROR)
    if report.findings:
        raise typer.Exit(ExitCode.FINDINGS)


@app.command("audit")
def audit(
    ctx: typer.Context,
    run_id: Annotated[
        str | None, typer.Argument(help="The audit run (default: the latest finished one, see `govops net runs`).")
    ] = None,
    fmt: FormatOpt = "md",
    out: OutOpt = None,
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare", help="Run to compare with (default: the previous finished run of the same selection)."
        ),
    ] = None,
) -> None:
    """A network audit report to forward: run header, IPv6 readiness index by level and county with its
    trend, findings by severity, top failing rules, devices not audited (exit 3: findings or failed devices)."""
    from govops.errors import ExitCode
    from govops.reports.audit import load, render

    a = app_of(ctx)
    data = load(a.store, run_id, compare)
    _emit(a, render(data, a.t.lang, fmt), out)
    if data.has_findings:
        raise typer.Exit(ExitCode.FINDINGS)
