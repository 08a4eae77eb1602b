"""Option types shared by several command modules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

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


def device_filters(
    *,
    site: str | None = None,
    county: str | None = None,
    level: str | None = None,
    platform: str | None = None,
    group: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """The device filters given on the command line (``Inventory.select``'s keywords), without the
    ones left out: what a run records in its params so ``--resume`` selects the same devices."""
    given = {"site": site, "county": county, "level": level, "platform": platform, "group": group, "limit": limit}
    return {k: v for k, v in given.items() if v is not None}


def _resume(what: str) -> Any:
    return typer.Option("--resume", help=f"Finish an interrupted {what} by its ID.")


# -- runs recorded in the store that Ctrl-C may interrupt (``net audit``, ``net remediate``) -----------
ResumeAuditOpt = Annotated[str | None, _resume("run")]
ResumeRemediationOpt = Annotated[str | None, _resume("remediation run")]

# -- capacity (``govops capacity …`` and ``govops report capacity``) --------------------------------------
DeptOpt = Annotated[str | None, typer.Option("--dept", "-d", help="Only this department (code, project or name).")]
WindowOpt = Annotated[str, typer.Option("--window", help="History for usage and growth, e.g. 30d, 12h, 2w.")]
StepOpt = Annotated[str, typer.Option("--step", help="Resolution of usage series (p95, daily means).")]
AtOpt = Annotated[str | None, typer.Option("--at", help="Report time: now, ISO 8601 or Unix seconds (default now).")]
HorizonOpt = Annotated[str, typer.Option("--horizon", help="Flag quotas reached within this time, e.g. 90d.")]
SourceOpt = Annotated[
    Literal["auto", "openstack", "prometheus"],
    typer.Option(
        "--source",
        help="Quotas and allocations from: openstack, prometheus (openstack-exporter), "
        "or auto (openstack when a cloud is configured).",
    ),
]
ConfidenceOpt = Annotated[
    float,
    typer.Option(
        "--confidence",
        help="Forecast range: the prediction interval (%) of a least-squares line through daily values "
        "(residuals assumed independent and normal, growth linear); conservative = earliest date its upper "
        "bound reaches the limit, aggressive = latest (its lower bound).",
    ),
]
PostOpt = Annotated[
    str | None,
    typer.Option("--post", help="Then run this playbook on the new VMs (a file, or a name in a playbooks folder)."),
]
PostVarsOpt = Annotated[
    list[str] | None,
    typer.Option("--post-extra-vars", help="Extra variables for --post: NAME=VALUE or @FILE.yml; repeatable."),
]
PostTimeoutOpt = Annotated[float, typer.Option("--post-timeout", min=1, help="Seconds the --post playbook may take.")]
