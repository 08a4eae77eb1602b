"""``govops net``: the extranet inventory (and, with the audit, its devices' IPv6 and baseline)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from govops.cli.application import Application, app_of
from govops.cli.options import CountyOpt, GroupOpt, InventoryOpt, LevelOpt, LimitOpt, PlatformOpt, SiteOpt
from govops.cli.terminal import Column, RecordView, TableView

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


# -- audit ---------------------------------------------------------------------------------------
ChecksOpt = Annotated[str, typer.Option("--checks", help="Comma-separated rule packs: ipv6, baseline.")]


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
    resume: Annotated[str | None, typer.Option("--resume", help="Finish an interrupted run by its ID.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Concurrent SSH sessions.")] = None,
    snmp_concurrency: Annotated[
        int | None, typer.Option("--snmp-concurrency", min=1, help="Concurrent SNMP walks.")
    ] = None,
) -> None:
    """Audit IPv6 readiness and the security baseline of the selected devices over SSH and SNMP."""
    from govops.errors import ExitCode
    from govops.network.service import build_audit_engine, prepare_audit, selection_params

    a = app_of(ctx)
    prepare_audit()  # its imports overlap loading the inventory
    check_list = [c.strip() for c in checks.split(",") if c.strip()]
    if resume is not None:
        run = a.store.get_run(resume)
        f = run.params.get("filters", {})
        inv = a.inventory(Path(run.params["inventory"]) if run.params.get("inventory") else inventory)
        devices = inv.select(**f)
        check_list = run.params.get("checks", check_list)
    else:
        inv = a.inventory(inventory)
        devices = inv.select(site=site, county=county, level=level, platform=platform, group=group, limit=limit)
    if not devices:
        from govops.errors import InputError

        raise InputError("no device matches the filters")
    with a.terminal.progress("audit") as obs:
        engine = build_audit_engine(a, obs, workers=workers, snmp_concurrency=snmp_concurrency)
        params = selection_params(
            inv, site=site, county=county, level=level, platform=platform, group=group, limit=limit
        )
        report = engine.run(devices, check_list, params, resume=resume)
    _render_audit(a, report)
    if report.failed or report.with_findings:
        raise typer.Exit(ExitCode.FINDINGS)


def _render_audit(a: Application, report: Any) -> None:
    from govops.network.audit import group_summary, summarize

    results = report.results
    if a.terminal.output in ("json", "yaml"):
        from govops.network.audit import OUTPUT_SCHEMA

        data = {
            "schema": OUTPUT_SCHEMA,
            "run": {
                "id": report.run.id,
                "status": report.run.status,
                "started_at": report.run.started_at,
                "finished_at": report.run.finished_at,
                "params": report.run.params,
            },
            "summary": summarize(results),
            "devices": [r.to_dict() for r in results],
        }
        a.terminal.render(TableView([], [], data=data))
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
                "failed_rules": ";".join(f["rule"] for f in r.findings if f["status"] == "fail"),
                **{
                    f"fail_{sev}": sum(1 for f in r.findings if f["status"] == "fail" and f["severity"] == sev)
                    for sev in ("critical", "high", "medium", "low")
                },
            }
            for r in results
        ]
        from govops.network.audit import CSV_COLUMNS

        cols = [Column(k, k) for k in CSV_COLUMNS]
        a.terminal.render(TableView(cols, rows))
        return
    for title, key in (("level", lambda r: r.level), ("county", lambda r: r.county or "(city)")):
        groups = group_summary(results, key)
        rows = []
        for name, s in groups.items():
            sev = s["findings_by_severity"]
            rows.append(
                {
                    "group": _level_label(a, name) if title == "level" else name,
                    "devices": s["devices"],
                    "ok": s["status"].get("ok", 0),
                    "failed": s["devices"] - s["status"].get("ok", 0),
                    "ready": "-" if s["ipv6_ready_pct"] is None else f"{s['ipv6_ready_pct']:.1f}%",
                    **{k: sev.get(k, 0) for k in ("critical", "high", "medium", "low")},
                }
            )
        cols = [
            Column("group", a.t(f"col.{title}")),
            Column("devices", "Devices", "right"),
            Column("ok", "OK", "right"),
            Column("failed", "Failed", "right"),
            Column("ready", "IPv6-ready", "right"),
        ]
        cols += [Column(k, k.capitalize(), "right") for k in ("critical", "high", "medium", "low")]
        a.terminal.render(TableView(cols, rows, title=f"audit {report.run.id} by {title}"))
    s = summarize(results)
    failed = [r for r in results if r.status != "ok"]
    if failed:
        rows = [{"hostname": r.hostname, "status": r.status, "reason": r.reason or ""} for r in failed[:50]]
        a.terminal.render(
            TableView(
                [
                    Column("hostname", a.t("col.hostname")),
                    Column("status", a.t("col.status")),
                    Column("reason", a.t("col.detail")),
                ],
                rows,
                title=f"failed devices ({len(failed)})",
            )
        )
    a.terminal.info(
        f"run {report.run.id}: {s['devices']} devices, {s['status'].get('ok', 0)} ok, {len(failed)} failed, "
        f"IPv6-ready {s['ipv6_ready_pct'] if s['ipv6_ready_pct'] is not None else '-'}%"
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
    for r in sorted(both, key=lambda r: r.started_at, reverse=True)[:limit]:
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
    cols = [
        Column("id", "Run"),
        Column("kind", "Kind"),
        Column("status", a.t("col.status")),
        Column("started", "Started"),
        Column("finished", "Finished"),
        Column("devices", "Devices", "right"),
        Column("ok", "OK", "right"),
        Column("ready", "IPv6-ready", "right"),
    ]
    a.terminal.render(TableView(cols, rows, title="audit runs"))


def _results(a: Application, run_id: str) -> list[Any]:
    from govops.network.audit import RUN_KIND, DeviceResult

    run = a.store.get_run(run_id)
    if run.kind == "net.remediate":  # as its audit run's results with the rules it fixed passing
        from govops.network.remediation.engine import audit_view

        return [DeviceResult.from_dict(r) for r in audit_view(a.store, run)]
    if run.kind != RUN_KIND:
        from govops.errors import InputError

        raise InputError(f"run {run_id} is a {run.kind} run, not an audit")
    return [DeviceResult.from_dict(r.data) for r in a.store.results(run_id) if r.data]


@app.command("diff")
def diff_cmd(
    ctx: typer.Context,
    run_a: Annotated[str, typer.Argument(help="The earlier run.")],
    run_b: Annotated[str, typer.Argument(help="The later run.")],
) -> None:
    """Regressions and fixes per device and rule between two audit (or remediation) runs; exit 3 on regressions."""
    from govops.errors import ExitCode
    from govops.network.audit import diff

    a = app_of(ctx)
    changes = diff(_results(a, run_a), _results(a, run_b))
    rows = [
        {"hostname": c.hostname, "rule": c.rule, "before": c.before, "after": c.after, "change": c.kind}
        for c in changes
    ]
    cols = [
        Column("change", "Change"),
        Column("hostname", a.t("col.hostname")),
        Column("rule", "Rule"),
        Column("before", "Before"),
        Column("after", "After"),
    ]
    regressions = sum(c.kind == "regression" for c in changes)
    a.terminal.render(
        TableView(
            cols,
            rows,
            title=f"{run_a} → {run_b}",
            caption=f"{regressions} regression(s), {sum(c.kind == 'fix' for c in changes)} fix(es)",
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
    from govops.errors import InputError
    from govops.network.audit import RUN_KIND, DeviceResult, group_summary

    a = app_of(ctx)
    keys = {
        "city": lambda r: "city",
        "county": lambda r: r.county or "(city)",
        "level": lambda r: r.level,
        "site": lambda r: r.site,
    }
    if by not in keys:
        raise InputError(f"--by must be one of: {', '.join(keys)}")
    runs_ = [r for r in a.store.runs(RUN_KIND, limit=100) if r.status == "finished"][:trend]
    if not runs_:
        raise InputError("no finished audit run in the store", hint="run `govops net audit` first")
    runs_.reverse()
    table: dict[str, dict[str, Any]] = {}
    for r in runs_:
        res = [DeviceResult.from_dict(x.data) for x in a.store.results(r.id) if x.data]
        for name, s in group_summary(res, keys[by]).items():
            table.setdefault(name, {"group": name})[r.id] = s["ipv6_ready_pct"]
    rows = []
    for name, row in sorted(table.items()):
        vals = [row.get(r.id) for r in runs_]
        last = [v for v in vals if v is not None]
        delta = (last[-1] - last[-2]) if len(last) >= 2 else None
        rows.append(
            {
                "group": _level_label(a, name) if by == "level" else name,
                **{r.id: "-" if row.get(r.id) is None else f"{row[r.id]:.1f}" for r in runs_},
                "trend": "" if delta is None else f"{delta:+.1f}",
            }
        )
    cols = [Column("group", by)] + [Column(r.id, r.id[:15], "right") for r in runs_] + [Column("trend", "Δ", "right")]
    data = [{"group": n, "index": {r.id: row.get(r.id) for r in runs_}} for n, row in sorted(table.items())]
    a.terminal.render(TableView(cols, rows, title=f"IPv6 readiness index by {by} (%)", data=data))
