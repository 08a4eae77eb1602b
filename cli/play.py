"""``govops play``: run Ansible playbooks (post-provisioning, remediation) through ansible-runner.

The request (playbook, vault password, extra vars) is built by ``govops.automation.request``, the
runner is ``Application.runner()``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from govops.cli.application import app_of
from govops.cli.terminal import Column, TableView
from govops.cli.views import recap_view, result_line
from govops.errors import ExitCode, InputError
from govops.i18n import Msg
from govops.paths import display_path

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


# -- commands ------------------------------------------------------------------------------------------------


@app.command("list")
def list_cmd(ctx: typer.Context) -> None:
    """Playbooks in ./playbooks and the configured playbooks folder, with their description."""
    from govops.automation.play import list_playbooks

    a = app_of(ctx)
    dirs = a.playbook_dirs()
    rows = [{"name": p.name, "description": p.description, "path": display_path(p.path)} for p in list_playbooks(dirs)]
    cols = [
        Column("name", a.t("col.playbook")),
        Column("description", a.t("col.description"), wrap=True),
        Column("path", a.t("col.path"), wrap=True),
    ]
    where = ", ".join(display_path(d) for d in dirs) or a.t("play.list.none")
    # the folders on stderr, not in the title: a long path in a title folds inside its words
    a.terminal.info(a.t("play.list.title", where=where))
    a.terminal.render(TableView(cols, rows, title=f"{a.t('col.playbook')} ({len(rows)})"))


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
    from govops.automation.play import hosts_inventory, run_play
    from govops.automation.request import build_request

    a = app_of(ctx)
    if sum(x is not None for x in (inventory, hosts, target)) != 1:
        raise InputError(a.t("play.err.inventory"))
    inv: Path | Mapping[str, Any]
    if target is not None:
        if target != "net":
            raise InputError(a.t("play.err.target", target=target))
        from govops.automation.net import net_inventory

        inv = net_inventory(a.inventory(), a.config.config.credentials.env_prefix)
    else:
        inv = inventory if inventory is not None else hosts_inventory((hosts or "").split(","))
    request = build_request(
        a.config,
        a.root,
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
    with a.terminal.stage_progress(Msg("progress.play", playbook=request.playbook.stem)) as observer:
        result = run_play(a.runner(), a.store, request, observer=observer)
    a.terminal.render(recap_view(result, a.t, people=a.terminal.output == "table"))
    if result.artifacts:
        a.terminal.info(a.t("play.artifacts", path=result.artifacts))
    if result.status != "ok":
        a.terminal.warn(
            f"{a.t('play.run.label', run=result.run_id)}: {result_line(result, a.t)}"
            + (f": {result.error}" if result.error else ""),
        )
        raise typer.Exit(ExitCode.FINDINGS)
    a.terminal.success(
        a.t(
            "play.run.done",
            playbook=result.playbook,
            counts=result_line(result, a.t),
            seconds=f"{result.seconds:.1f}",
            run=result.run_id,
        )
    )
