"""``govops lab``: the built-in local lab of real SSH/SNMP devices, OpenStack and Prometheus."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from govops.cli.application import Application, app_of
from govops.cli.terminal import Column, TableView

if TYPE_CHECKING:
    from govops.lab.core import Lab

app = typer.Typer(
    help="The built-in local lab: real SSH and SNMP device peers, OpenStack and Prometheus on loopback.",
    no_args_is_help=True,
)

DirOpt = Annotated[Path | None, typer.Option("--dir", help="Lab folder (default: .govops-lab in the project root).")]
ExtranetOpt = Annotated[bool, typer.Option("--extranet", help="The simulated extranet (SSH + SNMP devices).")]
CloudOpt = Annotated[bool, typer.Option("--cloud", help="The OpenStack cloud and its Prometheus.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Everything: extranet, cloud and Prometheus.")]
BrokerOpt = Annotated[bool, typer.Option("--broker", help="A private Redis broker for `--executor celery`.")]


def _lab(a: Application, lab_dir: Path | None) -> Lab:
    from govops.lab.core import Lab

    return Lab((lab_dir or a.root / ".govops-lab").resolve(), a.root)


def _components(
    extranet: bool, cloud: bool, all_: bool, default: tuple[str, ...], broker: bool = False, hosts: bool = False
) -> list[str]:
    extra = (["broker"] if broker else []) + (["hosts"] if hosts else [])
    if all_:
        return ["extranet", "cloud", "prometheus", *extra]
    out = (["extranet"] if extranet else []) + (["cloud", "prometheus"] if cloud else []) + extra
    return out or list(default)


def _percent(value: str) -> float:
    text = value.strip().rstrip("%")
    try:
        share = float(text) / 100 if value.strip().endswith("%") or float(text) > 1 else float(text)
    except ValueError:
        raise typer.BadParameter("a share like 10% or 0.1") from None
    if not 0 <= share <= 1:
        raise typer.BadParameter("between 0% and 100%")
    return share


@app.command("install")
def install(
    ctx: typer.Context,
    extranet: ExtranetOpt = False,
    cloud: CloudOpt = False,
    all_: AllOpt = False,
    broker: BrokerOpt = False,
    servers: Annotated[
        int | None,
        typer.Option("--servers", min=1, help="Servers of the seeded-cloud snapshot (default 300, as `lab up`)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the snapshot's plan, as `lab up --seed`.")] = 1,
    snapshot: Annotated[
        bool,
        typer.Option(
            "--snapshot/--no-snapshot",
            help="Seed a cloud once and keep it, so fresh `lab up --cloud` of that plan restore it in seconds.",
        ),
    ] = True,
    lab_dir: DirOpt = None,
) -> None:
    """Install the lab's own dependencies (apt packages, private venvs); safe to repeat."""
    from govops.lab.core import LabOptions, load_component

    a = app_of(ctx)
    lab = _lab(a, lab_dir)
    lab.dir.mkdir(parents=True, exist_ok=True)
    with a.terminal.progress("lab install") as obs:
        lab_ctx = lab.context(LabOptions(servers=servers, seed=seed, snapshot=snapshot), obs)
        for name in _components(extranet, cloud, all_, ("extranet",), broker):
            obs.message(f"installing {name} …")
            load_component(name).install(lab_ctx)
    a.terminal.success("lab dependencies installed")


