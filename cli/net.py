"""``govops net``: the extranet inventory (and, with the audit, its devices' IPv6 and baseline)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from govops.cli.application import Application, app_of
from govops.cli.options import (
    CountyOpt,
    GroupOpt,
    InventoryOpt,
    LevelOpt,
    LimitOpt,
    PlatformOpt,
    ResumeAuditOpt,
    SiteOpt,
    device_filters,
)
from govops.cli.terminal import Column, RecordView, TableView
from govops.errors import ExitCode, GovopsError, InputError
from govops.i18n import Msg

if TYPE_CHECKING:
    from govops.network.audit import AuditReport
    from govops.network.inventory import Inventory

app = typer.Typer(
    help="Extranet devices: inventory, IPv6 readiness and security baseline audits.", no_args_is_help=True
)
inventory_app = typer.Typer(help="Validate, inspect, generate and export the extranet inventory.", no_args_is_help=True)
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
            shown = a.t(f"net.stats.{section}") if _for_people(a) else section
            rows.append({"section": shown, "key": label, "count": count})
    view = TableView(
        [
            Column("section", a.t("col.field")),
            Column("key", a.t("col.key")),
            Column("count", a.t("col.count"), justify="right"),
        ],
        rows,
        title=a.t("net.stats.title", name=inv.name, sites=s["sites"], devices=s["devices"]),
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
    devices = inv.select(
        **device_filters(site=site, county=county, level=level, platform=platform, group=group, limit=limit)
    )
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
    shown = [{**r, "level": _level_label(a, r["level"])} for r in rows] if _for_people(a) else rows
    a.terminal.render(TableView(cols, shown, caption=f"{len(rows)} / {len(inv)}", data=rows))


@inventory_app.command("generate")
def generate(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the inventory into.")],
    sites: Annotated[int, typer.Option("--sites", min=2, help="Number of sites (one device each).")] = 2297,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same inventory.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing inventory.")] = False,
) -> None:
    """Write a realistic sample inventory: 1 city, 7 districts, ~70 townships, villages."""
    from govops.network.generate import generate_inventory

    a = app_of(ctx)
    if (out / "devices.yaml").exists() and not force:
        raise InputError(a.t("net.err.exists", path=f"{out}/devices.yaml"), hint=a.t("net.hint.force"))
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


# -- audit ---------------------------------------------------------------------------------------
ChecksOpt = Annotated[str, typer.Option("--checks", help="Comma-separated rule packs: ipv6, baseline.")]


def _for_people(a: Application) -> bool:
    """A table on the terminal: labels may be translated and shortened. csv keeps the values."""
    return a.terminal.output == "table"


def _level_label(a: Application, level: str) -> str:
    return a.t(f"level.{level}")


@app.command("audit")
def audit(
    ctx: typer.Context,
    inventory: InventoryOpt = None,
    site: SiteOpt = None,
    county: CountyOpt = None,
    level: LevelOpt = None,
    platform: PlatformOpt = None,
    group: GroupOpt = None,
    limit: LimitOpt = None,
    checks: ChecksOpt = "ipv6,baseline",
    resume: ResumeAuditOpt = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Concurrent SSH sessions.")] = None,
    snmp_concurrency: Annotated[
        int | None, typer.Option("--snmp-concurrency", min=1, help="Concurrent SNMP walks.")
    ] = None,
    executor: Annotated[
        Literal["local", "celery"] | None,
        typer.Option("--executor", help="Where devices are audited: local, or celery workers (network.executor)."),
    ] = None,
) -> None:
    """Audit IPv6 readiness and the security baseline of the selected devices over SSH and SNMP."""
    from govops.network.service import prepare_audit, selection_params

    a = app_of(ctx)
    prepare_audit()  # its imports overlap loading the inventory
    check_list = [c.strip() for c in checks.split(",") if c.strip()]
    filters = device_filters(site=site, county=county, level=level, platform=platform, group=group, limit=limit)
    if resume is not None:
        run = a.store.get_run(resume)
        f = run.params.get("filters", {})
        inv = a.inventory(Path(run.params["inventory"]) if run.params.get("inventory") else inventory)
        devices = inv.select(**f)
        check_list = run.params.get("checks", check_list)
    else:
        inv = a.inventory(inventory)
        devices = inv.select(**filters)
    if not devices:
        raise InputError(a.t("net.err.no_device"))
    if a.config.config.network.host_key_policy == "accept":
        a.terminal.warn(a.t("host_keys.accept_insecure"))
    with a.terminal.progress(Msg("progress.audit.start")) as obs:
        engine = a.audit_engine(obs, workers=workers, snmp_concurrency=snmp_concurrency, executor=executor)
        params = selection_params(inv, **filters)
        report = engine.run(devices, check_list, params, resume=resume)
    _render_audit(a, report, inv)
    if report.failed or report.with_findings:
        raise typer.Exit(ExitCode.FINDINGS)


def county_names(inventory: Inventory | None) -> dict[str, str]:
    """County code -> name from the inventory the run audited (empty when it is gone)."""
    if inventory is None:
        return {}
    return {code: site.name for code, site in inventory.sites.items() if site.level == "county"}


def _county_label(a: Application, names: dict[str, str], code: str) -> str:
    if code == "(city)":
        return f"({a.t('level.city')})"
    return names.get(code, code)


def _run_inventory(a: Application, params: dict[str, Any]) -> Inventory | None:
    """The inventory a stored run audited, for its county names; None when it cannot be read."""

    where = params.get("inventory")
    if not where:
        return None
    try:
        return a.inventory(Path(where))
    except GovopsError:
        return None


def _render_audit(a: Application, report: AuditReport, inventory: Inventory | None = None) -> None:
    from govops.network.results import SEVERITIES

    results = report.results
    if a.terminal.output in ("json", "yaml"):
        a.terminal.render(TableView([], [], data=report.to_dict()))
        return
    if a.terminal.output == "csv":
        rows = [
            {
                "hostname": r.hostname,
                "site": r.site,
                "county": r.county or "",
                "level": r.level,
                "platform": r.platform or "",
                "status": r.status,
                "reason": r.reason or "",
                "ipv6_ready": "" if r.ipv6_ready is None else str(r.ipv6_ready).lower(),
                "failed_rules": ";".join(f.rule for f in r.failed_findings),
                **{f"fail_{sev}": sum(1 for f in r.failed_findings if f.severity == sev) for sev in SEVERITIES},
            }
            for r in results
        ]
        from govops.network.audit import CSV_COLUMNS

        cols = [Column(k, k) for k in CSV_COLUMNS]
        a.terminal.render(TableView(cols, rows))
        return
    names = county_names(inventory)
    rollup = report.rollup
    for title, groups in (("level", rollup.by_level), ("county", rollup.by_county)):
        rows = []
        for name, g in groups.items():
            rows.append(
                {
                    "group": _level_label(a, name) if title == "level" else _county_label(a, names, name or "(city)"),
                    "devices": g.devices,
                    "ok": g.ok,
                    "failed": g.not_audited,
                    "ready": "-" if g.ipv6_ready_pct is None else f"{g.ipv6_ready_pct:.1f}%",
                    **{k: g.findings_by_severity.get(k, 0) for k in SEVERITIES},
                }
            )
        cols = [
            Column("group", a.t(f"col.{title}")),
            Column("devices", a.t("col.devices"), "right"),
            Column("ok", "OK", "right"),
            Column("failed", a.t("col.failed"), "right"),
            Column("ready", "IPv6 %", "right"),
        ]
        cols += [Column(k, a.t(f"sev.{k}"), "right") for k in SEVERITIES]
        by = a.t(f"col.{title}")
        a.terminal.render(TableView(cols, rows, title=a.t("net.audit.by", run=report.run.id, by=by)))
    s = report.summary
    failed = report.failed
    if failed:
        rows = [{"hostname": r.hostname, "status": r.status, "reason": r.reason or ""} for r in failed[:50]]
        a.terminal.render(
            TableView(
                [
                    Column("hostname", a.t("col.hostname")),
                    Column("status", a.t("col.status")),
                    Column("reason", a.t("col.detail"), wrap=True),
                ],
                rows,
                title=a.t("net.audit.failed", count=len(failed)),
            )
        )
    ready = s.ipv6_ready_pct if s.ipv6_ready_pct is not None else "-"
    a.terminal.info(
        a.t(
            "net.audit.summary",
            run=report.run.id,
            devices=s.devices,
            ok=s.ok,
            failed=len(failed),
            ready=ready,
        )
        + (f" ({report.skipped} finished before resume)" if report.skipped else "")
    )


@app.command("runs")
def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs to list.")] = 20,
) -> None:
    """Audit and remediation runs in the results store, newest first."""
    from govops.network.audit import RUN_KIND
    from govops.network.remediation.engine import RUN_KIND as REMEDIATE_KIND

    a = app_of(ctx)
    rows = []
    both = a.store.runs(RUN_KIND, limit=limit) + a.store.runs(REMEDIATE_KIND, limit=limit)
    listed = sorted(both, key=lambda r: r.started_at, reverse=True)[:limit]
    for r in listed:
        s = r.summary
        rows.append(
            {
                "id": r.id,
                "kind": "remediate" if r.kind == REMEDIATE_KIND else "audit",
                "status": r.status,
                "started": r.started_at,
                "finished": r.finished_at or "",
                "devices": s.get("devices", ""),
                "ok": s.get("status", {}).get("ok", ""),
                "ready": "" if s.get("ipv6_ready_pct") is None else f"{s['ipv6_ready_pct']}%",
            }
        )
    # the table shows the start to the minute (the run ID has the second) and leaves the end to
    # -o json/csv: an 80-column terminal keeps each run ID whole
    shown = [
        {
            **row,
            "started": _minute(row["started"]),
            "status": _run_status(a, row["status"]),
            "kind": a.t(f"run.kind.{row['kind']}"),
        }
        for row in rows
    ]
    shown = shown if _for_people(a) else rows
    cols = [
        Column("id", a.t("col.run")),
        Column("kind", a.t("col.kind")),
        Column("status", a.t("col.status")),
        Column("started", a.t("col.started")),
        Column("devices", a.t("col.devices"), "right"),
        Column("ok", "OK", "right"),
        Column("ready", "IPv6 %", "right"),
    ]
    a.terminal.render(TableView(cols, shown, title=a.t("net.runs.title"), data=rows))
    damaged = [r.damaged for r in listed if r.damaged]
    for message in damaged:  # the other runs are listed; each damaged one named on its own line
        a.terminal.warn(message)
    if damaged:
        raise typer.Exit(ExitCode.USAGE)


def _run_status(a: Application, status: str) -> str:
    return a.t(f"run.{status}") if a.t.has(f"run.{status}") else status


def _minute(timestamp: str) -> str:
    """``2026-12-07T06:23:45.123+00:00`` as ``2026-12-07 06:23``."""
    return timestamp[:16].replace("T", " ")


def _results(a: Application, run_id: str) -> list[Any]:
    from govops.network.audit import RUN_KIND, DeviceResult

    run = a.store.get_run(run_id)
    if run.kind == "net.remediate":  # as its audit run's results with the rules it fixed passing
        from govops.network.remediation.engine import audit_view

        return audit_view(a.store, run)
    if run.kind != RUN_KIND:
        raise InputError(a.t("net.err.not_audit", run=run_id, kind=run.kind))
    return [DeviceResult.from_dict(r.data) for r in a.store.results(run_id) if r.data]


@app.command("diff")
def diff_cmd(
    ctx: typer.Context,
    run_a: Annotated[str, typer.Argument(help="The earlier run.")],
    run_b: Annotated[str, typer.Argument(help="The later run.")],
) -> None:
    """Regressions and fixes per device and rule between two audit (or remediation) runs; exit 3 on regressions."""
    from govops.network.audit import diff

    a = app_of(ctx)
    changes = diff(_results(a, run_a), _results(a, run_b))
    data = [
        {"hostname": c.hostname, "rule": c.rule, "before": c.before, "after": c.after, "change": c.kind}
        for c in changes
    ]
    rows = [{**row, "change": a.t(f"change.{row['change']}")} for row in data] if _for_people(a) else data
    cols = [
        Column("change", a.t("col.change")),
        Column("hostname", a.t("col.hostname")),
        Column("rule", a.t("col.rule")),
        Column("before", a.t("col.before")),
        Column("after", a.t("col.after")),
    ]
    regressions = sum(c.kind == "regression" for c in changes)
    fixes = sum(c.kind == "fix" for c in changes)
    a.terminal.render(
        TableView(
            cols,
            rows,
            title=f"{run_a} → {run_b}",
            caption=a.t("net.diff.caption", regressions=regressions, fixes=fixes),
            data=data,
        )
    )
    if regressions:
        raise typer.Exit(ExitCode.FINDINGS)


@app.command("readiness")
def readiness(
    ctx: typer.Context,
    by: Annotated[str, typer.Option("--by", help="Group by: city, county, level or site.")] = "county",
    trend: Annotated[int, typer.Option("--trend", min=1, help="How many recent finished runs to show.")] = 5,
) -> None:
    """IPv6 readiness index (% of assessed devices that pass every IPv6 rule) and its trend across runs."""
    from govops.network.audit import RUN_KIND, DeviceResult, group_summary

    a = app_of(ctx)
    keys = {
        "city": lambda r: "city",
        "county": lambda r: r.county or "(city)",
        "level": lambda r: r.level,
        "site": lambda r: r.site,
    }
    if by not in keys:
        raise InputError(a.t("net.err.by", choices=", ".join(keys)))
    runs_ = [r for r in a.store.runs(RUN_KIND, limit=100) if r.status == "finished"][:trend]
    if not runs_:
        raise InputError(a.t("net.err.no_run"), hint=a.t("net.hint.audit_first"))
    runs_.reverse()
    table: dict[str, dict[str, Any]] = {}
    for r in runs_:
        res = [DeviceResult.from_dict(x.data) for x in a.store.results(r.id) if x.data]
        for name, s in group_summary(res, keys[by]).items():
            table.setdefault(name, {"group": name})[r.id] = s.ipv6_ready_pct
    names = county_names(_run_inventory(a, runs_[-1].params)) if by == "county" and _for_people(a) else {}
    rows = []
    for name, row in sorted(table.items()):
        vals = [row.get(r.id) for r in runs_]
        last = [v for v in vals if v is not None]
        delta = (last[-1] - last[-2]) if len(last) >= 2 else None
        if not _for_people(a):
            label = name
        elif by == "level":
            label = _level_label(a, name)
        else:
            label = _county_label(a, names, name) if by == "county" else name
        rows.append(
            {
                "group": label,
                **{r.id: "-" if row.get(r.id) is None else f"{row[r.id]:.1f}" for r in runs_},
                "trend": "" if delta is None else f"{delta:+.1f}",
            }
        )
    # a run's column: its day over the random end of its ID (`net runs` lists the whole IDs);
    # five runs fit an 80-column terminal, and two runs of the same second stay apart
    cols = [Column("group", a.t(f"col.{by}"))]
    cols += [Column(r.id, f"{r.id[4:6]}-{r.id[6:8]}\n{r.id[-6:]}", "right") for r in runs_]
    cols.append(Column("trend", "Δ", "right"))
    data = [{"group": n, "index": {r.id: row.get(r.id) for r in runs_}} for n, row in sorted(table.items())]
    a.terminal.render(TableView(cols, rows, title=a.t("net.readiness.title", by=a.t(f"col.{by}")), data=data))
