"""Audits past one machine: the engine's per-device work on Celery workers (``--executor celery``).

The coordinator (``govops net audit --executor celery``) creates the run in the shared store,
as a local audit does, then publishes the devices in batches (``network.batch_size``) to queues
chosen by ``network.routes`` (county, site or inventory group -> queue), and follows the run in
the store: each result a worker records is one step of the same progress view, and the run ends
with the same summary, output and exit code as a local one (``AuditEngine.run`` builds both).

A worker (``govops worker``) runs each batch with the engine's own per-device unit of work
(``AuditEngine.run_batch``: SSH and SNMP collection, parsing and rule evaluation, on the worker,
near the devices) and records each device's result in the store itself.

Delivery is at least once, results exactly once:

- tasks are acknowledged after they ran (``task_acks_late``), and a task whose worker died is
  handed to another worker (``task_reject_on_worker_lost``; Redis redelivers an unacknowledged
  task after ``network.visibility_timeout``); each worker takes one task at a time
  (``worker_prefetch_multiplier=1``), so a lost worker holds no more than its running batches;
- a redelivered batch skips the devices already recorded, and a result is written only if none is
  recorded for (run, device) yet (``SqlStore.record_result_once``: INSERT ... ON CONFLICT DO
  NOTHING), so two workers racing on a device leave one result;
- a worker skips batches of a run that is no longer running (the coordinator was interrupted or
  lost the broker): ``--resume`` reopens the run and publishes the devices still missing.

Remediation (``govops net remediate --apply --executor celery``) runs the same way: the coordinator
plans and asks for confirmation, then publishes each device's plan with its inventory data, routed
by ``network.routes``; a worker runs ``RemediationEngine.run_batch`` (snapshot, push, save, re-audit,
rollback per device) and records each outcome once. A device whose push an earlier delivery
journalled without an outcome is checked on the device before anything is sent again (see
``govops.network.remediation.engine``).

Task messages hold the devices' inventory data (addresses, ports, credential *names*), never a
secret: each worker resolves credentials from its own sources (env, vault, keyring).
Celery is imported only here and only when used (``govops --help`` stays fast).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from govops.errors import GovopsError, InputError, NotFoundError, StoreError
from govops.i18n import Msg
from govops.network.inventory import Device, Site, SnmpProfile, SshProfile
from govops.network.results import DeviceResult
from govops.observer import NullObserver, Observer
from govops.store import Run, SqlStore

if TYPE_CHECKING:
    from celery import Celery
    from govops.config import LoadedConfig
    from govops.credentials import Credential, Credentials
    from govops.network.audit import AuditEngine
    from govops.network.collectors.base import SnmpCollector, SnmpOutput, SnmpTarget
    from govops.network.remediation.engine import RemediationEngine, RemediationSettings
    from govops.network.remediation.plan import DevicePlan

DEFAULT_QUEUE = "govops"
AUDIT_TASK = "govops.net.audit_batch"
REMEDIATE_TASK = "govops.net.remediate_batch"
POLL_INTERVAL = 0.25  # seconds between looks at the store for new results
BROKER_CHECK_INTERVAL = 2.0  # seconds between checks that the broker is still there
WORKER_CHECK_TIMEOUT = 0.5  # how long the coordinator waits for workers to say which queues they read
STORE_RETRIES = 20  # a batch whose store went away is retried this often (every few seconds)

log = logging.getLogger("govops.worker")


class BrokerError(GovopsError):
    """The broker cannot be reached (at the start of a run or in the middle of one)."""


# -- devices as task data ------------------------------------------------------------------------
def device_to_data(d: Device) -> dict[str, Any]:
    """A device as JSON data for a task message: inventory facts and credential names, no secret."""
    return {
        "hostname": d.hostname,
        "site": dataclasses.asdict(d.site),
        "platform": d.platform,
        "role": d.role,
        "mgmt_ipv4": d.mgmt_ipv4,
        "mgmt_ipv6": d.mgmt_ipv6,
        "ssh": d.ssh.model_dump() if d.ssh is not None else None,
        "snmp": d.snmp.model_dump() if d.snmp is not None else None,
        "ssh_profile": d.ssh_profile,
        "snmp_profile": d.snmp_profile,
        "ssh_port": d.ssh_port,
        "snmp_port": d.snmp_port,
        "groups": list(d.groups),
        "data": d.data,
    }


def device_from_data(data: Mapping[str, Any]) -> Device:
    return Device(
        hostname=data["hostname"],
        site=Site(**data["site"]),
        platform=data["platform"],
        role=data["role"],
        mgmt_ipv4=data["mgmt_ipv4"],
        mgmt_ipv6=data["mgmt_ipv6"],
        ssh=SshProfile.model_validate(data["ssh"]) if data["ssh"] is not None else None,
        snmp=SnmpProfile.model_validate(data["snmp"]) if data["snmp"] is not None else None,
        ssh_profile=data["ssh_profile"],
        snmp_profile=data["snmp_profile"],
        ssh_port=data["ssh_port"],
        snmp_port=data["snmp_port"],
        groups=tuple(data["groups"]),
        data=dict(data["data"]),
    )


def plan_to_data(p: DevicePlan) -> dict[str, Any]:
    """A remediation plan as task data: the lines and their undo (no secret: templates never hold one)."""
    data = p.to_dict()
    data.pop("session", None)
    return data


def plan_from_data(data: Mapping[str, Any]) -> DevicePlan:
    from govops.network.remediation.plan import DevicePlan, PlanItem

    items = [PlanItem(**i) for i in data["items"]]
    return DevicePlan(data["hostname"], data["platform"], data["site"], data["county"], data["level"], items)


# -- routing and batching ------------------------------------------------------------------------
def queue_for(device: Device, routes: Mapping[str, str]) -> str:
    """The queue of the first route (in the config's order) naming the device's county, site or group."""
    for key, queue in routes.items():
        if key in (device.county, device.site.code) or key in device.groups:
            return queue
    return DEFAULT_QUEUE


def plan_batches(devices: Sequence[Device], routes: Mapping[str, str], size: int) -> list[tuple[str, list[Device]]]:
    """(queue, devices) batches of at most ``size``, each within one queue, in the devices' order."""
    by_queue: dict[str, list[Device]] = {}
    for d in devices:
        by_queue.setdefault(queue_for(d, routes), []).append(d)
    out: list[tuple[str, list[Device]]] = []
    for queue, members in by_queue.items():
        out.extend((queue, members[i : i + size]) for i in range(0, len(members), size))
    return out


# -- the Celery application ----------------------------------------------------------------------
@dataclass(frozen=True)
class CelerySettings:
    broker: str
    visibility_timeout: float = 3600.0
    # the coordinator only: a publish or check on a broker that vanished must not wait forever
    socket_timeout: float | None = None

    @classmethod
    def from_config(cls, config: LoadedConfig, *, coordinator: bool = False) -> CelerySettings:
        net = config.config.network
        if not net.broker:
            raise InputError(
                Msg("err.dist.no_broker"),
                hint=Msg("err.dist.hint_lab_broker"),
            )
        return cls(
            with_password(net.broker, os.environ.get(net.broker_password_env)),
            net.visibility_timeout,
            5.0 if coordinator else None,
        )


def with_password(url: str, password: str | None) -> str:
    """The broker URL with the password from the environment put in (never written anywhere)."""
    if not password:
        return url
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(url)
    user = quote(parts.username or "", safe="")
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))


