"""``govops cloud check``: credentials, the catalog and each API govops needs."""

from __future__ import annotations

import typer
from govops.cli.application import app_of
from govops.cli.cloud.labels import label
from govops.cli.terminal import Column, TableView
from govops.errors import ExitCode, GovopsError


def check(ctx: typer.Context) -> None:
    """Verify credentials, the catalog and each API govops needs, with the fix for each failure."""
    from govops.cloud.check import CheckItem, run_checks

    a = app_of(ctx)
    try:
        target = a.cloud_target()
        port = a.cloud()
    except GovopsError as exc:
        items = [CheckItem("clouds.yaml", "fail", exc.render_in(a.t), exc.hint_in(a.t) or "")]
    else:
        try:
            depts = list(a.departments())
        except GovopsError as exc:
            a.terminal.warn(a.t("cloud.warn.depts_not_checked", error=exc.render_in(a.t)))
            depts = []
        items = [CheckItem("clouds.yaml", "ok", target.describe()), *run_checks(port, target.describe(), depts)]
    rows = [{"check": c.name, "status": a.t(f"status.{c.status}"), "detail": c.detail, "fix": c.fix} for c in items]
    cols = [
        Column("check", a.t("col.check")),
        Column("status", a.t("col.status")),
        Column("detail", a.t("col.detail")),
        Column("fix", a.t("col.fix")),
    ]
    a.terminal.render(TableView(cols, rows, title=label(a, "check.title"), data=[c.__dict__ for c in items]))
    failed = sum(c.status == "fail" for c in items)
    if failed:
        a.terminal.warn(a.t("cloud.warn.checks_failed", count=failed))
        raise typer.Exit(ExitCode.FINDINGS)
    a.terminal.success(a.t("cloud.check.ok"))
