"""``govops cloud``: departments, quotas and VMs on the government OpenStack cloud."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from govops.cli.application import Application, app_of
from govops.cli.options import YesOpt
from govops.cli.play import PostOpt, PostTimeoutOpt, PostVarsOpt, post_request
from govops.cli.terminal import Column, RecordView, TableView
from govops.errors import ExitCode

if TYPE_CHECKING:
    from govops.automation.ports import PlayRequest
    from govops.cloud.ports import CloudPort, Server
    from govops.cloud.vms import VmService
    from govops.departments import Department

app = typer.Typer(
    help="Cloud admins: departments, quotas and VMs on the government OpenStack cloud.", no_args_is_help=True
)
dept_app = typer.Typer(help="Departments from inventories/departments.yaml.", no_args_is_help=True)
quota_app = typer.Typer(
    help="Department quotas: limit, in use, reserved and free; sync from the file.", no_args_is_help=True
)
vm_app = typer.Typer(
    help="Single VMs of a department: create, list, show, start, stop, reboot, resize, delete.", no_args_is_help=True
)
app.add_typer(dept_app, name="dept")
app.add_typer(quota_app, name="quota")
app.add_typer(vm_app, name="vm")

_META_CLOUD = "govops.os_cloud"
_META_REGION = "govops.os_region"
_META_PORT = "govops.cloud_port"

# Labels of this module's tables; i18n.py holds the shared ones (col.code, col.name, ...).
_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "resource": "Resource",
        "limit": "Limit",
        "in_use": "In use",
        "reserved": "Reserved",
        "free": "Free",
        "department": "Department",
        "id": "ID",
        "status": "Status",
        "flavor": "Flavor",
        "host": "Host",
        "az": "AZ",
        "addresses": "Addresses",
        "created": "Created",
        "current": "Current",
        "wanted": "Wanted",
        "note": "Note",
        "unlimited": "unlimited",
        "quota.title": "Quotas",
        "vm.title": "VMs",
        "sync.title": "Quota changes",
        "check.title": "Cloud check",
    },
    "zh": {
        "resource": "资源",
        "limit": "配额",
        "in_use": "已用",
        "reserved": "预留",
        "free": "可用",
        "department": "部门",
        "id": "ID",
        "status": "状态",
        "flavor": "规格",
        "host": "宿主机",
        "az": "可用区",
        "addresses": "地址",
        "created": "创建时间",
        "current": "当前",
        "wanted": "目标",
        "note": "说明",
        "unlimited": "不限",
        "quota.title": "配额",
        "vm.title": "云主机",
        "sync.title": "配额变更",
        "check.title": "云平台检查",
    },
}
_RESOURCE_LABELS = {
    "en": {
        "cores": "vCPU cores",
        "ram_mb": "RAM (MiB)",
        "instances": "instances",
        "volumes": "volumes",
        "gigabytes": "volume GiB",
        "floating_ips": "floating IPs",
        "ports": "ports",
    },
    "zh": {
        "cores": "vCPU",
        "ram_mb": "内存 (MiB)",
        "instances": "云主机数",
        "volumes": "云硬盘数",
        "gigabytes": "云硬盘 (GiB)",
        "floating_ips": "浮动 IP",
        "ports": "端口",
    },
}


def _label(a: Application, key: str) -> str:
    lang = a.t.lang if a.t.lang in _LABELS else "en"
    return _LABELS[lang].get(key) or _LABELS["en"].get(key, key)


def _resource_label(a: Application, resource: str) -> str:
    lang = a.t.lang if a.t.lang in _RESOURCE_LABELS else "en"
    return _RESOURCE_LABELS[lang].get(resource, resource)


@app.callback()
def cloud_main(
    ctx: typer.Context,
    os_cloud: Annotated[
        str | None,
        typer.Option("--os-cloud", help="Cloud in clouds.yaml (else cloud.name in govops.yaml, else $OS_CLOUD)."),
    ] = None,
    os_region: Annotated[
        str | None, typer.Option("--os-region", help="Region of that cloud (else cloud.region, $OS_REGION_NAME).")
    ] = None,
) -> None:
    """Cloud admins: departments, quotas and VMs on the government OpenStack cloud."""
    ctx.meta[_META_CLOUD] = os_cloud
    ctx.meta[_META_REGION] = os_region


def open_port(ctx: typer.Context) -> CloudPort:
    """The cloud the command works on (one connection per command); unit tests replace this."""
    cached = ctx.meta.get(_META_PORT)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    from govops.cloud.connection import resolve_target
    from govops.cloud.openstack import connect

    a = app_of(ctx)
    target = resolve_target(ctx.meta.get(_META_CLOUD), a.config, ctx.meta.get(_META_REGION))
    port = connect(target)
    ctx.meta[_META_PORT] = port
    return port


def _vms(ctx: typer.Context, observer: Any = None) -> VmService:
    from govops.cloud.vms import VmService

    return VmService(open_port(ctx), observer=observer)


# -- dept ---------------------------------------------------------------------------------------------------


@dept_app.command("list")
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


@dept_app.command("show")
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


# -- check --------------------------------------------------------------------------------------------------


@app.command("check")
def check(ctx: typer.Context) -> None:
    """Verify credentials, the catalog and each API govops needs, with the fix for each failure."""
    from govops.cloud.check import CheckItem, run_checks
    from govops.cloud.connection import resolve_target
    from govops.errors import GovopsError

    a = app_of(ctx)
    try:
        target = resolve_target(ctx.meta.get(_META_CLOUD), a.config, ctx.meta.get(_META_REGION))
        port = open_port(ctx)
    except GovopsError as exc:
        items = [CheckItem("clouds.yaml", "fail", exc.message, exc.hint or "")]
    else:
        try:
            depts = list(a.departments())
        except GovopsError as exc:
            a.terminal.warn(f"departments not checked: {exc.message}")
            depts = []
        items = [CheckItem("clouds.yaml", "ok", target.describe()), *run_checks(port, target.describe(), depts)]
    rows = [{"check": c.name, "status": a.t(f"status.{c.status}"), "detail": c.detail, "fix": c.fix} for c in items]
    cols = [
        Column("check", a.t("col.check")),
        Column("status", a.t("col.status")),
        Column("detail", a.t("col.detail")),
        Column("fix", a.t("col.fix")),
    ]
    a.terminal.render(TableView(cols, rows, title=_label(a, "check.title"), data=[c.__dict__ for c in items]))
    failed = sum(c.status == "fail" for c in items)
    if failed:
        a.terminal.warn(f"{failed} check(s) failed")
        raise typer.Exit(ExitCode.FINDINGS)
    a.terminal.success("the cloud has everything govops needs")


# -- quota --------------------------------------------------------------------------------------------------


def _num(a: Application, value: int | None) -> str | int:
    return _label(a, "unlimited") if value is None or value < 0 else value


@quota_app.command("show")
def quota_show(
    ctx: typer.Context,
    dept: Annotated[str | None, typer.Argument(help="Department (code, project or name); all when left out.")] = None,
) -> None:
    """Limit, in use, reserved and free per resource (cores, RAM, instances, volumes, GiB, floating IPs, ports)."""
    from govops.cloud.ports import as_dict
    from govops.cloud.quota import RESOURCES, quota_report
    from govops.errors import NotFoundError

    a = app_of(ctx)
    departments = a.departments()
    chosen = [departments.get(dept)] if dept else list(departments)
    port = open_port(ctx)
    with a.terminal.progress("reading quotas") as obs:
        report = quota_report(port, chosen, obs)
    if dept and report.missing:
        d = chosen[0]
        raise NotFoundError(f"department {d.code}: project '{d.project}' does not exist in the cloud")
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
                    "resource": _resource_label(a, resource),
                    "limit": _num(a, u.limit),
                    "in_use": u.in_use,
                    "reserved": u.reserved,
                    "free": _num(a, u.free),
                }
            )
        cols = [Column("resource", _label(a, "resource"))]
        cols += [Column(k, _label(a, k), justify="right") for k in ("limit", "in_use", "reserved", "free")]
        title = f"{_label(a, 'quota.title')}: {r.department.name(a.t.lang)} ({r.project.name})"
        a.terminal.render(TableView(cols, rows, title=title, data=data[0]))
        return
    rows = []
    for r in report.rows:
        row: dict[str, Any] = {"code": r.department.code, "name": r.department.name(a.t.lang)}
        for resource in RESOURCES:
            u = r.quotas.get(resource)
            row[resource] = "" if u is None else f"{u.in_use + u.reserved}/{_num(a, u.limit)}"
        rows.append(row)
    cols = [Column("code", a.t("col.code")), Column("name", a.t("col.name"))]
    cols += [Column(k, _resource_label(a, k), justify="right") for k in RESOURCES]
    caption = f"{_label(a, 'in_use')}+{_label(a, 'reserved')} / {_label(a, 'limit')}"
    a.terminal.render(
        TableView(cols, rows, title=f"{_label(a, 'quota.title')} ({len(rows)})", data=data, caption=caption)
    )
    if report.missing:
        a.terminal.warn(
            f"{len(report.missing)} department(s) have no project in the cloud: {', '.join(report.missing)}"
        )
        raise typer.Exit(ExitCode.FINDINGS)


@quota_app.command("sync")
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
    port = open_port(ctx)
    plan = plan_sync(port, chosen)
    rows = [
        {
            "department": c.department,
            "resource": _resource_label(a, c.resource),
            "current": _num(a, c.current),
            "wanted": _num(a, c.wanted),
            "in_use": c.in_use,
            "note": "below current use" if c.below_use else "",
        }
        for c in plan.changes
    ]
    cols = [Column("department", _label(a, "department")), Column("resource", _label(a, "resource"))]
    cols += [Column(k, _label(a, k), justify="right") for k in ("current", "wanted", "in_use")]
    cols.append(Column("note", _label(a, "note")))
    data = {
        "changes": [c.__dict__ for c in plan.changes],
        "unchanged": plan.unchanged,
        "missing_projects": list(plan.missing_projects),
    }
    for code in plan.missing_projects:
        a.terminal.warn(f"department {code}: its project does not exist in the cloud; skipped")
    if not plan.changes:
        a.terminal.render(TableView(cols, rows, title=f"{_label(a, 'sync.title')} (0)", data={**data, "applied": []}))
        a.terminal.success(f"quotas match the departments file ({plan.unchanged} limits checked)")
        if plan.missing_projects:
            raise typer.Exit(ExitCode.FINDINGS)
        return
    if a.terminal.output == "table":
        a.terminal.render(TableView(cols, rows, title=f"{_label(a, 'sync.title')} ({len(rows)})"))
    departments_changed = len({c.department for c in plan.changes})
    question = f"apply {len(plan.changes)} quota change(s) to {departments_changed} department(s)?"
    if not a.terminal.confirm(question, assume_yes=yes):
        if a.terminal.output != "table":
            a.terminal.render(RecordView([], {**data, "applied": []}))
        a.terminal.info("nothing changed (pass --yes to apply)")
        return
    with a.terminal.progress("setting quotas") as obs:
        result = apply_sync(port, plan, obs)
    if a.terminal.output != "table":
        a.terminal.render(
            RecordView([], {**data, "applied": list(result.applied), "failed": [list(f) for f in result.failed]})
        )
    for code, error in result.failed:
        a.terminal.warn(f"{code}: {error}")
    if result.failed or plan.missing_projects:
        raise typer.Exit(ExitCode.FINDINGS)
    a.terminal.success(f"{len(plan.changes)} quota(s) set in {len(result.applied)} department(s)")


# -- vm -----------------------------------------------------------------------------------------------------

DeptOpt = Annotated[str, typer.Option("--dept", "-d", help="Department (code, project or name).")]
VmArg = Annotated[str, typer.Argument(help="VM name or ID (within the department).")]
WaitOpt = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the VM is done (with --timeout).")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", min=1, help="Seconds to wait at most.")]


def _server_row(a: Application, s: Server, dept_of: dict[str, str]) -> dict[str, Any]:
    return {
        "name": s.name,
        "id": s.id,
        "department": dept_of.get(s.project_id) or s.department or "",
        "status": s.status + (f" ({s.task_state})" if s.task_state else ""),
        "flavor": s.flavor,
        "host": s.host or "",
        "az": s.az or "",
        "addresses": ", ".join(ip for ips in s.addresses.values() for ip in ips),
        "created": s.created_at or "",
    }


def _server_data(s: Server, department: str | None) -> dict[str, Any]:
    from govops.cloud.ports import as_dict

    return {**as_dict(s), "department": department or s.department}


def _show_server(a: Application, s: Server, department: str | None) -> None:
    fields: list[tuple[str, object]] = [
        (_label(a, "id"), s.id),
        (_label(a, "department"), department or s.department or ""),
        (_label(a, "status"), s.status + (f" ({s.task_state})" if s.task_state else "")),
        (_label(a, "flavor"), f"{s.flavor} ({s.vcpus} vCPU, {s.ram_mb} MiB, {s.disk_gb} GiB)"),
        (_label(a, "host"), s.host or ""),
        (_label(a, "az"), s.az or ""),
        (_label(a, "addresses"), "; ".join(f"{net}: {', '.join(ips)}" for net, ips in s.addresses.items())),
        ("metadata", ", ".join(f"{k}={v}" for k, v in sorted(s.metadata.items()))),
        ("volumes", ", ".join(s.volumes)),
        (_label(a, "created"), s.created_at or ""),
    ]
    if s.fault:
        fields.append(("fault", s.fault))
    a.terminal.render(RecordView(fields, _server_data(s, department), title=s.name))


@vm_app.command("create")
def vm_create(
    ctx: typer.Context,
    dept: DeptOpt,
    name: Annotated[str, typer.Option("--name", help="Server name (unique within the department).")],
    flavor: Annotated[str, typer.Option("--flavor", help="Flavor name or ID.")],
    image: Annotated[str, typer.Option("--image", help="Image name or ID.")],
    network: Annotated[
        list[str] | None, typer.Option("--network", help="Network name or ID; repeat for several (default: auto).")
    ] = None,
    volume_size: Annotated[
        int | None, typer.Option("--volume-size", min=1, help="Attach a new empty data volume of this many GiB.")
    ] = None,
    boot_from_volume: Annotated[
        int | None, typer.Option("--boot-from-volume", min=1, help="Boot from a new volume of this many GiB.")
    ] = None,
    user_data: Annotated[
        Path | None, typer.Option("--user-data", exists=True, dir_okay=False, help="cloud-init user data file.")
    ] = None,
    key_name: Annotated[str | None, typer.Option("--key-name", help="Nova key pair to inject.")] = None,
    az: Annotated[str | None, typer.Option("--az", help="Availability zone.")] = None,
    server_group: Annotated[str | None, typer.Option("--server-group", help="Server group name or ID.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Metadata KEY=VALUE; repeat for several.")] = None,
    system: Annotated[str, typer.Option("--system", help="Business system the VM serves (metadata).")] = "unassigned",
    owner: Annotated[
        str | None, typer.Option("--owner", help="Owner (metadata; default: the department's owner).")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Resume a create that timed out: the run ID it printed.")
    ] = None,
    wait: WaitOpt = True,
    timeout: TimeoutOpt = 600.0,
    keep_failed: Annotated[
        bool, typer.Option("--keep-failed", help="Keep a server that went to ERROR (default: delete it).")
    ] = False,
    post: PostOpt = None,
    post_extra_vars: PostVarsOpt = None,
    post_timeout: PostTimeoutOpt = 1800,
) -> None:
    """Create one VM in the department's project: quota pre-check, duplicate-safe, waits with a deadline."""
    from govops.cloud.vms import VmSpec, parse_tags
    from govops.errors import GovopsError, InputError

    a = app_of(ctx)
    d = a.departments().get(dept)
    if post is not None and not wait:
        raise InputError("--post needs --wait: the playbook runs once the VM is ACTIVE")
    post_req = post_request(a, post, post_extra_vars, post_timeout)
    text = None
    if user_data is not None:
        from govops.cloud.spec import USER_DATA_LIMIT
        from govops.yamlio import read_text

        text = read_text(user_data, str(user_data), "user data file", limit=USER_DATA_LIMIT)
    spec = VmSpec(
        name=name,
        flavor=flavor,
        image=image,
        networks=tuple(network or ()),
        volume_gb=volume_size,
        boot_volume_gb=boot_from_volume,
        user_data=text,
        key_name=key_name,
        az=az,
        server_group=server_group,
        system=system,
        owner=owner,
        tags=parse_tags(tag or ()),
    )
    store = a.store
    run = _run_for(store, run_id, {"department": d.code, "name": name, "flavor": flavor, "image": image})
    a.terminal.info(f"run {run.id}: creating {name} in {d.code}")

    def journal(server: Server, created: bool) -> None:
        info = {"name": server.name, "department": d.code}
        store.journal_add(run.id, "create" if created else "adopt", "server", server.id, info)

    with a.terminal.progress(f"creating {name}") as obs:
        service = _vms(ctx, obs)
        try:
            result = service.create(
                d, spec, run.id, wait=wait, timeout=timeout, delete_on_error=not keep_failed, on_created=journal
            )
        except GovopsError as exc:
            store.record_result(run.id, name, "failed", exc.message, {"department": d.code})
            store.finish_run(run.id, "failed", {"error": exc.message})
            raise
    s = result.server
    store.record_result(run.id, name, "created" if result.created else "kept", None, {"id": s.id, "status": s.status})
    store.finish_run(run.id, "finished", {"server": s.id, "status": s.status})
    _show_server(a, s, d.code)
    verb = "created" if result.created else "found (created by this run before)"
    waited = f" in {result.waited:.1f} s" if result.waited is not None else ""
    a.terminal.success(f"{s.name} {verb}: {s.status}{waited}")
    if post_req is not None:
        _post_one(a, post_req, open_port(ctx).get_server(s.id), run.id)


