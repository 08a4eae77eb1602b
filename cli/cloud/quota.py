"""``govops cloud quota``: limit, in use, reserved and free per department; sync from the file."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from govops.cli.application import app_of
from govops.cli.cloud.labels import label, num, resource_label
from govops.cli.options import YesOpt
from govops.cli.terminal import Column, RecordView, TableView
from govops.errors import ExitCode, NotFoundError
from govops.i18n import Msg

app = typer.Typer(help="Department quotas: limit, in use, reserved and free; sync from the file.", no_args_is_help=True)


@app.command("show")
def quota_show(
    ctx: typer.Context,
    dept: Annotated[str | None, typer.Argument(help="Department (code, project or name); all when left out.")] = None,
) -> None:
    """Limit, in use, reserved and free per resource (cores, RAM, instances, volumes, GiB, floating IPs, ports)."""
    from govops.cloud.ports import as_dict
    from govops.cloud.quota import RESOURCES, quota_report

    a = app_of(ctx)
    departments = a.departments()
    chosen = [departments.get(dept)] if dept else list(departments)
    port = a.cloud()
    with a.terminal.progress(Msg("progress.quotas.read")) as obs:
        report = quota_report(port, chosen, obs)
    if dept and report.missing:
        d = chosen[0]
        raise NotFoundError(Msg("err.cloud.no_project", dept=d.code, project=d.project))
    data = [
        {
            "department": r.department.code,
            "project": r.project.name,
            "project_id": r.project.id,
            "quotas": {k: {**as_dict(u), "free": u.free} for k, u in r.quotas.items.items()},
        }
        for r in report.rows
    ]
    if dept:
        r = report.rows[0]
        rows = []
        for resource in RESOURCES:
            u = r.quotas.get(resource)
            if u is None:
                continue
            rows.append(
                {
                    "resource": resource_label(a, resource),
                    "limit": num(a, u.limit),
                    "in_use": u.in_use,
                    "reserved": u.reserved,
                    "free": num(a, u.free),
                }
            )
        cols = [Column("resource", label(a, "resource"))]
        cols += [Column(k, label(a, k), justify="right") for k in ("limit", "in_use", "reserved", "free")]
        title = f"{label(a, 'quota.title')}: {r.department.name(a.t.lang)} ({r.project.name})"
        a.terminal.render(TableView(cols, rows, title=title, data=data[0]))
        return
    rows = []
    for r in report.rows:
        row: dict[str, Any] = {"code": r.department.code, "name": r.department.name(a.t.lang)}
        for resource in RESOURCES:
            u = r.quotas.get(resource)
            row[resource] = "" if u is None else f"{u.in_use + u.reserved}/{num(a, u.limit)}"
        rows.append(row)
    cols = [Column("code", a.t("col.code")), Column("name", a.t("col.name"))]
    cols += [Column(k, resource_label(a, k), justify="right") for k in RESOURCES]
    caption = f"{label(a, 'in_use')}+{label(a, 'reserved')} / {label(a, 'limit')}"
    a.terminal.render(
        TableView(cols, rows, title=f"{label(a, 'quota.title')} ({len(rows)})", data=data, caption=caption)
    )
    if report.missing:
        a.terminal.warn(a.t("cloud.quota.missing", count=len(report.missing), codes=", ".join(report.missing)))
        raise typer.Exit(ExitCode.FINDINGS)


@app.command("sync")
def quota_sync(
    ctx: typer.Context,
    dept: Annotated[str | None, typer.Option("--dept", help="Only this department.")] = None,
    yes: YesOpt = False,
) -> None:
    """Plan, then set the cloud's quotas to the departments file; fields the file leaves out are never changed."""
    from govops.cloud.quota import apply_sync, plan_sync

    a = app_of(ctx)
    departments = a.departments()
    chosen = [departments.get(dept)] if dept else list(departments)
    port = a.cloud()
    plan = plan_sync(port, chosen)
    rows = [
        {
            "department": c.department,
            "resource": resource_label(a, c.resource),
            "current": num(a, c.current),
            "wanted": num(a, c.wanted),
            "in_use": c.in_use,
            "note": "below current use" if c.below_use else "",
        }
        for c in plan.changes
    ]
    cols = [Column("department", label(a, "department")), Column("resource", label(a, "resource"))]
    cols += [Column(k, label(a, k), justify="right") for k in ("current", "wanted", "in_use")]
    cols.append(Column("note", label(a, "note"), wrap=True))
    data = {
        "changes": [c.__dict__ for c in plan.changes],
        "unchanged": plan.unchanged,
        "missing_projects": list(plan.missing_projects),
    }
    for code in plan.missing_projects:
        a.terminal.warn(a.t("cloud.warn.no_project_skipped", dept=code))
    if not plan.changes:
        a.terminal.render(TableView(cols, rows, title=f"{label(a, 'sync.title')} (0)", data={**data, "applied": []}))
        a.terminal.success(a.t("cloud.sync.match", count=plan.unchanged))
        if plan.missing_projects:
            raise typer.Exit(ExitCode.FINDINGS)
        return
    if a.terminal.output == "table":
        a.terminal.render(TableView(cols, rows, title=f"{label(a, 'sync.title')} ({len(rows)})"))
    departments_changed = len({c.department for c in plan.changes})
    question = a.t("cloud.sync.confirm", changes=len(plan.changes), departments=departments_changed)
    if not a.terminal.confirm(question, assume_yes=yes):
        if a.terminal.output != "table":
            a.terminal.render(RecordView([], {**data, "applied": []}))
        a.terminal.info(a.t("cloud.sync.nothing"))
        return
    with a.terminal.progress(Msg("progress.quotas.set")) as obs:
        result = apply_sync(port, plan, obs)
    if a.terminal.output != "table":
        a.terminal.render(
            RecordView([], {**data, "applied": list(result.applied), "failed": [list(f) for f in result.failed]})
        )
    for code, error in result.failed:
        a.terminal.warn(f"{code}: {error}")
    if result.failed or plan.missing_projects:
        raise typer.Exit(ExitCode.FINDINGS)
    a.terminal.success(a.t("cloud.sync.done", changes=len(plan.changes), departments=len(result.applied)))
