"""``govops net``: the extranet inventory (and, with the audit, its devices' IPv6 and baseline)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from govops.cli.application import app_of
from govops.cli.options import CountyOpt, GroupOpt, InventoryOpt, LevelOpt, LimitOpt, PlatformOpt, SiteOpt
from govops.cli.terminal import Column, RecordView, TableView

app = typer.Typer(
    help="Extranet devices: inventory, IPv6 readiness and security baseline audits.", no_args_is_help=True
)
inventory_app = typer.Typer(
    help="Validate, inspect, generate and export the extranet inventory.", no_args_is_help=True
)
app.add_typer(inventory_app, name="inventory")


@inventory_app.command("validate")
def validate(ctx: typer.Context, inventory: InventoryOpt = None) -> None:
    """Check every file of the inventory; each problem is printed as file:line key (exit 2)."""
    a = app_of(ctx)
    inv = a.inventory(inventory)
    a.terminal.success(a.t("inventory.valid", name=inv.name, sites=len(inv.sites), devices=len(inv)))


@inventory_app.command("stats")
def stats(ctx: typer.Context, inventory: InventoryOpt = None) -> None:
    """Counts of sites and devices by level, county, platform, management stack and access."""
    a = app_of(ctx)
    inv = a.inventory(inventory)
    s = inv.stats()
    rows = []
    for section in (
        "sites_by_level",
        "devices_by_level",
        "devices_by_platform",
        "devices_by_county",
        "mgmt",
        "access",
    ):
        for key, count in s[section].items():
            label = a.t(f"level.{key}") if section.endswith("_level") else key
            rows.append({"section": section, "key": label, "count": count})
    view = TableView(
        [
            Column("section", a.t("col.field")),
            Column("key", a.t("col.key")),
            Column("count", a.t("col.count"), justify="right"),
        ],
        rows,
        title=f"{inv.name}: {s['sites']} sites, {s['devices']} devices",
        data=s,
    )
    a.terminal.render(view)


@inventory_app.command("show")
def show(
    ctx: typer.Context,
    hostname: Annotated[str | None, typer.Argument(help="One device to show in full.")] = None,
    inventory: InventoryOpt = None,
    site: SiteOpt = None,
    county: CountyOpt = None,
    level: LevelOpt = None,
    platform: PlatformOpt = None,
    group: GroupOpt = None,
    limit: LimitOpt = None,
) -> None:
    """One device with everything it inherits, or a filtered list of devices."""
    a = app_of(ctx)
    inv = a.inventory(inventory)
    if hostname is not None:
        d = inv.device(hostname)
        chain = []
        code: str | None = d.site.code
        while code is not None:
            s = inv.sites[code]
            chain.append(f"{s.name} ({s.code}, {a.t('level.' + s.level)})")
            code = s.parent
        data = {
            "hostname": d.hostname,
            "site": d.site.code,
            "site_chain": chain,
            "level": d.level,
            "county": d.county,
            "platform": d.platform,
            "role": d.role,
            "mgmt_ipv4": d.mgmt_ipv4,
            "mgmt_ipv6": d.mgmt_ipv6,
            "groups": list(d.groups),
            "ssh": None
            if d.ssh is None
            else {"profile": d.ssh_profile, "port": d.ssh_port or d.ssh.port, "credential": d.ssh.credential},
            "snmp": None
            if d.snmp is None
            else {
                "profile": d.snmp_profile,
                "version": d.snmp.version,
                "port": d.snmp_port or d.snmp.port,
                "credential": d.snmp.credential,
            },
            "data": d.data,
        }
        a.terminal.render(RecordView([(k, v) for k, v in data.items()], data, title=d.hostname))
        return
    devices = inv.select(site=site, county=county, level=level, platform=platform, group=group, limit=limit)
    rows = [
        {
            "hostname": d.hostname,
            "site": d.site.code,
            "level": d.level,
            "county": d.county or "",
            "platform": d.platform or "",
            "role": d.role or "",
            "mgmt_ipv4": d.mgmt_ipv4 or "",
            "mgmt_ipv6": d.mgmt_ipv6 or "",
            "access": "+".join(x for x, p in (("ssh", d.ssh), ("snmp", d.snmp)) if p is not None),
        }
        for d in devices
    ]
    cols = [
        Column(k, a.t(f"col.{k}"))
        for k in (
            "hostname",
            "site",
            "level",
            "county",
            "platform",
            "role",
            "mgmt_ipv4",
            "mgmt_ipv6",
            "access",
        )
    ]
    a.terminal.render(TableView(cols, rows, caption=f"{len(rows)} / {len(inv)}"))


@inventory_app.command("generate")
def generate(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the inventory into.")],
    sites: Annotated[int, typer.Option("--sites", min=2, help="Number of sites (one device each).")] = 2297,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same inventory.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing inventory.")] = False,
) -> None:
    """Write a realistic sample inventory: 1 city, 7 districts, ~70 townships, villages."""
    from govops.errors import InputError
    from govops.network.generate import generate_inventory

    a = app_of(ctx)
    if (out / "devices.yaml").exists() and not force:
        raise InputError(f"{out}/devices.yaml exists", hint="pass --force to overwrite")
    gen = generate_inventory(sites=sites, seed=seed)
    gen.write(out)
    a.terminal.success(a.t("inventory.generated", sites=len(gen.sites), devices=len(gen.devices), path=out))


@inventory_app.command("export")
def export(
    ctx: typer.Context,
    fmt: Annotated[Literal["ansible", "nornir"], typer.Option("--format", "-f", help="ansible or nornir.")],
    out: Annotated[Path, typer.Option("--out", help="File (ansible) or folder (nornir) to write.")],
    inventory: InventoryOpt = None,
) -> None:
    """Export to an Ansible YAML inventory or a Nornir SimpleInventory (no secrets in either)."""
    from govops.network.export import to_ansible, to_nornir
    from govops.yamlio import dump

    a = app_of(ctx)
    inv = a.inventory(inventory)
    if fmt == "ansible":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(dump(to_ansible(inv, a.config.config.credentials.env_prefix)), encoding="utf-8")
    else:
        out.mkdir(parents=True, exist_ok=True)
        for name, data in to_nornir(inv).items():
            (out / name).write_text(dump(data), encoding="utf-8")
    a.terminal.success(a.t("inventory.exported", what=f"{fmt} inventory ({len(inv)} hosts)", path=out))
