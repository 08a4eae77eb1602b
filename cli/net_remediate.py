"""``govops net remediate``: an audit's failing rules fixed on the devices (dry run unless --apply)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from govops.cli.application import Application, app_of
from govops.cli.options import (
    CountyOpt,
    GroupOpt,
    InventoryOpt,
    LevelOpt,
    LimitOpt,
    PlatformOpt,
    ResumeRemediationOpt,
    SiteOpt,
    YesOpt,
    device_filters,
)
from govops.cli.terminal import Column, TableView
from govops.i18n import Msg

OUTPUT_SCHEMA = "govops.net.remediate/1"


def remediate(
    ctx: typer.Context,
    run_id: Annotated[
        str | None, typer.Argument(help="The audit run whose failing rules to fix (default: the latest finished).")
    ] = None,
    rules: Annotated[
        str | None,
        typer.Option("--rules", help="Comma-separated rule ids (default: every rule that has an automatic fix)."),
    ] = None,
    inventory: InventoryOpt = None,
    site: SiteOpt = None,
    county: CountyOpt = None,
    level: LevelOpt = None,
    platform: PlatformOpt = None,
    group: GroupOpt = None,
    limit: LimitOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write one reviewable file per device into this folder.")
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Push the fixes (after confirmation), verify, roll back what fails.")
    ] = False,
    yes: YesOpt = False,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Devices configured at once.")] = None,
    max_failures: Annotated[
        int | None,
        typer.Option("--max-failures", min=1, help="Start no more devices once this many failed or rolled back."),
    ] = None,
    device_timeout: Annotated[
        float | None,
        typer.Option("--device-timeout", min=1, help="Seconds per device for its push (and again for a rollback)."),
    ] = None,
    resume: ResumeRemediationOpt = None,
    executor: Annotated[
        Literal["local", "celery"] | None,
        typer.Option("--executor", help="Where devices are configured: local, or celery workers (network.executor)."),
    ] = None,
) -> None:
    """Fix an audit's failing rules: print the exact lines per device (dry run), or --apply them."""
    from govops.errors import ExitCode, InputError
    from govops.network.remediation.service import plan_run, write_plans
    from govops.network.service import host_key_policy

    a = app_of(ctx)
    rule_list = [r.strip() for r in rules.split(",") if r.strip()] if rules else None
    filters: dict[str, Any] = device_filters(
        site=site, county=county, level=level, platform=platform, group=group, limit=limit
    )
    if resume is not None:
        from govops.network.remediation.engine import RUN_KIND

        previous = a.store.get_run(resume)
        if previous.kind != RUN_KIND:
            raise InputError(a.t("remediate.err.not_remediation", run=resume, kind=previous.kind))
        run_id = previous.params.get("audit_run")
        rule_list = previous.params.get("rules")
        filters = previous.params.get("filters", {})
        inventory = Path(previous.params["inventory"]) if previous.params.get("inventory") else inventory
        apply = True
    inv = a.inventory(inventory)
    planned = plan_run(a, inv, run_id, rule_list, filters, a.t.lang)
    plans = planned.plans
    if not (apply and a.terminal.output != "table"):
        # machine-readable output of an apply is one document: the outcome, whose items are the plan
        _show_plans(a, planned.audit_run, plans)
    if out is not None:
        written = write_plans(plans, out, planned.audit_run)
        a.terminal.info(a.t("remediate.files", count=len(written), path=out))
    to_push = [p for p in plans if p.planned]
    n_lines = sum(len(i.lines) for p in to_push for i in p.planned)
    if not apply:
        a.terminal.info(a.t("remediate.dry_run", run=planned.audit_run, devices=len(to_push), lines=n_lines))
        return
    if not to_push:
        a.terminal.info(a.t("remediate.nothing"))
        return
    # the audit's host-key policy: strict without its file stops here (exit 2), before the question
    host_key_policy(a.config)
    if a.config.config.network.host_key_policy == "accept":
        a.terminal.warn(a.t("host_keys.accept_insecure"))
    question = a.t("remediate.confirm", lines=n_lines, devices=len(to_push))
    if not a.terminal.confirm(question, assume_yes=yes):
        raise InputError(a.t("remediate.err.not_confirmed"), hint=a.t("cloud.hint.confirm"))
    params = {
        "audit_run": planned.audit_run,
        "rules": planned.rules,
        "filters": filters,
        "inventory": str(inv.root),
    }
    # the broker and the workers' queues are checked before the run sends anything (exit 1, resumable)
    remote = (executor or a.config.config.network.executor) == "celery"
    with a.terminal.progress(Msg("progress.remediate.start")) as obs:
        engine = a.remediation_engine(obs, workers=workers, device_timeout=device_timeout, max_failures=max_failures)
        if remote:
            engine.executor = _celery(a)
        report = engine.apply(plans, planned.devices, params, resume=resume)
    _render_outcomes(a, report)
    if report.failed:
        raise typer.Exit(ExitCode.FINDINGS)


