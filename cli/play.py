"""``govops play``: run Ansible playbooks (post-provisioning, remediation) through ansible-runner."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Playbooks for post-provisioning and remediation, run through ansible-runner.", no_args_is_help=True
)
