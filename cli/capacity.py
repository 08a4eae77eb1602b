"""``govops capacity``: CPU, memory and storage used and allocated against quotas, with forecasts."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Managers: capacity used and allocated per department against quota, with forecasts "
    "(from OpenStack and Prometheus).",
    no_args_is_help=True,
)