def _post_one(a: Application, request: PlayRequest, server: Server, run_id: str) -> None:
    """``vm create --post``: the playbook on the new VM; a failure keeps the VM and exits 3."""
    from govops.cli.play import recap_view, run_post

    result, outcomes = run_post(a, request, [server], {"cloud_run": run_id})
    a.store.journal_add(run_id, "post", "playbook", result.run_id, {"playbook": str(request.playbook)})
    a.terminal.render(recap_view(result))
    if any(o.status not in ("ok", "changed") for o in outcomes):
        a.terminal.warn(f"{server.name}: --post {request.playbook.name} failed; the VM is kept")
        raise typer.Exit(ExitCode.FINDINGS)


def _run_for(store: Any, run_id: str | None, params: dict[str, Any]) -> Any:
    """A new run, or the run named by --run-id (created under that ID if this store has not seen it)."""
    from govops.errors import GovopsError

    if run_id is not None:
        try:
            return store.reopen_run(run_id)
        except GovopsError:
            pass
    return store.start_run("cloud.vm.create", params, run_id=run_id)


def _dept_projects(ctx: typer.Context) -> dict[str, str]:
    """project ID -> department code, for every department whose project exists."""
    a = app_of(ctx)
    by_name = {d.project: d.code for d in a.departments()}
    return {p.id: by_name[p.name] for p in open_port(ctx).projects() if p.name in by_name}


