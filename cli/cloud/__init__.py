"""``govops cloud``: departments, quotas and VMs on the government OpenStack cloud.

One module per command group (dept, quota, vm), ``check``, and ``batch`` (plan, apply, orphans);
this package assembles them and holds the group's options. The cloud the commands work on is
``Application.cloud()``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from govops.cli.application import app_of
from govops.cli.cloud import batch, check, dept, quota, vm

app = typer.Typer(
    help="Cloud admins: departments, quotas and VMs on the government OpenStack cloud.", no_args_is_help=True
)
app.add_typer(dept.app, name="dept")
app.add_typer(quota.app, name="quota")
app.add_typer(vm.app, name="vm")


@app.callback()
def cloud_main(
    ctx: typer.Context,
    os_cloud: Annotated[
        str | None,
        typer.Option("--os-cloud", help="Cloud in clouds.yaml (else cloud.name in govops.yaml, else $OS_CLOUD)."),
    ] = None,
    os_region: Annotated[
        str | None, typer.Option("--os-region", help="Region of that cloud (else cloud.region, $OS_REGION_NAME).")
    ] = None,
) -> None:
    """Cloud admins: departments, quotas and VMs on the government OpenStack cloud."""
    a = app_of(ctx)
    a.os_cloud = os_cloud
    a.os_region = os_region


app.command("check")(check.check)
app.command("plan")(batch.plan_cmd)
app.command("apply")(batch.apply_cmd)
app.command("orphans")(batch.orphans_cmd)
