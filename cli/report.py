"""``govops report``: printable reports in Chinese or English from the results store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from govops.cli.application import app_of
from govops.cli.capacity import AtOpt, HorizonOpt, SourceOpt, StepOpt, WindowOpt, build_report

app = typer.Typer(help="Reports for managers (capacity, audit results) in Chinese or English.", no_args_is_help=True)


@app.command("capacity")
def capacity(
    ctx: typer.Context,
    fmt: Annotated[
        Literal["md", "html"], typer.Option("--format", "-f", help="Markdown or a standalone HTML page.")
    ] = "md",
    out: Annotated[Path | None, typer.Option("--out", help="Write the report to this file (default: stdout).")] = None,
    window: WindowOpt = "30d",
    step: StepOpt = "1h",
    at: AtOpt = None,
    horizon: HorizonOpt = "90d",
    source: SourceOpt = "auto",
) -> None:
    """A capacity report to forward: city summary, departments near quota with dates, top growers,
    over-allocated departments, every department (exit 3: quota findings)."""
    import sys

    from govops.errors import ExitCode, InputError
    from govops.reports.capacity import render

    a = app_of(ctx)
    with a.terminal.progress("capacity") as obs:
        report = build_report(ctx, obs, dept=None, window=window, step=step, at=at, horizon=horizon, source=source)
    text = render(report, a.t.lang, fmt)
    if out is None:
        sys.stdout.write(text)
    else:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{out}: cannot write the report ({exc.strerror})") from None
        a.terminal.success(f"wrote {out}")
    if report.findings:
        raise typer.Exit(ExitCode.FINDINGS)