@vm_app.command("list")
def vm_list(
    ctx: typer.Context,
    dept: Annotated[str | None, typer.Option("--dept", "-d", help="Only this department.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only this status, e.g. ACTIVE, SHUTOFF, ERROR.")
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Only VMs on this compute host (admin).")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Only VMs with metadata KEY=VALUE; repeatable.")
    ] = None,
) -> None:
    """VMs with department, status, flavor, host and addresses (every department unless --dept)."""
    from govops.cloud.vms import parse_filter_tags

    a = app_of(ctx)
    service = _vms(ctx)
    tags = parse_filter_tags(tag or ())
    if dept:
        d = a.departments().get(dept)
        project = service.project(d)
        servers = service.servers([project.id], status=status, host=host, tags=tags)
        dept_of = {project.id: d.code}
    else:
        servers = service.servers(None, status=status, host=host, tags=tags)
        dept_of = _dept_projects(ctx)
    rows = [_server_row(a, s, dept_of) for s in servers]
    cols = [
        Column(k, _label(a, k))
        for k in ("name", "id", "department", "status", "flavor", "host", "az", "addresses", "created")
    ]
    cols[0] = Column("name", a.t("col.name"))
    data = [_server_data(s, dept_of.get(s.project_id)) for s in servers]
    a.terminal.render(TableView(cols, rows, title=f"{_label(a, 'vm.title')} ({len(rows)})", data=data))


