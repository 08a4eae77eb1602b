"""``govops cloud vm``: single VMs of a department (create, list, show, start, stop, reboot, resize,
delete); ``create --post`` runs a playbook on the new VM."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from govops.cli.application import Application, app_of
from govops.cli.cloud.labels import label
from govops.cli.options import PostOpt, PostTimeoutOpt, PostVarsOpt, YesOpt
from govops.cli.terminal import Column, RecordView, TableView
from govops.cli.views import recap_view
from govops.errors import ExitCode, InputError
from govops.i18n import Msg

if TYPE_CHECKING:
    from govops.cloud.ports import Server
    from govops.cloud.vms import VmService
    from govops.departments import Department

app = typer.Typer(
    help="Single VMs of a department: create, list, show, start, stop, reboot, resize, delete.", no_args_is_help=True
)


def _vms(a: Application, observer: Any = None) -> VmService:
    from govops.cloud.vms import VmService

    return VmService(a.cloud(), observer=observer)


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
        (label(a, "id"), s.id),
        (label(a, "department"), department or s.department or ""),
        (label(a, "status"), s.status + (f" ({s.task_state})" if s.task_state else "")),
        (label(a, "flavor"), f"{s.flavor} ({s.vcpus} vCPU, {s.ram_mb} MiB, {s.disk_gb} GiB)"),
        (label(a, "host"), s.host or ""),
        (label(a, "az"), s.az or ""),
        (label(a, "addresses"), "; ".join(f"{net}: {', '.join(ips)}" for net, ips in s.addresses.items())),
        ("metadata", ", ".join(f"{k}={v}" for k, v in sorted(s.metadata.items()))),
        ("volumes", ", ".join(s.volumes)),
        (label(a, "created"), s.created_at or ""),
    ]
    if s.fault:
        fields.append(("fault", s.fault))
    a.terminal.render(RecordView(fields, _server_data(s, department), title=s.name))


@app.command("create")
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
    from govops.automation.cloud import post_create
    from govops.automation.request import post_request
    from govops.cloud.vms import VmSpec, create_recorded, create_run, parse_tags

    a = app_of(ctx)
    d = a.departments().get(dept)
    if post is not None and not wait:
        raise InputError(a.t("cloud.err.post_needs_wait"))
    post_req = post_request(a.config, a.root, post, post_extra_vars, post_timeout)
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
    run = create_run(a.store, run_id, {"department": d.code, "name": name, "flavor": flavor, "image": image})
    a.terminal.info(a.t("cloud.vm.creating", run=run.id, vm=name, dept=d.code))
    # after Ctrl-C: the same create under the same run adopts the server instead of making a second
    again = ["govops", "cloud", "vm", "create", "--dept", d.code, "--name", name, "--flavor", flavor, "--image", image]
    again += [arg for n in network or () for arg in ("--network", n)] + ["--run-id", run.id]
    with a.terminal.progress(Msg("progress.vm.create", name=name)) as obs:
        result = create_recorded(
            _vms(a, obs),
            a.store,
            run.id,
            d,
            spec,
            wait=wait,
            timeout=timeout,
            delete_on_error=not keep_failed,
            resume=shlex.join(again),
        )
    s = result.server
    _show_server(a, s, d.code)
    verb = a.t("cloud.vm.created") if result.created else a.t("cloud.vm.adopted")
    waited = a.t("cloud.vm.waited", seconds=f"{result.waited:.1f}") if result.waited is not None else ""
    a.terminal.success(f"{s.name} {verb}: {s.status}{waited}")
    if post_req is None:
        return
    with a.terminal.stage_progress(Msg("progress.play", playbook=post_req.playbook.stem)) as observer:
        play, outcomes = post_create(a.cloud(), a.runner(), a.store, post_req, s.id, run.id, observer)
    a.terminal.render(recap_view(play, a.t, people=a.terminal.output == "table"))
    if any(o.status not in ("ok", "changed") for o in outcomes):
        a.terminal.warn(a.t("cloud.warn.post_failed_vm", vm=s.name, playbook=post_req.playbook.name))
        raise typer.Exit(ExitCode.FINDINGS)


def _dept_projects(a: Application) -> dict[str, str]:
    """project ID -> department code, for every department whose project exists."""
    by_name = {d.project: d.code for d in a.departments()}
    return {p.id: by_name[p.name] for p in a.cloud().projects() if p.name in by_name}


@app.command("list")
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
    service = _vms(a)
    tags = parse_filter_tags(tag or ())
    if dept:
        d = a.departments().get(dept)
        project = service.project(d)
        servers = service.servers([project.id], status=status, host=host, tags=tags)
        dept_of = {project.id: d.code}
    else:
        servers = service.servers(None, status=status, host=host, tags=tags)
        dept_of = _dept_projects(a)
    rows = [_server_row(a, s, dept_of) for s in servers]
    cols = [
        Column(k, label(a, k), wrap=k == "addresses")
        for k in ("name", "id", "department", "status", "flavor", "host", "az", "addresses", "created")
    ]
    cols[0] = Column("name", a.t("col.name"))
    data = [_server_data(s, dept_of.get(s.project_id)) for s in servers]
    a.terminal.render(TableView(cols, rows, title=f"{label(a, 'vm.title')} ({len(rows)})", data=data))


def _target(ctx: typer.Context, dept: str, vm: str) -> tuple[Department, Server, VmService]:
    a = app_of(ctx)
    d = a.departments().get(dept)
    service = _vms(a)
    return d, service.find(d, vm), service


@app.command("show")
def vm_show(ctx: typer.Context, vm: VmArg, dept: DeptOpt) -> None:
    """One VM of the department with flavor, host, addresses, metadata, volumes and fault."""
    d, s, _ = _target(ctx, dept, vm)
    _show_server(app_of(ctx), s, d.code)


@app.command("start")
def vm_start(ctx: typer.Context, vm: VmArg, dept: DeptOpt, wait: WaitOpt = True, timeout: TimeoutOpt = 300.0) -> None:
    """Start a stopped VM of the department."""
    _d, s, service = _target(ctx, dept, vm)
    s = service.start(s, wait=wait, timeout=timeout)
    app_of(ctx).terminal.success(f"{s.name}: {s.status}")


@app.command("stop")
def vm_stop(ctx: typer.Context, vm: VmArg, dept: DeptOpt, wait: WaitOpt = True, timeout: TimeoutOpt = 300.0) -> None:
    """Stop (power off) a VM of the department."""
    _d, s, service = _target(ctx, dept, vm)
    s = service.stop(s, wait=wait, timeout=timeout)
    app_of(ctx).terminal.success(f"{s.name}: {s.status}")


@app.command("reboot")
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


@app.command("resize")
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


@app.command("delete")
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
    if not a.terminal.confirm(
        a.t("cloud.vm.confirm_delete", vm=s.name, id=s.id, dept=d.name(a.t.lang)),
        assume_yes=yes,
    ):
        a.terminal.info(a.t("cloud.vm.nothing_deleted"))
        raise typer.Exit(ExitCode.USAGE)
    leftovers = service.delete(s, wait=wait, timeout=timeout)
    a.terminal.success(a.t("cloud.vm.deleted", vm=s.name, id=s.id))
    for v in leftovers:
        a.terminal.warn(a.t("cloud.warn.volume_left", id=v.id, size=v.size_gb, status=v.status))
    if leftovers:
        raise typer.Exit(ExitCode.FINDINGS)
