"""``govops cloud dept``: departments from inventories/departments.yaml."""

from __future__ import annotations

from typing import Annotated

import typer
from govops.cli.application import app_of
from govops.cli.terminal import Column, RecordView, TableView

app = typer.Typer(help="Departments from inventories/departments.yaml.", no_args_is_help=True)


@app.command("list")
def dept_list(ctx: typer.Context) -> None:
    """Every department with its OpenStack project, owner and quotas."""
    from govops.departments import QUOTA_FIELDS

    a = app_of(ctx)
    depts = a.departments()
    lang = a.t.lang
    rows = [
        {
            "code": d.code,
            "name": d.name(lang),
            "project": d.project,
            "owner": d.owner.name if d.owner else "",
            **{k: v for k, v in d.quotas.set_fields().items() if k in QUOTA_FIELDS},
        }
        for d in depts
    ]
    cols = [
        Column("code", a.t("col.code")),
        Column("name", a.t("col.name")),
        Column("project", a.t("col.project")),
        Column("owner", a.t("col.owner")),
    ]
    cols += [Column(k, a.t(f"col.{k}"), justify="right") for k in QUOTA_FIELDS]
    data = [d.model_dump(mode="json") for d in depts]
    a.terminal.render(TableView(cols, rows, title=f"{a.t('dept.title')} ({len(rows)})", data=data))


@app.command("show")
def dept_show(
    ctx: typer.Context,
    dept: Annotated[str, typer.Argument(help="Code, project, Chinese or English name.")],
) -> None:
    """One department: names, project, owner and quota limits."""
    a = app_of(ctx)
    d = a.departments().get(dept)
    data = d.model_dump(mode="json")
    fields: list[tuple[str, object]] = [
        (a.t("col.code"), d.code),
        (a.t("col.name"), f"{d.name_zh} / {d.name_en}"),
        (a.t("col.project"), d.project),
        (
            a.t("col.owner"),
            ", ".join(x for x in (d.owner.name, d.owner.email, d.owner.phone) if x) if d.owner else "",
        ),
    ]
    fields += [(a.t(f"col.{k}"), v) for k, v in d.quotas.set_fields().items()]
    a.terminal.render(RecordView(fields, data, title=d.name(a.t.lang)))
