"""Option types shared by several command modules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

InventoryOpt = Annotated[
    Path | None,
    typer.Option("--inventory", "-i", help="Inventory folder (else network.inventory from govops.yaml)."),
]
SiteOpt = Annotated[str | None, typer.Option("--site", help="Only this site and the sites below it.")]
CountyOpt = Annotated[str | None, typer.Option("--county", help="Only devices of this county-level site.")]
LevelOpt = Annotated[
    str | None, typer.Option("--level", help="Only this admin level: city, county, township, village.")
]
PlatformOpt = Annotated[str | None, typer.Option("--platform", help="Only this platform, e.g. huawei_vrp.")]
GroupOpt = Annotated[str | None, typer.Option("--group", help="Only members of this inventory group.")]
LimitOpt = Annotated[int | None, typer.Option("--limit", min=1, help="At most this many devices.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
PostOpt = Annotated[
    str | None,
    typer.Option("--post", help="Then run this playbook on the new VMs (a file, or a name in a playbooks folder)."),
]
PostVarsOpt = Annotated[
    list[str] | None,
    typer.Option("--post-extra-vars", help="Extra variables for --post: NAME=VALUE or @FILE.yml; repeatable."),
]
PostTimeoutOpt = Annotated[float, typer.Option("--post-timeout", min=1, help="Seconds the --post playbook may take.")]