def _target(ctx: typer.Context, dept: str, vm: str) -> tuple[Department, Server, VmService]:
    a = app_of(ctx)
    d = a.departments().get(dept)
    service = _vms(ctx)
    return d, service.find(d, vm), service


@vm_app.command("show")
def vm_show(ctx: typer.Context, vm: VmArg, dept: DeptOpt) -> None:
    """One VM of the department with flavor, host, addresses, metadata, volumes and fault."""
    d, s, _ = _target(ctx, dept, vm)
    _show_server(app_of(ctx), s, d.code)


@vm_app.command("start")
def vm_start(ctx: typer.Context, vm: VmArg, dept: DeptOpt, wait: WaitOpt = True, timeout: TimeoutOpt = 300.0) -> None:
    """Start a stopped VM of the department."""
    _d, s, service = _target(ctx, dept, vm)
    s = service.start(s, wait=wait, timeout=timeout)
    app_of(ctx).terminal.success(f"{s.name}: {s.status}")


@vm_app.command("stop")
def vm_stop(ctx: typer.Context, vm: VmArg, dept: DeptOpt, wait: WaitOpt = True, timeout: TimeoutOpt = 300.0) -> None:
    """Stop (power off) a VM of the department."""
    _d, s, service = _target(ctx, dept, vm)
    s = service.stop(s, wait=wait, timeout=timeout)
    app_of(ctx).terminal.success(f"{s.name}: {s.status}")