def display_broker(url: str) -> str:
    """The broker URL without a password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@')[-1]}"
    return url


def celery_app(settings: CelerySettings) -> Celery:
    from celery import Celery

    app = Celery("govops", broker=settings.broker, set_as_current=False)
    # Lost workers' tasks come back after the visibility timeout; look for them often enough
    # that a short timeout (tests, small sites) is what decides, not the sweep period.
    transport: dict[str, Any] = {
        "visibility_timeout": settings.visibility_timeout,
        "unacked_restore_interval": max(1.0, min(10.0, settings.visibility_timeout / 10)),
        "unacked_restore_throttle": 1,
    }
    if settings.socket_timeout is not None:
        transport |= {"socket_timeout": settings.socket_timeout, "socket_connect_timeout": settings.socket_timeout}
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,  # results go to the govops store, not a Celery backend
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=DEFAULT_QUEUE,
        task_create_missing_queues=True,
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        worker_send_task_events=False,
    )
    return app


def broker_problem(app: Celery) -> str | None:
    """Why the broker cannot be reached (one connection attempt, a few seconds at most), or None."""
    from kombu.exceptions import OperationalError

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, interval_max=0.2, timeout=3)
    except (OperationalError, OSError) as exc:
        return str(exc) or type(exc).__name__
    return None


# -- coordinator ---------------------------------------------------------------------------------
class CeleryExecutor:
    """The engine's ``Executor`` that publishes batches to workers and follows the store."""

    def __init__(
        self,
        app: Celery,
        store: SqlStore,
        *,
        routes: Mapping[str, str],
        batch_size: int,
        broker_display: str,
        check_workers: bool = True,
    ) -> None:
        self.app = app
        self.store = store
        self.routes = dict(routes)
        self.batch_size = batch_size
        self.broker_display = broker_display
        self.check_workers = check_workers
        self.command = "govops net audit"

    def execute(
        self, run: Run, devices: Sequence[Device], checks: Sequence[str], observer: Observer
    ) -> list[DeviceResult] | None:
        batches = plan_batches(devices, self.routes, self.batch_size)
        if not batches:
            return None
        self._ensure_broker(run)
        with self._consumers_checked(run, sorted({q for q, _b in batches})) as check:
            self._publish(
                run, AUDIT_TASK, [(q, (run.id, list(checks), [device_to_data(d) for d in b])) for q, b in batches]
            )
            observer.message(Msg("progress.dist.sent", batches=len(batches), size=self.batch_size))
            feed = _ResultFeed(self.store, run.id, keep=DeviceResult.from_dict)
            self._follow(run, {d.hostname for d in devices}, observer, feed, check)
        return [feed.kept[t] for t in sorted(feed.kept)]

    def remediate(
        self,
        run: Run,
        plans: Sequence[DevicePlan],
        devices: Mapping[str, Device],
        settings: RemediationSettings,
        observer: Observer,
    ) -> None:
        """A remediation run's plans to the workers of each device's queue; returns once all are recorded."""
        self.command = "govops net remediate"
        by_host = {p.hostname: p for p in plans}
        batches = plan_batches([devices[p.hostname] for p in plans], self.routes, self.batch_size)
        if not batches:
            return
        self._ensure_broker(run)
        queues = sorted({q for q, _b in batches})
        messages = [
            (
                q,
                (
                    run.id,
                    settings.to_dict(),
                    [{"plan": plan_to_data(by_host[d.hostname]), "device": device_to_data(d)} for d in batch],
                ),
            )
            for q, batch in batches
        ]
        with self._consumers_checked(run, queues) as check:
            self._publish(run, REMEDIATE_TASK, messages)
            observer.message(Msg("progress.dist.sent", batches=len(batches), size=self.batch_size))
            self._follow(run, set(by_host), observer, _ResultFeed(self.store, run.id), check)

    def _resume_hint(self, run: Run) -> Msg:
        return Msg("err.dist.hint_resume", command=self.command, run=run.id)

    def _broker_problem(self) -> str | None:
        return broker_problem(self.app)

    def _ensure_broker(self, run: Run) -> None:
        problem = self._broker_problem()
        if problem is not None:
            raise BrokerError(
                Msg("err.dist.broker_down", broker=self.broker_display, reason=problem, run=run.id),
                hint=self._resume_hint(run),
            )

    @contextmanager
    def _consumers_checked(self, run: Run, queues: list[str]) -> Iterator[Future[None] | None]:
        """Ask the workers which queues they read while the batches are published and followed.

        The question takes at least ``WORKER_CHECK_TIMEOUT`` (every worker's answer is awaited);
        asked first, it delayed every run's first batch by that. Batches published for a queue
        nobody reads stay queued and are skipped by a worker that comes later: the run is then
        no longer running.
        """
        if not self.check_workers:
            yield None
            return
        pool = ThreadPoolExecutor(1, thread_name_prefix="govops-consumers")
        try:
            yield pool.submit(self._ensure_consumers, run, queues)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _ensure_consumers(self, run: Run, queues: list[str]) -> None:
        """Fail early when no worker reads a queue this run needs (else it would wait forever)."""
        missing = queues
        # workers that just (re)connected to the broker may answer late: ask again, waiting longer
        # (Celery's reconnect backoff: 2, 4, 6 s ... after the broker comes back)
        for wait in (
            WORKER_CHECK_TIMEOUT,
            2 * WORKER_CHECK_TIMEOUT,
            6 * WORKER_CHECK_TIMEOUT,
            12 * WORKER_CHECK_TIMEOUT,
        ):
            replies = self.app.control.inspect(timeout=wait).active_queues() or {}
            served = {q["name"] for qs in replies.values() for q in qs}
            missing = [q for q in queues if q not in served]
            if not missing:
                return
        if missing:
            raise GovopsError(
                Msg("err.dist.no_worker", queues=", ".join(missing), broker=self.broker_display, run=run.id),
                hint=Msg("err.dist.hint_worker", queues=",".join(missing), command=self.command, run=run.id),
            )

    def _publish(self, run: Run, task: str, messages: list[tuple[str, tuple[Any, ...]]]) -> None:
        from kombu.exceptions import OperationalError

        try:
            with self.app.producer_or_acquire() as producer:
                for queue, args in messages:
                    self.app.send_task(
                        task,
                        args=args,
                        queue=queue,
                        producer=producer,
                        retry=True,
                        retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
                    )
        except (OperationalError, OSError) as exc:
            raise BrokerError(
                Msg("err.dist.broker_lost_sending", broker=self.broker_display, run=run.id, reason=exc),
                hint=self._resume_hint(run),
            ) from None

    def _follow(
        self, run: Run, wanted: set[str], observer: Observer, results: _ResultFeed, check: Future[None] | None
    ) -> None:
        seen: set[str] = set()
        next_check = time.monotonic() + BROKER_CHECK_INTERVAL
        while True:
            for host, (status, reason) in sorted(results.poll().items()):
                if host in wanted and host not in seen:
                    seen.add(host)
                    observer.advanced(host, status, reason)
            if check is not None and check.done():
                failed = check.exception()
                check = None
                if isinstance(failed, GovopsError):  # a queue of this run has no worker
                    raise failed
                if failed is not None:  # the broker failed the question: look at it now
                    next_check = time.monotonic()
            if len(seen) == len(wanted):
                return
            if time.monotonic() >= next_check:
                problem = self._broker_problem()
                if problem is not None:
                    raise BrokerError(
                        Msg(
                            "err.dist.broker_lost",
                            broker=self.broker_display,
                            run=run.id,
                            reason=problem,
                            done=len(seen),
                            total=len(wanted),
                        ),
                        hint=self._resume_hint(run),
                    )
                next_check = time.monotonic() + BROKER_CHECK_INTERVAL
            time.sleep(POLL_INTERVAL)


