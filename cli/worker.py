"""``govops worker``: a Celery worker that audits (or remediates) the devices the coordinator sends to its queues."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from govops.cli.application import app_of
from govops.i18n import Msg


def worker(
    ctx: typer.Context,
    queues: Annotated[
        str | None,
        typer.Option(
            "--queues",
            help="Comma-separated queues to read (see network.routes), e.g. city-a,city-b. Default: govops.",
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            help="Batches run at once (prefork: one pool process each, default 4 per CPU; engine: threads, "
            "default 12 devices per SSH session of network.ssh_workers).",
        ),
    ] = None,
    pool: Annotated[
        str | None,
        typer.Option(
            "--pool",
            help="engine: batches in threads feeding one audit engine, as a local audit runs (SSH and SNMP "
            "in processes of their own); prefork: one Celery pool process per batch. Default: "
            "network.worker_pool (engine).",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Worker name in logs and `celery inspect` (default: govops-PID@host).")
    ] = None,
) -> None:
    """Run audit and remediation batches sent with `--executor celery`; results go to the shared store.

    The worker reads govops.yaml as every command does: network.broker, store.url (the same
    PostgreSQL store as the coordinator) and its own credential sources. It runs until Ctrl-C or
    SIGTERM, finishing the batches it has started.
    """
    from govops.errors import InputError
    from govops.network.distributed import DEFAULT_QUEUE, POOLS, default_concurrency, worker_app, worker_argv
    from govops.network.service import worker_processes

    a = app_of(ctx)
    cfg = a.config
    wanted = [q.strip() for q in (queues or DEFAULT_QUEUE).split(",") if q.strip()]
    if not wanted:
        raise InputError(Msg("err.worker.no_queue"))
    mode = pool or cfg.config.network.worker_pool
    if mode not in POOLS:
        raise InputError(Msg("err.worker.bad_pool", pool=mode, pools=", ".join(POOLS)))
    # Fail now, not at the first batch, if the store is not one the coordinator can share
    url = cfg.store_url
    if not url.startswith(("postgresql:", "postgres:")):
        raise InputError(
            Msg("err.worker.needs_postgres"),
        )
    a.store  # noqa: B018 - fails now if unreachable; each pool process opens its own later
    a.close()  # a connection must not cross the pool's fork
    try:
        app = worker_app(cfg, a.credentials, mode)
    except ImportError:
        raise InputError(Msg("err.worker.needs_celery")) from None
    verbose = a.terminal.verbose
    loglevel = "WARNING" if a.terminal.quiet else "DEBUG" if verbose >= 2 else "INFO"
    node = name or f"govops-{os.getpid()}@%h"
    net = cfg.config.network
    if concurrency is None:
        concurrency = default_concurrency(mode, worker_processes(), net.ssh_workers, net.batch_size)
    app.worker_main(worker_argv(wanted, concurrency, loglevel, node, mode))
