"""``govops config``: show the effective configuration and where it came from."""

from __future__ import annotations

import typer
from govops.cli.application import app_of
from govops.cli.terminal import RecordView
from govops.credentials import redact_url

app = typer.Typer(help="Show the effective configuration and where it came from.", no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context) -> None:
    """The merged govops.yaml (defaults filled in) with absolute paths; no secrets are ever in it."""
    a = app_of(ctx)
    cfg = a.config
    data = cfg.config.model_dump(mode="json")
    # URLs may carry a password (user:pw@host, ?password=): shown masked
    for section in ("store", "prometheus"):
        if data[section].get("url"):
            data[section]["url"] = redact_url(data[section]["url"])
    data["_source"] = cfg.describe_source()
    data["_resolved"] = {
        "departments": str(cfg.departments_file),
        "inventory": str(cfg.inventory_dir),
        "playbooks": str(cfg.playbooks_dir),
        "store": redact_url(cfg.store_url),
        "known_hosts": str(cfg.known_hosts_file),
    }
    fields = [(k, v) for k, v in data.items()]
    a.terminal.render(RecordView(fields, data, title="govops config"))