@vm_app.command("reboot")
def vm_reboot(
    ctx: typer.Context,
    vm: VmArg,
    dept: DeptOpt,
    hard: Annotated[bool, typer.Option("--hard", help="Hard reboot (power cycle).")] = False,
    wait: WaitOpt = True,
    timeout: TimeoutOpt = 300.0,
) -> None:
    """Reboot a VM of the department (soft unless --hard)."""
    _d, s, service = _target(ctx, dept, vm)
    s = service.reboot(s, hard=hard, wait=wait, timeout=timeout)
    app_of(ctx).terminal.success(f"{s.name}: {s.status}")


@vm_app.command("resize")
def vm_resize(
    ctx: typer.Context,
    vm: VmArg,
    dept: DeptOpt,
    flavor: Annotated[str, typer.Option("--flavor", help="The new flavor (name or ID).")],
    confirm: Annotated[
        bool, typer.Option("--confirm/--no-confirm", help="Confirm the resize once Nova has done it.")
    ] = True,
    timeout: TimeoutOpt = 900.0,
) -> None:
    """Resize a VM of the department to another flavor (quota checked first), then confirm."""
    d, s, service = _target(ctx, dept, vm)
    s = service.resize(d, s, flavor, confirm=confirm, timeout=timeout)
    app_of(ctx).terminal.success(f"{s.name}: {s.flavor}, {s.status}")


