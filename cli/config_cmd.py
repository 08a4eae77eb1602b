"""``govops config``: show the effective configuration and where it came from."""

from __future__ import annotations

import typer
from govops.cli.application import app_of
from govops.cli.terminal import RecordView

app = typer.Typer(help="Show the effective configuration and where it came from.", no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context) -> None:
    """The merged govops.yaml (defaults filled in) with absolute paths; no secrets are ever in it."""
    a = app_of(ctx)
    cfg = a.config
    data = cfg.config.model_dump(mode="json")
    data["_source"] = cfg.describe_source()
    data["_resolved"] = {
        "departments": str(cfg.departments_file),
        "inventory": str(cfg.inventory_dir),
        "playbooks": str(cfg.playbooks_dir),
        "store": cfg.store_url,
    }
    fields = [(k, v) for k, v in data.items()]
    a.terminal.render(RecordView(fields, data, title="govops config"))
