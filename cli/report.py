"""``govops report``: printable reports in Chinese or English from the results store."""

from __future__ import annotations

import typer

app = typer.Typer(help="Reports for managers (capacity, audit results) in Chinese or English.", no_args_is_help=True)
