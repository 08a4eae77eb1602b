"""``govops play``: run Ansible playbooks (post-provisioning, remediation) through ansible-runner.

Also the helpers ``govops cloud apply --post`` and ``vm create --post`` use: resolving a playbook,
the vault password and extra vars into a ``PlayRequest``, and running it with live progress.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from govops.cli.application import Application, app_of
from govops.cli.terminal import Column, TableView
from govops.errors import ExitCode, InputError

if TYPE_CHECKING:
    from govops.automation.cloud import PostOutcome
    from govops.automation.play import PlayResult
    from govops.automation.ports import PlaybookRunner, PlayRequest
    from govops.cloud.ports import Server
    from govops.credentials import Secret

app = typer.Typer(
    help="Playbooks for post-provisioning and remediation, run through ansible-runner.", no_args_is_help=True
)

ExtraVarsOpt = Annotated[
    list[str] | None,
    typer.Option("--extra-vars", "-e", help="Extra variables: NAME=VALUE or @FILE.yml; repeatable."),
]
VaultFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--vault-password-file",
        help="File holding the ansible-vault password, or an executable that prints it "
        "(else $GOVOPS_VAULT_PASSWORD, credentials.vault_password_file).",
    ),
]


# -- shared with cloud apply/vm create --post ------------------------------------------------------------


def playbook_dirs(a: Application) -> list[Path]:
    from govops.automation.play import playbook_dirs as existing

    return existing(Path.cwd() / "playbooks", a.config.playbooks_dir, a.root / "playbooks")


def make_runner(a: Application) -> PlaybookRunner:
    """The playbook runner commands use; unit tests replace this function."""
    from govops.automation.ansible import AnsibleRunner
    from govops.paths import data_dir

    return AnsibleRunner(data_dir() / "ansible")


def _vault(a: Application, explicit: Path | None) -> tuple[Secret | None, Path | None, tuple[str, ...]]:
    """(password, executable password file, env vars to hide) from the option, env or config."""
    import os

    from govops.credentials import Secret

    env_name = a.config.config.credentials.vault_password_env
    hide = (env_name,)
    source = explicit
    if source is None:
        value = os.environ.get(env_name)
        if value:
            return Secret(value), None, hide
        source = a.config.vault_password_file
        if source is None:
            return None, None, hide
    if not source.is_file():
        raise InputError(f"{source}: vault password file not found")
    if os.access(source, os.X_OK):
        return None, source.resolve(), hide  # a vault client script: Ansible runs it
    try:
        text = source.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{source}: cannot read the vault password ({exc})") from None
    if not text:
        raise InputError(f"{source}: the vault password file is empty")
    return Secret(text), None, hide


def build_request(
    a: Application,
    playbook: str,
    inventory: Path | Mapping[str, Any],
    *,
    limit: str | None = None,
    extra_vars: list[str] | None = None,
    forks: int = 10,
    check: bool = False,
    diff: bool = False,
    timeout: float = 3600.0,
    vault_password_file: Path | None = None,
    keep_artifacts: bool = False,
) -> PlayRequest:
    from govops.automation.play import check_playbook, parse_extra_vars, resolve_playbook
    from govops.automation.ports import PlayRequest
    from govops.store import new_run_id

    path = resolve_playbook(playbook, playbook_dirs(a))
    check_playbook(path)  # before a cloud apply creates anything
    pairs, files = parse_extra_vars(extra_vars or [], Path.cwd())
    password, password_file, hide = _vault(a, vault_password_file)
    return PlayRequest(
        playbook=path,
        inventory=inventory.resolve() if isinstance(inventory, Path) else inventory,
        run_id=new_run_id(),
        limit=limit,
        extra_vars=pairs,
        extra_var_files=tuple(files),
        forks=forks,
        check=check,
        diff=diff,
        timeout=timeout,
        vault_password=password,
        vault_password_file=password_file,
        hide_env=hide,
        keep_artifacts=keep_artifacts,
    )


def run_with_progress(a: Application, request: PlayRequest, params: Mapping[str, Any] | None = None) -> PlayResult:
    from govops.automation.play import run_play

    with a.terminal.stage_progress(f"play {request.playbook.stem}") as observer:
        return run_play(make_runner(a), a.store, request, observer=observer, params=params)


PostOpt = Annotated[
    str | None,
    typer.Option("--post", help="Then run this playbook on the new VMs (a file, or a name in a playbooks folder)."),
]
PostVarsOpt = Annotated[
    list[str] | None,
    typer.Option("--post-extra-vars", help="Extra variables for --post: NAME=VALUE or @FILE.yml; repeatable."),
]
PostTimeoutOpt = Annotated[float, typer.Option("--post-timeout", min=1, help="Seconds the --post playbook may take.")]


def post_request(
    a: Application, playbook: str | None, extra_vars: list[str] | None, timeout: float
) -> PlayRequest | None:
    """The --post run, checked before anything is created; its inventory comes once the VMs exist."""
    if playbook is None:
        if extra_vars:
            raise InputError("--post-extra-vars needs --post PLAYBOOK")
        return None
    return build_request(a, playbook, {}, extra_vars=extra_vars, timeout=timeout)


def run_post(
    a: Application, request: PlayRequest, servers: list[Server], params: Mapping[str, Any]
) -> tuple[PlayResult, list[PostOutcome]]:
    """Run ``request``'s playbook on ``servers`` (inventory from the cloud); results per server."""
    import dataclasses

    from govops.automation.cloud import cloud_inventory, outcomes_by_server

    inventory = cloud_inventory(servers)
    request = dataclasses.replace(request, inventory=inventory)
    result = run_with_progress(a, request, params)
    return result, outcomes_by_server(inventory, result)


