"""Wiring: build the audit engine from the Application's config (CLI-free, reusable)."""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any, Protocol

from govops.errors import ConfigError
from govops.i18n import Msg
from govops.network.analysis import DefaultAnalyzer
from govops.network.audit import AuditEngine, AuditSettings, start_worker_server
from govops.network.collectors.known_hosts import HostKeyPolicy
from govops.network.collectors.snmp import PysnmpCollector
from govops.network.collectors.ssh import NetmikoCollector
from govops.observer import Observer

if TYPE_CHECKING:
    from govops.config import LoadedConfig
    from govops.credentials import Credentials
    from govops.network.audit import AuditStore
    from govops.network.inventory import Inventory


class Context(Protocol):
    """What the wiring needs; the CLI's Application provides it."""

    @property
    def config(self) -> LoadedConfig: ...
    @property
    def credentials(self) -> Credentials: ...
    @property
    def store(self) -> AuditStore: ...


def selection_params(inv: Inventory, **filters: Any) -> dict[str, Any]:
    return {"inventory": str(inv.root), "filters": {k: v for k, v in filters.items() if v is not None}}


def worker_processes() -> int:
    """One SSH and one SNMP worker process per CPU this process may run on, at least one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def prepare_audit() -> None:
    """What an audit can start before it knows its devices: the worker processes' fork server."""
    start_worker_server()


def host_key_policy(config: LoadedConfig) -> HostKeyPolicy:
    """How the audit checks devices' SSH host keys; ``strict`` without a known_hosts file is a
    config error raised before any connection (it would refuse every device)."""
    net = config.config.network
    path = config.known_hosts_file
    if net.host_key_policy == "strict" and not path.is_file():
        where = "network.known_hosts" if net.known_hosts is not None else Msg("err.net.default_known_hosts")
        raise ConfigError(
            Msg("err.net.strict_no_file", where=where, path=path),
            hint=Msg("err.net.hint_known_hosts"),
        )
    return HostKeyPolicy(net.host_key_policy, str(path))


def build_audit_engine(
    ctx: Context, observer: Observer, *, workers: int | None = None, snmp_concurrency: int | None = None
) -> AuditEngine:
    net = ctx.config.config.network
    host_keys = host_key_policy(ctx.config)
    settings = AuditSettings(
        ssh_workers=workers or net.ssh_workers,
        snmp_concurrency=snmp_concurrency or net.snmp_concurrency,
        device_timeout=net.device_timeout,
        connect_timeout=net.connect_timeout,
        retries=net.retries,
        # paramiko in this process's threads would share the GIL with the SNMP loop (see audit.py)
        ssh_processes=worker_processes(),
        # pysnmp's decoding off the audit process, which schedules, evaluates and stores (see workers.py)
        snmp_processes=worker_processes(),
    )
    rule_files = [ctx.config.path(p) for p in net.rules]
    return AuditEngine(
        ssh=NetmikoCollector(host_keys),
        # a partial of a class pickles: each SNMP worker process makes its collector with this codec
        snmp_factory=functools.partial(PysnmpCollector, net.snmp_codec),
        analyzer=DefaultAnalyzer(extra_rule_files=rule_files),
        credentials=ctx.credentials,
        store=ctx.store,
        settings=settings,
        observer=observer,
    )
