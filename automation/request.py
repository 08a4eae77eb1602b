"""A ``PlayRequest`` from what a user gave: the playbook by name or path, the vault password from
the option, the environment or the config, extra variables. Shared by ``govops play run`` and the
``--post`` step of ``cloud apply`` and ``cloud vm create`` (checked before anything is created)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govops.automation.play import check_playbook, parse_extra_vars, resolve_playbook
from govops.automation.play import playbook_dirs as existing_dirs
from govops.automation.ports import PlayRequest
from govops.credentials import Secret
from govops.errors import InputError
from govops.i18n import Msg
from govops.store import new_run_id
from govops.yamlio import MAX_PASSWORD_FILE_BYTES, read_text

if TYPE_CHECKING:
    from govops.config import LoadedConfig


def playbook_dirs(config: LoadedConfig, root: Path, cwd: Path | None = None) -> list[Path]:
    """./playbooks, the configured playbooks folder, the project's playbooks: those that exist."""
    return existing_dirs((cwd or Path.cwd()) / "playbooks", config.playbooks_dir, root / "playbooks")


def vault_password(config: LoadedConfig, explicit: Path | None) -> tuple[Secret | None, Path | None, tuple[str, ...]]:
    """(password, executable password file, env vars to hide) from the option, env or config."""
    env_name = config.config.credentials.vault_password_env
    hide = (env_name,)
    source = explicit
    if source is None:
        value = os.environ.get(env_name)
        if value:
            return Secret(value), None, hide
        source = config.vault_password_file
        if source is None:
            return None, None, hide
    if not source.exists():
        raise InputError(Msg("err.file.not_found", path=source, what=Msg("noun.vault_password_file")))
    if source.is_file() and os.access(source, os.X_OK):
        return None, source.resolve(), hide  # a vault client script: Ansible runs it
    # bounded, regular files only: a FIFO or /dev/zero here would block or never end
    text = read_text(source, str(source), "vault password file", limit=MAX_PASSWORD_FILE_BYTES).strip()
    if not text:
        raise InputError(Msg("err.play.vault_empty", path=source))
    return Secret(text), None, hide


def build_request(
    config: LoadedConfig,
    root: Path,
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
    path = resolve_playbook(playbook, playbook_dirs(config, root))
    check_playbook(path)  # before a cloud apply creates anything
    pairs, files = parse_extra_vars(extra_vars or [], Path.cwd())
    password, password_file, hide = vault_password(config, vault_password_file)
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


def post_request(
    config: LoadedConfig, root: Path, playbook: str | None, extra_vars: list[str] | None, timeout: float
) -> PlayRequest | None:
    """The --post run, checked before anything is created; its inventory comes once the VMs exist."""
    if playbook is None:
        if extra_vars:
            raise InputError(Msg("err.play.post_vars"))
        return None
    return build_request(config, root, playbook, {}, extra_vars=extra_vars, timeout=timeout)