@vm_app.command("delete")
def vm_delete(
    ctx: typer.Context,
    vm: VmArg,
    dept: DeptOpt,
    yes: YesOpt = False,
    wait: WaitOpt = True,
    timeout: TimeoutOpt = 300.0,
) -> None:
    """Delete a VM of the department (after confirmation unless --yes); never one of another department."""
    a = app_of(ctx)
    d, s, service = _target(ctx, dept, vm)
    if not a.terminal.confirm(f"delete VM {s.name} ({s.id}) of {d.name(a.t.lang)}?", assume_yes=yes):
        a.terminal.info("nothing deleted (pass --yes to delete without asking)")
        raise typer.Exit(ExitCode.USAGE)
    leftovers = service.delete(s, wait=wait, timeout=timeout)
    a.terminal.success(f"{s.name} ({s.id}) deleted")
    for v in leftovers:
        a.terminal.warn(f"volume {v.id} ({v.size_gb} GiB, {v.status}) was not deleted with the VM: delete it by hand")
    if leftovers:
        raise typer.Exit(ExitCode.FINDINGS)


# Part B of the cloud group (plan, apply, orphans) lives in its own module; registered last so the
# command list stays in one place: `govops cloud --help`.
from govops.cli import cloud_batch  # noqa: E402 - needs `app` above

cloud_batch.register(app)