@app.command("up")
def up(
    ctx: typer.Context,
    extranet: ExtranetOpt = False,
    cloud: CloudOpt = False,
    all_: AllOpt = False,
    broker: BrokerOpt = False,
    devices: Annotated[int, typer.Option("--devices", min=1, help="Extranet devices (full city: 2297).")] = 2297,
    cities: Annotated[
        int,
        typer.Option(
            "--cities",
            min=1,
            help="Extranet: a province of N cities, each of --devices devices (the scale model; group city-CODE).",
        ),
    ] = 1,
    lean: Annotated[
        bool,
        typer.Option("--lean", help="Extranet: SNMP agents use about half the memory, for more CPU per response."),
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the lab's plan: same seed, same lab.")] = 1,
    faults: Annotated[str, typer.Option("--faults", help="Share of devices given a fault, e.g. 10%.")] = "0%",
    config_faults: Annotated[
        bool,
        typer.Option("--config-faults", help="Two devices misbehave in configuration mode (reject a line, drop)."),
    ] = False,
    history_days: Annotated[int, typer.Option("--history-days", min=1, help="Days of Prometheus history.")] = 90,
    step: Annotated[int, typer.Option("--step", min=15, help="Seconds between history samples.")] = 300,
    servers: Annotated[
        int | None, typer.Option("--servers", min=1, help="Cloud servers to seed (default 300; kept per lab).")
    ] = None,
    snapshot: Annotated[
        bool,
        typer.Option(
            "--snapshot/--no-snapshot",
            help="A fresh cloud restores its plan's install-time snapshot if there is one, else seeds via the APIs.",
        ),
    ] = True,
    hosts: Annotated[
        str,
        typer.Option(
            "--hosts",
            help="Comma-separated county/city codes: a `govops worker` for each in a network namespace "
            "reaching only its devices (needs --broker, --store, root).",
        ),
    ] = "",
    store: Annotated[
        str | None,
        typer.Option("--store", help="With --hosts: the PostgreSQL URL the hosts' workers and the coordinator share."),
    ] = None,
    lab_dir: DirOpt = None,
) -> None:
    """Start the lab's peers in the background and write govops.yaml, inventory and credentials."""
    from govops.lab.core import LabOptions

    a = app_of(ctx)
    lab = _lab(a, lab_dir)
    opts = LabOptions(
        devices=devices,
        cities=cities,
        lean=lean,
        seed=seed,
        faults=_percent(faults),
        config_faults=config_faults,
        history_days=history_days,
        step_seconds=step,
        servers=servers,
        snapshot=snapshot,
        hosts=tuple(h.strip() for h in hosts.split(",") if h.strip()),
        store=store,
    )
    names = _components(extranet, cloud, all_, ("extranet",), broker, bool(opts.hosts))
    with a.terminal.progress("lab up") as obs:
        results = lab.up(names, opts, obs)
    a.terminal.success(f"lab up in {lab.dir}: {', '.join(results)}")
    a.terminal.info("next:")
    a.terminal.info(f'  eval "$(govops lab env --dir {shlex.quote(str(lab.dir))})"')
    for r in results.values():
        for step_text in r.next_steps:
            a.terminal.info(f"  {step_text}")


@app.command("down")
def down(
    ctx: typer.Context,
    extranet: ExtranetOpt = False,
    cloud: CloudOpt = False,
    all_: AllOpt = False,
    broker: BrokerOpt = False,
    hosts: Annotated[
        bool, typer.Option("--hosts", help="The workers in network namespaces (deletes the namespaces).")
    ] = False,
    lab_dir: DirOpt = None,
) -> None:
    """Stop exactly the processes the lab started (by recorded PID); all components by default."""
    a = app_of(ctx)
    lab = _lab(a, lab_dir)
    names = _components(extranet, cloud, all_, (), broker, hosts) or None
    stopped = lab.down(names)
    a.terminal.success(f"stopped {len(stopped)} process(es)")


@app.command("status")
def status(ctx: typer.Context, lab_dir: DirOpt = None) -> None:
    """Each lab peer, up or down (exit 3 when any is down)."""
    from govops.errors import ExitCode

    a = app_of(ctx)
    lab = _lab(a, lab_dir)
    peers = lab.status()
    rows = [
        {"component": p.component, "peer": p.name, "status": "up" if p.up else "DOWN", "detail": p.detail}
        for p in peers
    ]
    a.terminal.render(
        TableView(
            [
                Column("component", "Component"),
                Column("peer", "Peer"),
                Column("status", a.t("col.status")),
                Column("detail", a.t("col.detail")),
            ],
            rows,
            title=f"lab {lab.dir}",
        )
    )
    if not peers:
        a.terminal.warn("the lab is not up: run `govops lab up`")
        raise typer.Exit(ExitCode.FINDINGS)
    if not all(p.up for p in peers):
        raise typer.Exit(ExitCode.FINDINGS)


@app.command("env")
def env(ctx: typer.Context, lab_dir: DirOpt = None) -> None:
    """Shell exports that point govops, openstack and the credential lookups at the lab."""
    a = app_of(ctx)
    lab = _lab(a, lab_dir)
    if not (lab.dir / "govops.yaml").exists():
        from govops.errors import InputError

        raise InputError(f"no lab in {lab.dir}", hint="run `govops lab up` first")
    for k, v in lab.env().items():
        typer.echo(f"export {k}={shlex.quote(v)}")
