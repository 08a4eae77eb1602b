"""Where govops finds its project data and keeps its own state."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PROJECT_ROOT_ENV = "GOVOPS_HOME"


def project_root(explicit: Path | None = None) -> Path:
    """The folder holding ``inventories/`` and ``playbooks/``: ``--project-root``, ``$GOVOPS_HOME``, cwd."""
    if explicit is not None:
        return explicit.expanduser().resolve()
    env = os.environ.get(PROJECT_ROOT_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return Path.cwd()


def data_dir() -> Path:
    """XDG data dir for govops' own state (the default SQLite results store)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "govops"


def private_dir(path: Path) -> None:
    """Create ``path`` and any missing parent as 0700 (state that holds device data or secrets);
    folders that already exist are left as their owner set them."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (then its mode is the owner's choice)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def config_home() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "govops"


def display_path(path: Path, root: Path | None = None) -> str:
    """A path as the user would type it: relative to cwd (or ``root``) when below it."""
    base = root or Path.cwd()
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)