class _ResultFeed:
    """The run's recorded statuses, read incrementally: each poll returns only the targets it had
    not returned before and reads only what finished since the last poll (less a margin), so
    following a run costs in proportion to its size, not its square.

    Workers on other machines stamp results with their own clocks, and a transaction may commit
    after a later-stamped one: the margin covers that, and a count of the run's results (cheap,
    from the primary key) catches anything it missed. A miss means a full read, once, and a margin
    widened to the lateness seen, so a worker whose clock is behind costs one full read, not one
    per poll.
    """

    def __init__(self, store: SqlStore, run_id: str, keep: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.store = store
        self.run_id = run_id
        self.statuses: dict[str, tuple[str, str | None]] = {}
        self.latest = ""
        self.margin = timedelta(seconds=5)
        # keep: each new result's data, read once and converted while the run goes on, so the
        # report at its end need not read every result back (2 s of a city's 35 s, after the
        # last device)
        self.keep = keep
        self.kept: dict[str, Any] = {}

    def poll(self) -> dict[str, tuple[str, str | None]]:
        total = self.store.result_count(self.run_id)
        if total == len(self.statuses):
            return {}
        new, _stamps = self._read(self._since())
        if len(self.statuses) < total:  # a result stamped before the window
            window_start = _parse_stamp(self._since())
            late, stamps = self._read("")
            new |= late
            oldest = _parse_stamp(min(stamps, default=""))
            if window_start is not None and oldest is not None and oldest < window_start:
                self.margin += window_start - oldest + timedelta(seconds=5)
        if self.keep is not None and new:
            for row in self.store.results_of(self.run_id, sorted(new)):
                if row.data:
                    self.kept[row.target] = self.keep(row.data)
        return new

    def _read(self, since: str) -> tuple[dict[str, tuple[str, str | None]], list[str]]:
        """The targets not returned before, and their stamps."""
        new: dict[str, tuple[str, str | None]] = {}
        stamps: list[str] = []
        for target, status, reason, finished_at in self.store.results_since(self.run_id, since):
            if target not in self.statuses:
                self.statuses[target] = new[target] = (status, reason)
                stamps.append(finished_at)
            self.latest = max(self.latest, finished_at)
        return new, stamps

    def _since(self) -> str:
        at = _parse_stamp(self.latest)
        if at is None:  # nothing read yet (or a stamp that is not ISO 8601): read from the start
            return ""
        return (at - self.margin).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_stamp(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def build_executor(config: LoadedConfig, store: SqlStore, *, check_workers: bool = True) -> CeleryExecutor:
    """The coordinator's executor from govops.yaml; the store must be one every worker reaches."""
    if not store.url.startswith(("postgresql:", "postgres:")):
        raise InputError(
            Msg("err.dist.needs_postgres", url=store.display_url),
            hint=Msg("err.dist.hint_postgres"),
        )
    settings = CelerySettings.from_config(config, coordinator=True)
    try:
        app = celery_app(settings)
    except ImportError:
        raise InputError(Msg("err.dist.needs_celery")) from None
    net = config.config.network
    return CeleryExecutor(
        app,
        store,
        routes=net.routes,
        batch_size=net.batch_size,
        broker_display=display_broker(settings.broker),
        check_workers=check_workers,
    )


# -- worker --------------------------------------------------------------------------------------
class OnceStore(SqlStore):
    """The worker's store: each device's result is written only if none is recorded yet."""

    def record_result(self, run_id: str, target: str, status: str, reason: str | None, data: dict[str, Any]) -> None:
        if self.record_result_once(run_id, target, status, reason, data):
            return
        rows = self._rows("SELECT data FROM results WHERE run_id = ? AND target = ?", (run_id, target))
        old = rows[0][0] if rows else None
        old = json.loads(old) if isinstance(old, str | bytes) else old
        if isinstance(old, dict) and old.get("not_started") and not data.get("not_started"):
            # a remediation device that --max-failures kept from starting, started by the resume
            super().record_result(run_id, target, status, reason, data)
            return
        log.info("run %s: %s already recorded by another worker, this result dropped", run_id, target)


@dataclass
class _WorkerContext:
    """What ``build_audit_engine`` needs (the CLI's Application has the same three)."""

    config: LoadedConfig
    credentials: Credentials
    store: Any  # each pool process opens its own (``_engine``)


_PARENT: list[tuple[AuditEngine, str]] = []  # set once by the worker command, before the pool forks
# per pool process (prefork) or pool thread (engine); their store is the process's (_process_store)
_ENGINES: dict[tuple[int, int], AuditEngine] = {}
_STORES: dict[int, OnceStore] = {}  # per process: a connection must not cross a fork
POOLS = ("prefork", "engine")


def _slot() -> tuple[int, int]:
    """This pool process's (prefork: it runs its tasks in one thread) or pool thread's key."""
    return os.getpid(), threading.get_ident()


def _process_store() -> OnceStore:
    """This process's store connection, shared by its pool threads (``SqlStore`` serialises them).

    The engine pool runs dozens of batches at once in threads: a connection each would be dozens
    per worker, and PostgreSQL refuses clients past its ``max_connections`` (100 by default).
    """
    pid = os.getpid()
    with _SHARED_LOCK:
        store = _STORES.get(pid)
        if store is None:
            store = _STORES[pid] = OnceStore(_PARENT[0][1])
        return store


def _drop_store() -> None:
    """After a store error: the next batches of this process open a new connection."""
    with _SHARED_LOCK:
        broken = _STORES.pop(os.getpid(), None)
        for kept in (_ENGINES, _REMEDIATORS):
            for slot in [s for s, e in kept.items() if s[0] == os.getpid() and (broken is None or e.store is broken)]:
                del kept[slot]
    if broken is not None:
        with contextlib.suppress(Exception):  # it is broken already: closing it may fail too
            broken.close()


def prepare_engine(config: LoadedConfig, credentials: Credentials, pool: str = "prefork") -> AuditEngine:
    """The worker's engine without a store, built once before the pool forks.

    Its processes then share netmiko, paramiko, pysnmp and the parsed rules (copy-on-write)
    instead of each importing and loading them at its first batch (a CPU-second or two each).
    ``pool="engine"``: the engine as a local audit has it, SSH and SNMP in processes of its own.
    """
    from govops.network.service import build_audit_engine

    engine = build_audit_engine(_WorkerContext(config, credentials, None), NullObserver())
    if pool == "engine":
        return engine
    # Celery's pool processes are this worker's processes: a batch runs in its process's
    # threads and event loop rather than in more processes of its own
    engine.settings = dataclasses.replace(
        engine.settings,
        ssh_processes=0,
        snmp_processes=0,
        # a batch's sessions and its IPv6 probes share this thread pool: none waits for a thread
        ssh_workers=2 * config.config.network.batch_size,
    )
    return engine


class _KeptSnmp:
    """A pool process's one SNMP collector, kept from batch to batch on the process's own loop.

    Making a pysnmp engine costs about 90 ms of CPU: once per batch, that was a third of what a
    worker spent on a healthy device's batch. The engine closes it after each batch; this keeps it.
    """

    def __init__(self, make: Callable[[], SnmpCollector]) -> None:
        self.make = make
        self.inner: SnmpCollector | None = None

    def __call__(self) -> SnmpCollector:
        return self  # the engine's snmp_factory

    def _get(self) -> SnmpCollector:
        if self.inner is None:
            self.inner = self.make()
        return self.inner

    async def collect(
        self, target: SnmpTarget, credential: Credential, gets: Sequence[str], walks: Sequence[str]
    ) -> SnmpOutput:
        return await self._get().collect(target, credential, gets, walks)

    async def answers_community(self, target: SnmpTarget, community: str, timeout: float) -> bool:
        return await self._get().answers_community(target, community, timeout)

    def close(self) -> None:
        pass  # kept for the next batch; the process's exit ends it


_LOOPS: dict[tuple[int, int], asyncio.AbstractEventLoop] = {}


class EngineLoop:
    """The engine pool's one engine: an event loop in a thread of its own, fed by Celery's threads.

    Every batch runs on this loop through the same SSH and SNMP worker processes (kept from batch
    to batch, as a local audit keeps them for its devices); Celery's threads only wait for their
    batch's results. Its store connection is used on this loop's thread only.
    """

    def __init__(self, engine: AuditEngine, url: str) -> None:
        from govops.network.audit import KeptPools

        self.engine = copy.copy(engine)
        self.url = url
        self.engine.store = OnceStore(url)
        self.pools = KeptPools(engine.settings.snmp_concurrency)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="govops-engine", daemon=True)
        self.thread.start()

    def run_batch(self, run_id: str, devices: Sequence[Device], checks: Sequence[str]) -> list[Any]:
        work = self.engine.run_batch_kept(run_id, devices, checks, self.pools)
        return asyncio.run_coroutine_threadsafe(work, self.loop).result()

    def reopen_store(self) -> None:
        """After a store error: the next batches get a new connection (on the loop's thread)."""

        def reopen() -> None:
            self.engine.store = OnceStore(self.url)

        self.loop.call_soon_threadsafe(reopen)


_SHARED: list[EngineLoop] = []  # the engine pool's, made at its first batch
_POOL = ["prefork"]  # set by worker_app


def _shared() -> EngineLoop | None:
    """The engine pool's loop (None with the prefork pool)."""
    if _POOL[0] != "engine":
        return None
    with _SHARED_LOCK:
        if not _SHARED:
            _SHARED.append(EngineLoop(*_PARENT[0]))
    return _SHARED[0]


_SHARED_LOCK = threading.Lock()


def _engine() -> AuditEngine:
    slot = _slot()
    engine = _ENGINES.get(slot)
    if engine is None:
        shared = _PARENT[0][0]
        engine = copy.copy(shared)
        engine.store = _process_store()
        if not shared.settings.snmp_processes:
            # prefork: this process polls SNMP itself (the engine pool's workers make their own)
            engine.snmp_factory = _KeptSnmp(shared.snmp_factory)
        _ENGINES[slot] = engine
    return engine


def _warm_up(**_: Any) -> None:
    """A new pool process gets its store connection and SNMP engine now, before its first batch.

    A long-running worker pays them once at start rather than in the first run it serves.
    """
    try:
        engine = _engine()
        kept = engine.snmp_factory
        if isinstance(kept, _KeptSnmp):

            async def make() -> None:
                kept._get()

            _loop().run_until_complete(make())
    except Exception as exc:  # noqa: BLE001 - the first batch meets (and reports) the same problem
        log.warning("pool process warm-up failed: %s", exc)


def _loop() -> asyncio.AbstractEventLoop:
    loop = _LOOPS.get(_slot())
    if loop is None:
        loop = _LOOPS[_slot()] = asyncio.new_event_loop()
    return loop


def audit_batch(task: Any, run_id: str, checks: list[str], devices: list[dict[str, Any]]) -> dict[str, Any]:
    """The Celery task: one batch of a run, each device recorded in the store once."""
    t0 = time.monotonic()
    # which worker audited which device: in its log, for the operator (and the tests)
    log.info("run %s: batch started: %s", run_id, " ".join(d["hostname"] for d in devices))
    try:
        engine = _engine()
        try:
            run = engine.store.get_run(run_id)
        except NotFoundError:
            # another store than the coordinator's: nothing here can record this run
            log.error("run %s is not in this worker's store %s: batch dropped", run_id, _store_display(engine))
            return {"run": run_id, "skipped": len(devices), "reason": "unknown run"}
        if run.status != "running":
            log.info("run %s is %s: batch of %d devices skipped", run_id, run.status, len(devices))
            return {"run": run_id, "skipped": len(devices), "reason": run.status}
        batch = [device_from_data(d) for d in devices]
        shared = _shared()
        results = (
            shared.run_batch(run_id, batch, checks) if shared else engine.run_batch(run_id, batch, checks, _loop())
        )
    except StoreError as exc:
        # the store is away for a while (restart, failover): try the batch again later
        log.warning("run %s: store error (%s), batch retried", run_id, exc.message)
        _drop_store()
        if _SHARED:
            _SHARED[0].reopen_store()
        raise task.retry(countdown=3, max_retries=STORE_RETRIES) from None
    except Exception as exc:
        # the batch's devices end with the reason and the run goes on (a bad rule file or
        # credential source on this worker, a bug): without a result each device would keep the
        # coordinator waiting
        log.exception("run %s: batch failed", run_id)
        _record_failed(run_id, devices, _worker_reason(exc))
        return {"run": run_id, "failed": len(devices)}
    ok = sum(1 for r in results if r.status == "ok")
    log.info(
        "run %s: batch done in %.1f s, %d ok, %d failed, %d recorded before: %s",
        run_id,
        time.monotonic() - t0,
        ok,
        len(results) - ok,
        len(devices) - len(results),
        " ".join(r.hostname for r in results),
    )
    return {"run": run_id, "devices": [r.hostname for r in results]}


def _worker_reason(exc: Exception) -> str:
    """What a batch this worker could not run tells each of its devices: which worker, and why."""
    detail = exc.message if isinstance(exc, GovopsError) else f"{type(exc).__name__}: {exc}"
    return f"worker {socket.gethostname()}: {detail}"


def _record_failed(run_id: str, devices: list[dict[str, Any]], reason: str) -> None:
    store = _process_store()
    for data in devices:
        d = device_from_data(data)
        result = DeviceResult(d.hostname, d.site.code, d.county, d.level, d.platform, "error", reason)
        store.record_result(run_id, d.hostname, "error", reason, result.to_dict())


_CONTEXT: list[_WorkerContext] = []  # the worker's config and credentials, set with _PARENT
_REMEDIATORS: dict[tuple[int, int], RemediationEngine] = {}  # per pool process or thread, as _ENGINES


def _remediator(settings: Mapping[str, Any]) -> RemediationEngine:
    """This pool process's or thread's remediation engine (the process's store), with the run's settings."""
    from govops.network.remediation.engine import RemediationSettings

    slot = _slot()
    engine = _REMEDIATORS.get(slot)
    if engine is None:
        from govops.network.remediation.service import build_engine

        ctx = _CONTEXT[0]
        engine = build_engine(_WorkerContext(ctx.config, ctx.credentials, _process_store()), NullObserver())
        _REMEDIATORS[slot] = engine
    run_engine = copy.copy(engine)
    run_engine.settings = RemediationSettings(**settings)
    return run_engine


def remediate_batch(task: Any, run_id: str, settings: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """The Celery task: one batch of a remediation run, each device's change made (and recorded) once."""
    t0 = time.monotonic()
    hosts = [i["plan"]["hostname"] for i in items]
    log.info("run %s: batch started: %s", run_id, " ".join(hosts))
    try:
        engine = _remediator(settings)
        try:
            run = engine.store.get_run(run_id)
        except NotFoundError:
            log.error("run %s is not in this worker's store: batch dropped", run_id)
            return {"run": run_id, "skipped": len(items), "reason": "unknown run"}
        if run.status != "running":
            log.info("run %s is %s: batch of %d devices skipped", run_id, run.status, len(items))
            return {"run": run_id, "skipped": len(items), "reason": run.status}
        plans = [plan_from_data(i["plan"]) for i in items]
        devices = {i["plan"]["hostname"]: device_from_data(i["device"]) for i in items}
        outcomes = engine.run_batch(run_id, plans, devices)
    except StoreError as exc:
        # a device whose push was journalled is checked on the device when the batch comes back
        log.warning("run %s: store error (%s), batch retried", run_id, exc.message)
        _drop_store()
        raise task.retry(countdown=3, max_retries=STORE_RETRIES) from None
    except Exception as exc:
        log.exception("run %s: batch failed", run_id)
        _record_failed_outcomes(run_id, items, _worker_reason(exc))
        return {"run": run_id, "failed": len(items)}
    log.info(
        "run %s: batch done in %.1f s, %s, %d recorded before: %s",
        run_id,
        time.monotonic() - t0,
        ", ".join(f"{o.hostname} {o.status}" for o in outcomes) or "nothing done",
        len(items) - len(outcomes),
        " ".join(o.hostname for o in outcomes),
    )
    return {"run": run_id, "devices": {o.hostname: o.status for o in outcomes}}


def _record_failed_outcomes(run_id: str, items: list[dict[str, Any]], reason: str) -> None:
    from govops.network.remediation.engine import Outcome

    store = OnceStore(_PARENT[0][1])
    try:
        pushed = {e.resource_id for e in store.journal(run_id) if e.action == "push"}
        for i in items:
            plan = plan_from_data(i["plan"])
            why = reason if plan.hostname not in pushed else f"unknown state: {reason}; check it by hand"
            out = Outcome(plan.hostname, plan.platform, "failed", why, items=[it.to_dict() for it in plan.items])
            store.record_result(run_id, plan.hostname, "failed", why, out.to_dict())
    finally:
        store.close()


def _store_display(engine: AuditEngine) -> str:
    store = engine.store
    return store.display_url if isinstance(store, SqlStore) else "?"


def worker_app(config: LoadedConfig, credentials: Credentials, pool: str = "prefork") -> Celery:
    """The Celery application of ``govops worker``, with the audit task bound to this config.

    ``pool``: ``prefork`` (Celery's pool processes each run a batch with SSH, SNMP, parsing and
    rules under one GIL) or ``engine`` (batches in threads of this process, each run as a local
    audit: SSH sessions and SNMP polls in the engine's worker processes).
    """
    # one INFO line per SSH login and socket would bury the batches' lines
    for noisy in ("paramiko", "netmiko", "pysnmp", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = CelerySettings.from_config(config)
    app = celery_app(settings)
    # A worker started while its broker is down says so and stops (systemd's Restart= tries again)
    # rather than Celery retrying forever behind a screen of reconnect tracebacks. Once running,
    # Celery reconnects by itself when the broker comes back.
    problem = broker_problem(app)
    if problem is not None:
        raise BrokerError(
            Msg("err.dist.worker_broker_down", broker=display_broker(settings.broker), reason=problem),
            hint=Msg("err.dist.hint_worker_broker"),
        )
    _PARENT[:] = [(prepare_engine(config, credentials, pool), config.store_url)]
    _POOL[:] = [pool]
    _CONTEXT[:] = [_WorkerContext(config, credentials, None)]
    app.task(name=AUDIT_TASK, bind=True)(audit_batch)
    app.task(name=REMEDIATE_TASK, bind=True)(remediate_batch)
    from celery.signals import worker_process_init

    worker_process_init.connect(_warm_up)
    if pool == "engine":
        from govops.network.audit import start_worker_server

        start_worker_server()  # netmiko's and pysnmp's imports in the fork server now, not at the first batch
        shared = _shared()
        if shared is not None:  # the SNMP processes start now, not in the first run served
            asyncio.run_coroutine_threadsafe(shared.pools.snmp(shared.engine), shared.loop)
    return app


def default_concurrency(pool: str, processes: int, ssh_workers: int, batch_size: int) -> int:
    """Batches a worker runs at once when ``--concurrency`` is not given.

    prefork: 4 pool processes per CPU (a batch mostly waits on its devices; each process costs
    CPU of its own, so more do not come free). engine: the batches are threads feeding one engine
    whose SSH sessions (``network.ssh_workers``) bound the work, and a batch holds its thread
    until its slowest device ends; about 12 devices in flight per session keep the sessions busy
    (the city, one worker: 16 batches of 10 took +53 to +94 % over the local audit, 32 took
    +18 %, 64 took +14 %; docs/benchmarks.md). A thread waiting on its batch costs no CPU.
    """
    if pool == "engine":
        return max(4 * processes, -(-12 * ssh_workers // batch_size))
    return 4 * processes


def worker_argv(queues: Sequence[str], concurrency: int, loglevel: str, name: str, pool: str = "prefork") -> list[str]:
    """``celery worker`` arguments: gossip and mingle are cluster chatter this worker does not need."""
    return [
        "worker",
        f"--queues={','.join(queues)}",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        f"--hostname={name}",
        "--without-gossip",
        "--without-mingle",
        # engine: the batches' SSH and SNMP run in the engine's own processes; Celery's threads
        # only schedule, evaluate and record
        "--pool=threads" if pool == "engine" else "--pool=prefork",
    ]