def recap_view(result: PlayResult) -> TableView:
    rows = []
    for h in result.hosts:
        d = h.to_dict()
        d["failed_tasks"] = "; ".join(f"{f.task}: {f.message}" if f.task else f.message for f in h.failures)
        rows.append(d)
    # PLAY RECAP's own short labels keep the table narrow enough for an 80-column terminal
    cols = [
        Column("host", "Host"),
        Column("status", "Status"),
        Column("ok", "ok", justify="right"),
        Column("changed", "chg", justify="right"),
        Column("unreachable", "unr", justify="right"),
        Column("failed", "fail", justify="right"),
        Column("skipped", "skip", justify="right"),
        Column("rescued", "resc", justify="right"),
        Column("ignored", "ign", justify="right"),
        Column("failed_tasks", "Failed tasks"),
    ]
    mode = " (check mode)" if result.check else ""
    title = f"PLAY RECAP {result.playbook}{mode}: {result.status}, run {result.run_id}"
    return TableView(cols, rows, title=title, data=result.to_dict())


def result_line(result: PlayResult) -> str:
    c = result.counts()
    return ", ".join(f"{n} {s}" for s, n in sorted(c.items())) or "no host"


# -- commands ------------------------------------------------------------------------------------------------


@app.command("list")
def list_cmd(ctx: typer.Context) -> None:
    """Playbooks in ./playbooks and the configured playbooks folder, with their description."""
    from govops.automation.play import list_playbooks
    from govops.paths import display_path

    a = app_of(ctx)
    dirs = playbook_dirs(a)
    rows = [{"name": p.name, "description": p.description, "path": display_path(p.path)} for p in list_playbooks(dirs)]
    cols = [Column("name", "Playbook"), Column("description", "Description"), Column("path", "Path")]
    where = ", ".join(display_path(d) for d in dirs) or "no playbook folder found"
    a.terminal.render(TableView(cols, rows, title=f"playbooks ({where})"))


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    playbook: Annotated[str, typer.Argument(help="A playbook file, or its name in a playbooks folder.")],
    inventory: Annotated[
        Path | None, typer.Option("--inventory", "-i", help="Ansible inventory file or folder.")
    ] = None,
    hosts: Annotated[
        str | None, typer.Option("--hosts", help="Comma-separated hosts (names or addresses) instead of an inventory.")
    ] = None,
    limit: Annotated[
        str | None, typer.Option("--limit", "-l", help="Only these hosts/groups (Ansible pattern).")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="net: the extranet inventory (groups county_*, level_*, platform_*)."),
    ] = None,
    extra_vars: ExtraVarsOpt = None,
    forks: Annotated[int, typer.Option("--forks", min=1, max=500, help="Hosts worked on at once.")] = 10,
    check: Annotated[bool, typer.Option("--check", help="Dry run: report what would change.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Show what changes in files and templates.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds the whole run may take.")] = 3600,
    vault_password_file: VaultFileOpt = None,
    keep_artifacts: Annotated[
        bool, typer.Option("--keep-artifacts", help="Keep ansible-runner's private folder (secrets scrubbed).")
    ] = False,
) -> None:
    """Run a playbook: live progress per host, a PLAY RECAP table; exit 3 if any host failed."""
    from govops.automation.play import hosts_inventory

    a = app_of(ctx)
    if sum(x is not None for x in (inventory, hosts, target)) != 1:
        raise InputError("give exactly one of --inventory FILE or --hosts a,b (or --target net)")
    inv: Path | Mapping[str, Any]
    if target is not None:
        if target != "net":
            raise InputError(f"unknown --target '{target}' (one of: net)")
        from govops.automation.net import net_inventory

        inv = net_inventory(a.inventory(), a.config.config.credentials.env_prefix)
    else:
        inv = inventory if inventory is not None else hosts_inventory((hosts or "").split(","))
    request = build_request(
        a,
        playbook,
        inv,
        limit=limit,
        extra_vars=extra_vars,
        forks=forks,
        check=check,
        diff=diff,
        timeout=timeout,
        vault_password_file=vault_password_file,
        keep_artifacts=keep_artifacts,
    )
    result = run_with_progress(a, request)
    a.terminal.render(recap_view(result))
    if result.artifacts:
        a.terminal.info(f"artifacts kept in {result.artifacts}")
    if result.status != "ok":
        a.terminal.warn(f"run {result.run_id}: {result_line(result)}" + (f": {result.error}" if result.error else ""))
        raise typer.Exit(ExitCode.FINDINGS)
    a.terminal.success(f"{result.playbook}: {result_line(result)} in {result.seconds:.1f} s (run {result.run_id})")
