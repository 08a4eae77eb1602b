"""Where govops finds its project data and keeps its own state."""

from __future__ import annotations

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