def _celery(a: Application) -> Any:
    """The audit's Celery executor, which also publishes remediation batches."""
    from govops.network.remediation.engine import RemediationExecutor

    ex = a.audit_executor()
    if not isinstance(ex, RemediationExecutor):
        raise TypeError(f"{type(ex).__name__} cannot run a remediation")
    return ex


def _show_plans(a: Application, audit_run: str, plans: list[Any]) -> None:
    if a.terminal.output in ("json", "yaml"):
        data = {"schema": OUTPUT_SCHEMA, "audit_run": audit_run, "devices": [p.to_dict() for p in plans]}
        a.terminal.render(TableView([], [], data=data))
        return
    if a.terminal.output == "csv":
        rows = [
            {
                "hostname": p.hostname,
                "platform": p.platform,
                "rule": i.rule,
                "status": i.status,
                "lines": " / ".join(i.lines),
            }
            for p in plans
            for i in p.items
        ]
        a.terminal.render(TableView([Column(k, k) for k in ("hostname", "platform", "rule", "status", "lines")], rows))
        return
    for p in plans:
        head = f"# {p.hostname} ({p.platform}, {p.level}, site {p.site})"
        notes = [f"#   {i.rule}: {i.status}" + (f" - {i.reason}" if i.reason else "") for i in p.items]
        typer.echo("\n".join([head, *notes, *p.session_lines(), ""]))


def _render_outcomes(a: Application, report: Any) -> None:
    from govops.network.remediation.engine import summarize

    if a.terminal.output in ("json", "yaml"):
        data = {
            "schema": OUTPUT_SCHEMA,
            "run": {"id": report.run.id, "status": report.run.status, "params": report.run.params},
            "summary": summarize(report.outcomes),
            "devices": [o.to_dict() for o in report.outcomes],
        }
        a.terminal.render(TableView([], [], data=data))
        return
    people = a.terminal.output == "table"  # csv keeps the values, a table on the terminal is translated

    def status(value: str) -> str:
        return a.t(f"remediate.st.{value}") if people and a.t.has(f"remediate.st.{value}") else value

    rows = [
        {
            "hostname": o.hostname,
            "status": status(o.status),
            "rules": ", ".join(i["rule"] for i in o.items if i["status"] == "planned"),
            "lines": o.lines_sent,
            "reason": o.reason or "",
        }
        for o in report.outcomes
    ]
    cols = [
        Column("hostname", a.t("col.hostname")),
        Column("status", a.t("col.status")),
        Column("rules", a.t("remediate.col.rules")),
        Column("lines", a.t("remediate.col.lines"), "right"),
        Column("reason", a.t("col.detail"), wrap=True),
    ]
    s = summarize(report.outcomes)
    a.terminal.render(TableView(cols, rows, title=a.t("remediate.title", run=report.run.id)))
    statuses = ", ".join(f"{n} {status(k)}" for k, n in sorted(s["status"].items()))
    resumed = a.t("remediate.resumed", count=report.skipped_before_resume) if report.skipped_before_resume else ""
    a.terminal.info(a.t("remediate.summary", run=report.run.id, devices=s["devices"], statuses=statuses) + resumed)
