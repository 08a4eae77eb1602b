"""``govops cloud plan|apply|orphans``: declarative VM batches per department, and what to reclaim;
``apply --post`` runs a playbook on the VMs the apply built. The cloud is ``Application.cloud()``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from govops.cli.application import Application, app_of
from govops.cli.options import PostOpt, PostTimeoutOpt, PostVarsOpt, YesOpt
from govops.cli.terminal import Column, TableView
from govops.errors import ExitCode, InputError, NotFoundError, Problem, ValidationFailed
from govops.i18n import Msg, Translator
from govops.paths import display_path

if TYPE_CHECKING:
    from govops.automation.cloud import PostApply
    from govops.automation.ports import PlayRequest
    from govops.cloud.batch import ApplyResult, Plan
    from govops.cloud.spec import BatchSpec
    from govops.departments import Department

SpecArg = Annotated[Path, typer.Argument(help="The department's batch spec (YAML).", show_default=False)]


def _load(a: Application, spec_file: Path) -> tuple[BatchSpec, Department]:
    from govops.cloud.spec import load_spec

    spec = load_spec(spec_file, display=display_path(spec_file))
    try:
        dept = a.departments().get(spec.department)
    except NotFoundError as exc:
        # the spec named it: point at the spec's line, keep the suggestion
        raise ValidationFailed([Problem(exc.msg, spec.department_at)], hint=exc.hint_msg) from None
    return spec, dept


def _plan_view(plan: Plan, title: str, t: Translator) -> TableView:
    rows = []
    for item in plan.items:
        rows.append(
            {
                "action": "replace" if item.replace else item.action,
                "name": item.name,
                "flavor": item.vm.flavor if item.vm else (item.server.flavor if item.server else ""),
                "server": item.server.id if item.server else "",
                "status": item.server.status if item.server else "",
                "detail": "; ".join(item.changes),
            }
        )
    cols = [
        Column("action", t("col.action")),
        Column("name", t("col.vm")),
        Column("flavor", t("col.flavor")),
        Column("server", t("col.server_id")),
        Column("status", t("col.status")),
        Column("detail", t("col.changes"), wrap=True),
    ]
    return TableView(cols, rows, title=title, data=plan.to_dict())


def _summary(plan: Plan, t: Translator) -> str:
    c = plan.counts()
    replace = sum(1 for i in plan.of("change") if i.replace)
    return t(
        "cloud.plan.summary",
        spec=plan.spec.name,
        dept=plan.department.code,
        create=c["create"],
        change=c["change"] - replace,
        replace=replace,
        orphan=c["orphan"],
        keep=c["keep"],
    )


def plan_cmd(ctx: typer.Context, spec: SpecArg) -> None:
    """Show create/keep/change/orphan per VM of a spec; exit 0 when the cloud matches, 4 on drift, 2 on bad input."""
    from govops.cloud.batch import make_plan

    a = app_of(ctx)
    batch, dept = _load(a, spec)
    plan = make_plan(a.cloud(), batch, dept)
    a.terminal.render(_plan_view(plan, _summary(plan, a.t), a.t))
    if plan.drift:
        raise typer.Exit(ExitCode.CHANGES)


def _outcome_view(result: ApplyResult, t: Translator) -> TableView:
    rows = [o.to_dict() for o in result.outcomes]
    cols = [
        Column("name", t("col.vm")),
        Column("action", t("col.action")),
        Column("status", t("col.result")),
        Column("server_id", t("col.server_id")),
        Column("seconds", t("col.seconds"), justify="right"),
        Column("detail", t("col.detail"), wrap=True),
    ]
    title = f"apply {result.plan.spec.name} ({result.plan.department.code}): {result.status}, run {result.run_id}"
    return TableView(cols, rows, title=title, data=result.to_dict())


def apply_cmd(
    ctx: typer.Context,
    spec: SpecArg,
    prune: Annotated[bool, typer.Option("--prune", help="Delete this spec's servers it no longer names.")] = False,
    keep_partial: Annotated[
        bool, typer.Option("--keep-partial", help="On failure keep what was created (exit 3) instead of rolling back.")
    ] = False,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64, help="VMs built at once.")] = 8,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds each VM may take from create to ACTIVE.")
    ] = 600,
    yes: YesOpt = False,
    post: PostOpt = None,
    post_extra_vars: PostVarsOpt = None,
    post_changed: Annotated[
        bool, typer.Option("--post-changed", help="Run --post also on VMs whose tags changed in place.")
    ] = False,
    post_timeout: PostTimeoutOpt = 1800,
) -> None:
    """Make the cloud match a spec: whole-batch quota pre-check, bounded concurrency, rollback on failure."""
    from govops.automation.request import post_request
    from govops.cloud.batch import ApplyOptions, apply, make_plan
    from govops.cloud.ports import CloudError

    a = app_of(ctx)
    batch, dept = _load(a, spec)
    post_req = post_request(a.config, a.root, post, post_extra_vars, post_timeout)
    port = a.cloud()
    plan = make_plan(port, batch, dept)
    term = a.terminal
    term.info(_summary(plan, a.t))
    deletions = [i for i in plan.of("change") if i.replace] + (plan.of("orphan") if prune else [])
    if deletions:
        names = ", ".join(f"{i.name} ({i.server.id})" for i in deletions if i.server)
        question = a.t("cloud.apply.confirm_delete", count=len(deletions), names=names)
        if not term.confirm(question, assume_yes=yes):
            raise InputError(a.t("cloud.err.not_confirmed"), hint=a.t("cloud.hint.confirm"))
    in_place = [i for i in plan.of("change") if not i.replace]
    if not plan.to_build and not in_place and not deletions:
        orphans = len(plan.of("orphan"))
        kept = a.t("cloud.apply.orphans_kept", count=orphans) if orphans else ""
        term.success(a.t("cloud.apply.nothing", spec=batch.name) + kept)
        if post_req is not None:
            term.info(a.t("cloud.apply.post_no_vm", playbook=post_req.playbook.name))
        return
    options = ApplyOptions(concurrency=concurrency, timeout=timeout, keep_partial=keep_partial, prune=prune)
    with term.stage_progress(Msg("progress.apply.spec", spec=batch.name)) as observer:
        result = apply(port, plan, a.store, label=dept.name(a.t.lang), options=options, observer=observer)
    if post_req is not None and result.status in ("ok", "unchanged"):
        from govops.automation.cloud import post_apply

        with term.stage_progress(Msg("progress.play", playbook=post_req.playbook.stem)) as observer:
            post_result = post_apply(
                port, a.runner(), a.store, result, post_req, changed=post_changed, observer=observer
            )
        _render_post(a, result, post_req, post_result)
        return
    term.render(_outcome_view(result, a.t))
    if post_req is not None:
        term.warn(a.t("cloud.warn.post_not_run", playbook=post_req.playbook.name, status=result.status))
    if result.status == "rolled-back":
        leaked = a.t("cloud.err.leaked", names=", ".join(result.leaked)) if result.leaked else ""
        raise CloudError(
            a.t("cloud.err.rolled_back", run=result.run_id, error=result.error, leaked=leaked),
            hint=a.t("cloud.hint.rolled_back"),
        )
    if result.status == "partial":
        term.warn(a.t("cloud.warn.partial", run=result.run_id, error=result.error))
        raise typer.Exit(ExitCode.FINDINGS)
    term.success(a.t("cloud.apply.done", spec=batch.name, seconds=f"{result.seconds:.1f}", run=result.run_id))


def _render_post(a: Application, result: ApplyResult, request: PlayRequest, post: PostApply) -> None:
    """The apply's outcomes with the --post playbook's result per VM; exit 3 if it failed on any."""
    term = a.terminal
    if post.play is None and not post.outcomes:
        term.info(a.t("cloud.apply.post_no_vm", playbook=request.playbook.name))
    view = _outcome_view(result, a.t)
    for row in view.rows:
        o = post.outcomes.get(str(row.get("server_id") or ""))
        row["post"] = o.status if o else ""
        if o and o.detail and o.status not in ("ok", "changed"):
            row["detail"] = "; ".join(x for x in (row.get("detail"), f"post: {o.detail}") if x)
    view.columns = [*view.columns[:3], Column("post", a.t("col.post")), *view.columns[3:]]
    view.data = {**result.to_dict(), "post": post.to_dict()}
    term.render(view)
    bad = post.failed
    if bad:
        term.warn(
            a.t(
                "cloud.warn.post_failed",
                run=result.run_id,
                playbook=request.playbook.name,
                failed=len(bad),
                total=len(post.outcomes),
            )
        )
        raise typer.Exit(ExitCode.FINDINGS)
    term.success(
        a.t(
            "cloud.apply.post_done",
            spec=result.plan.spec.name,
            playbook=request.playbook.name,
            count=len(post.outcomes),
            run=result.run_id,
        )
    )


def orphans_cmd(
    ctx: typer.Context,
    dept: Annotated[str | None, typer.Option("--dept", help="Only this department (code or name).")] = None,
    stopped_days: Annotated[
        float, typer.Option("--stopped-days", min=0, help="Stopped servers count after this many days.")
    ] = 30,
) -> None:
    """Stopped, untagged and ERROR servers, unattached volumes, unassociated floating IPs (exit 3 if any)."""
    from govops.cloud.orphans import find_orphans

    a = app_of(ctx)
    departments = a.departments()
    department = departments.get(dept) if dept else None
    with a.terminal.progress(Msg("progress.orphans")) as observer:
        report = find_orphans(
            a.cloud(), departments, department=department, stopped_days=stopped_days, observer=observer
        )
    rows = []
    for o in report.items:
        frees = ", ".join(f"{k} {v}" for k, v in o.frees.items() if v)
        rows.append({**o.to_dict(), "reasons": ", ".join(o.reasons), "frees": frees})
    t = a.t
    cols = [
        Column("department", t("col.department")),
        Column("resource", t("col.resource")),
        Column("name", t("col.name")),
        Column("id", t("col.id")),
        Column("reasons", t("col.why"), wrap=True),
        Column("status", t("col.status")),
        Column("idle_days", t("col.idle_days"), justify="right"),
        Column("frees", t("col.frees"), wrap=True),
        Column("detail", t("col.detail"), wrap=True),
    ]
    if department:
        title = t("cloud.orphans.title_dept", count=len(rows), dept=department.code)
    else:
        title = t("cloud.orphans.title", count=len(rows))
    a.terminal.render(TableView(cols, rows, title=title, data=report.to_dict()))
    if report.items:
        raise typer.Exit(ExitCode.FINDINGS)
