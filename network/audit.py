"""The audit engine: every selected device collected over SSH and SNMP, evaluated, and stored.

Shape (nornir's ideas): one unit of work per device (``DeviceJob``, plain data, so a run could be
sharded by county onto a task queue later), per-device failure capture (every device ends with
one status and a reason; one device never stops the run), results written to the store as each
device finishes (a SIGKILL loses nothing), ``resume`` finishes a run without redoing devices.

Concurrency: SNMP polls are asyncio tasks of this process under an adaptive semaphore; SSH
sessions (netmiko is blocking) run in threads of a few worker processes (``ssh_processes``), or
in a thread pool of this process when that is 0 (fakes in unit tests). Both phases of
different devices overlap. Worker processes matter: paramiko is CPU-heavy pure Python, and in
threads it shared one GIL with the SNMP event loop, so SNMP polls overran their deadlines. SSH
workers get the job (plain data), parse what the device printed and send back the facts and the
outputs' hashes (the raw text, configurations with secrets in them, stays there). With
``snmp_processes`` the polls themselves (pysnmp's decoding and crypto) run in a few processes of
their own too (``workers.SnmpWorkers``), while the scheduling (deadlines, retries, the
concurrency limit) stays here. This process alone evaluates and writes the store, so resume and
once-only semantics do not depend on the workers. Each phase has a deadline that starts when that
phase starts, so queueing never counts against a device.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import multiprocessing
import pickle
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.context import ForkServerContext
from typing import Any, Protocol

from govops.credentials import Credential, Credentials
from govops.errors import CredentialError, GovopsError, InputError, Interrupted
from govops.i18n import Msg
from govops.network.collectors.base import (
    CollectError,
    SnmpCollector,
    SnmpTarget,
    SshCollector,
    SshOutput,
    SshTarget,
    Status,
    TimedOut,
)
from govops.network.facts import DeviceFacts
from govops.network.inventory import Device
from govops.network.platforms import platform as platform_info
from govops.network.results import (
    AuditSummary,
    DeviceResult,
    Evidence,
    Finding,
    FindingEvidence,
    Output,
    Rollup,
    group_summary,
    ipv6_ready,
)
from govops.network.workers import SessionWorkers, SnmpWorkers
from govops.observer import NullObserver, Observer
from govops.store import Run, Store
from govops.store import now as store_now

RUN_KIND = "net.audit"
CHECKS = ("ipv6", "baseline")
FAILED_STATUSES = ("unreachable", "auth_failed", "timeout", "parse_error", "error")
DEFAULT_COMMUNITIES = ("public", "private")
# `net audit -o json` carries this name; its shape changes only with a new version (docs: output schema)
OUTPUT_SCHEMA = "govops.net.audit/1"
CSV_COLUMNS = (
    "hostname",
    "site",
    "county",
    "level",
    "platform",
    "status",
    "reason",
    "ipv6_ready",
    "failed_rules",
    "fail_critical",
    "fail_high",
    "fail_medium",
    "fail_low",
)


__all__ = [  # the result models are the engine's vocabulary: importable from here too
    "AuditSummary",
    "DeviceResult",
    "Evidence",
    "Finding",
    "FindingEvidence",
    "group_summary",
    "summarize",
]


class Analyzer(Protocol):
    """Parsers and rules as the engine sees them (govops.network.analysis implements it)."""

    def packs(self) -> list[str]:
        """The rule packs ``checks`` may name (extra rule files may bring packs of their own)."""
        ...

    def commands(self, platform: str) -> list[str]: ...
    def snmp_plan(self) -> tuple[list[str], list[str]]: ...
    def facts_from_cli(self, platform: str, outputs: dict[str, str]) -> DeviceFacts: ...
    def facts_from_snmp(self, values: dict[str, Any]) -> DeviceFacts: ...
    def evaluate(
        self,
        device: Device,
        ssh: DeviceFacts | None,
        snmp: DeviceFacts | None,
        extra: dict[str, Any],
        checks: Sequence[str],
    ) -> tuple[dict[str, Any], list[Finding]]:
        """(merged facts, one finding per rule of the checked packs, by rule id)."""


class AuditStore(Store, Protocol):
    """The store as the engine uses it: a resumed run is reopened (running again) first."""

    def reopen_run(self, run_id: str) -> Run: ...


class Executor(Protocol):
    """Runs a run's per-device work elsewhere (``govops.network.distributed``: Celery workers).

    ``execute`` returns once every device has a result in the engine's store, reporting each one
    to ``observer`` as it lands; it raises to stop the run (which is then left resumable). It may
    return every result of the run as read from the store while following it (in target order),
    so the engine need not read them back; None: the engine reads them.
    """

    def execute(
        self, run: Run, devices: Sequence[Device], checks: Sequence[str], observer: Observer
    ) -> Sequence[DeviceResult] | None: ...


@dataclass(frozen=True)
class AuditSettings:
    ssh_workers: int = 50
    snmp_concurrency: int = 40
    device_timeout: float = 60.0
    connect_timeout: float = 10.0
    retries: int = 2
    backoff: float = 0.5
    # When the configuration hides its v2c communities as ciphers (VRP), ask the agent itself
    # whether it answers a default community: one GET per name, only on such devices.
    probe_default_communities: bool = True
    probe_timeout: float = 1.5
    # SSH sessions in threads of this many worker processes (0: threads of this one); the
    # collector and credentials must then be picklable (the real ones are; test fakes keep
    # their call records in this process, so the engine's default stays 0)
    ssh_processes: int = 0
    # SNMP polls in this many worker processes (0: on this process's loop, as test fakes need);
    # ``snmp_concurrency`` stays the total of polls in flight across them
    snmp_processes: int = 0


@dataclass(frozen=True)
class DeviceJob:
    """One device's work, as plain data (JSON-serialisable)."""

    hostname: str
    platform: str | None
    site: str
    county: str | None
    level: str
    mgmt_ipv4: str | None
    mgmt_ipv6: str | None
    ssh: dict[str, Any] | None
    snmp: dict[str, Any] | None

    @classmethod
    def from_device(cls, d: Device) -> DeviceJob:
        p = platform_info(d.platform)
        ssh = None
        if d.ssh is not None and p is not None and p.netmiko_device_type:
            ssh = {
                "port": d.ssh_port or d.ssh.port,
                "credential": d.ssh.credential,
                "timeout": d.ssh.timeout,
                "device_type": d.ssh.device_type or p.netmiko_device_type,
            }
        snmp = None
        if d.snmp is not None:
            snmp = {
                "port": d.snmp_port or d.snmp.port,
                "credential": d.snmp.credential,
                "version": d.snmp.version,
                "timeout": d.snmp.timeout,
                "retries": d.snmp.retries,
                "auth_protocol": d.snmp.auth_protocol,
                "priv_protocol": d.snmp.priv_protocol,
                "context": d.snmp.context,
            }
        return cls(d.hostname, d.platform, d.site.code, d.county, d.level, d.mgmt_ipv4, d.mgmt_ipv6, ssh, snmp)


@dataclass
class SessionResult:
    """One SSH session as the audit process needs it, parsed where it ran.

    The raw outputs are not sent back: only their hashes are evidence (configurations hold
    secrets, and parsing them here would put the CPU back on the audit process).
    """

    hashes: dict[str, str]  # command -> sha256 prefix of its raw output, in the order run
    host_key: tuple[str, str] | None
    facts: DeviceFacts | None
    parse_error: str | None  # the parser's message when an output was not what it expects
    attempts: int
    # an unexpected parser failure, re-raised by the audit after the evidence is recorded
    parser_bug: Exception | None = None


# -- a device's partial results, one per phase -------------------------------------
Collected = str  # ok | failed | not_applicable


@dataclass(frozen=True)
class SshPart:
    """The SSH phase of one device: the facts parsed from its outputs, or why there are none."""

    collected: Collected
    facts: DeviceFacts | None = None
    evidence: tuple[Evidence, ...] = ()
    failure: CollectError | None = None  # the device's status when it is the first failure
    attempts: int = 0
    parser_bug: Exception | None = None  # the device ends as ``error``, its evidence kept


@dataclass(frozen=True)
class SnmpPart:
    """The SNMP phase of one device."""

    collected: Collected
    facts: DeviceFacts | None = None
    evidence: tuple[Evidence, ...] = ()
    failure: CollectError | None = None
    over_ipv6: bool = False  # the agent answered on the IPv6 management address
    parser_bug: Exception | None = None  # as for SSH


@dataclass(frozen=True)
class ProbePart:
    """The probes: SSH on the IPv6 management address, the default v2c communities."""

    mgmt_ipv6_ssh: bool | None = None  # None: not probed
    default_community: bool | None = None  # None: not probed, or no answer either way
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class _Evaluation:
    """The evaluation phase: the device's status and what the rules found."""

    status: Status = "ok"
    reason: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    ipv6_ready: bool | None = None


@dataclass
class _Collected:
    """What a device's phases have brought so far (kept when a later phase goes wrong)."""

    collected: dict[str, str] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    attempts: int = 0

    def add(self, source: str, collected: Collected, evidence: Sequence[Evidence], attempts: int = 0) -> None:
        self.collected[source] = collected
        self.evidence += evidence
        self.attempts = attempts or self.attempts


@dataclass(frozen=True)
class _RunContext:
    """What every device of one ``_run_all`` shares."""

    run_id: str
    checks: list[str]
    snmp: SnmpCollector
    snmp_sem: AdaptiveLimit
    sessions: SessionWorkers | None
    threads: ThreadPoolExecutor  # SSH sessions without worker processes, TCP probes
    loop: asyncio.AbstractEventLoop
    results: list[DeviceResult]


@dataclass(frozen=True)
class AuditReport:
    """A finished run: every device's result, and its roll-up (the city's summary is the one
    stored with the run): computed once, rendered by ``net audit`` as table, CSV or JSON."""

    run: Run
    results: list[DeviceResult]
    rollup: Rollup
    skipped: int = 0  # devices already finished before a resume

    @property
    def summary(self) -> AuditSummary:
        return self.rollup.city

    def to_dict(self) -> dict[str, Any]:
        """The ``govops.net.audit/1`` document (``net audit -o json``)."""
        run = self.run
        return {
            "schema": OUTPUT_SCHEMA,
            "run": {
                "id": run.id,
                "status": run.status,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "params": run.params,
            },
            "summary": self.summary.to_dict(),
            "devices": [r.to_dict() for r in self.results],
        }

    @property
    def failed(self) -> list[DeviceResult]:
        return [r for r in self.results if not r.ok]

    @property
    def with_findings(self) -> list[DeviceResult]:
        return [r for r in self.results if r.failed_findings]


def _sha(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


class AuditEngine:
    def __init__(
        self,
        *,
        ssh: SshCollector,
        snmp_factory: Callable[[], SnmpCollector],
        analyzer: Analyzer,
        credentials: Credentials,
        store: AuditStore,
        settings: AuditSettings = AuditSettings(),
        observer: Observer | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.executor = executor
        self.ssh = ssh
        self.snmp_factory = snmp_factory
        self.analyzer = analyzer
        self.credentials = credentials
        self.store = store
        self.settings = settings
        self.observer = observer or NullObserver()

    # -- public -------------------------------------------------------------
    def run(
        self, devices: Sequence[Device], checks: Sequence[str], params: dict[str, Any], resume: str | None = None
    ) -> AuditReport:
        packs = self.analyzer.packs()
        unknown = [c for c in checks if c not in packs]
        if unknown:
            raise InputError(Msg("err.net.unknown_checks", checks=", ".join(unknown), packs=", ".join(packs)))
        if resume is not None:
            run = self.store.get_run(resume)
            if run.kind != RUN_KIND:
                raise InputError(Msg("net.err.not_audit", run=resume, kind=run.kind))
            done = self.store.done_targets(resume)
            run = self.store.reopen_run(resume)
        else:
            run = self.store.start_run(RUN_KIND, {**params, "checks": list(checks), "total": len(devices)})
            done = set()
        todo = [d for d in devices if d.hostname not in done]
        if self.executor is None:  # else each worker resolves them from its own sources
            self._check_credentials(todo)
        jobs = {d.hostname: (d, DeviceJob.from_device(d)) for d in todo}
        self.observer.started(len(todo), Msg("progress.audit", run=run.id))
        results: list[DeviceResult] = []
        followed: Sequence[DeviceResult] | None = None
        status = "interrupted"
        stopped = False
        try:
            if self.executor is not None:
                followed = self.executor.execute(run, [d for d, _job in jobs.values()], list(checks), self.observer)
            else:
                asyncio.run(self._run_all(list(jobs.values()), list(checks), run.id, results))
            status = "finished"
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (the CLI turns it into SIGINT)
            stopped = True
        finally:
            self.observer.finished()
            if followed is not None:
                all_results = list(followed)
            else:
                all_results = [DeviceResult.from_dict(r.data) for r in self.store.results(run.id) if r.data]
            rollup = Rollup.of(all_results)  # once: the store and the CLI show this one
            self.store.finish_run(run.id, status, rollup.city.to_dict())
        if stopped:
            raise Interrupted(
                run.id, f"govops net audit --resume {run.id}", done=len(all_results), total=len(done) + len(todo)
            )
        return AuditReport(self.store.get_run(run.id), all_results, rollup, skipped=len(done))

    def run_batch(
        self,
        run_id: str,
        devices: Sequence[Device],
        checks: Sequence[str],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> list[DeviceResult]:
        """A batch of a distributed run, on a worker: the devices not recorded yet, as ``run`` does them.

        The run itself (its start, summary and finish) belongs to the coordinator. ``loop``: the
        worker process's own, kept across batches with what lives on it (its SNMP engine).
        """
        done = self.store.done_targets(run_id)
        jobs = [(d, DeviceJob.from_device(d)) for d in devices if d.hostname not in done]
        results: list[DeviceResult] = []
        if jobs:
            work = self._run_all(jobs, list(checks), run_id, results)
            if loop is None:
                asyncio.run(work)
            else:
                loop.run_until_complete(work)
        return results

    async def run_batch_kept(
        self,
        run_id: str,
        devices: Sequence[Device],
        checks: Sequence[str],
        pools: KeptPools,
    ) -> list[DeviceResult]:
        """``run_batch`` on the running loop, with SSH and SNMP worker processes kept across batches.

        A long-lived worker (``govops worker --pool engine``) runs every batch on one loop through
        the same processes, as a local audit runs its devices: no process starts per batch.
        """
        done = self.store.done_targets(run_id)
        jobs = [(d, DeviceJob.from_device(d)) for d in devices if d.hostname not in done]
        results: list[DeviceResult] = []
        if jobs:
            await self._run_all(jobs, list(checks), run_id, results, pools)
        return results

    def _check_credentials(self, devices: Sequence[Device]) -> None:
        """Resolve every credential before connecting anywhere: a missing one stops the run at once."""
        # what each use needs, so the hint of a missing one names the right variables (an SNMPv3
        # credential has no password: its user needs an auth and a privacy key)
        needs: dict[str, list[str]] = {}
        for d in devices:
            if d.ssh is not None:
                needs.setdefault(d.ssh.credential, []).extend(("username", "password"))
            if d.snmp is not None:
                snmp = ("community",) if d.snmp.version == "v2c" else ("username", "auth_key", "priv_key")
                needs.setdefault(d.snmp.credential, []).extend(snmp)
        for name in sorted(needs):
            self.credentials.get(name, needs=list(dict.fromkeys(needs[name])))

    # -- engine -------------------------------------------------------------
    async def _run_all(
        self,
        jobs: list[tuple[Device, DeviceJob]],
        checks: list[str],
        run_id: str,
        results: list[DeviceResult],
        kept: KeptPools | None = None,
    ) -> None:
        if kept is not None:  # the caller's, kept open after this batch
            snmp, sessions = await kept.snmp(self), kept.sessions(self, [job for _d, job in jobs])
            sem = kept.snmp_sem
        else:
            snmp = await self._snmp_collector(jobs)
            sessions = self._session_workers([job for _d, job in jobs]) if self.settings.ssh_processes else None
            sem = AdaptiveLimit(self.settings.snmp_concurrency)
        # TCP probes of the IPv6 management address are cheap: threads of this process
        probes = ThreadPoolExecutor(max_workers=self.settings.ssh_workers, thread_name_prefix="probe")
        ctx = _RunContext(
            run_id,
            checks,
            snmp,
            sem,
            sessions,
            probes,
            asyncio.get_running_loop(),
            results,
        )
        clean = False
        try:
            await asyncio.gather(*(asyncio.create_task(self._device(d, job, ctx)) for d, job in jobs))
            clean = True
        finally:
            probes.shutdown(wait=True, cancel_futures=True)
            if kept is not None:
                kept.release(sessions)
            else:
                if sessions is not None:
                    sessions.close(wait=clean)
                snmp.close()

    async def _snmp_collector(self, jobs: Sequence[tuple[Device, DeviceJob]]) -> SnmpCollector:
        """The factory's collector on this loop, or worker processes each running one of them."""
        wanted = min(self.settings.snmp_processes, sum(1 for _d, job in jobs if job.snmp))
        if wanted < 1:
            return self.snmp_factory()
        workers = SnmpWorkers(self.snmp_factory, wanted, worker_context())
        try:
            await workers.start()
        except BaseException:
            workers.close()
            raise
        return workers

    def _session_workers(
        self,
        jobs: Sequence[DeviceJob],
        platforms: set[str] | None = None,
        resolved: dict[str, Credential] | None = None,
    ) -> SessionWorkers:
        """Worker processes for the SSH sessions, each given the collector and the credentials once.

        forkserver, not fork: this process may already run threads (progress view, SNMP), and
        forking those is unsafe. The credentials travel in the first frame over each worker's
        socket pair, never in argv or the environment (both visible in /proc).
        """
        names = {job.ssh["credential"] for job in jobs if job.ssh}
        creds: dict[str, Credential] = {} if resolved is None else resolved
        for name in sorted(names) if resolved is None else ():
            try:
                creds[name] = self.credentials.get(name)
            except CredentialError:
                continue  # each device using it reports the problem (as with threads)
        wanted = platforms if platforms is not None else _platforms(jobs)
        # kept pools (platforms given) serve later batches too: as many sessions as the settings allow
        sessions = sum(1 for j in jobs if j.ssh) if platforms is None else self.settings.ssh_workers
        return SessionWorkers(
            max(1, min(self.settings.ssh_workers, sessions)),
            self.settings.ssh_processes,
            worker_context(),
            _worker_init,
            (self.ssh, creds, self.settings, {p: self.analyzer.commands(p) for p in wanted}, self.analyzer),
            _worker_collect,
        )

    async def _device(self, device: Device, job: DeviceJob, ctx: _RunContext) -> None:
        """One device: its phases (SSH, SNMP, probes) overlap; then the evaluation; then the store.

        Every device ends with one result, whatever happened: a failure of one phase is its
        status and reason; anything unexpected is ``error`` with what was collected so far.
        """
        t0 = time.monotonic()
        # tasks now, not at the first await: sessions get workers in the devices' order, and the
        # SSH, SNMP and probe phases of a device run at the same time
        ssh_task = self._start_ssh(job, ctx)
        snmp_task = asyncio.create_task(self._snmp_phase(job, ctx.snmp, ctx.snmp_sem)) if job.snmp else None
        probe_task = (
            ctx.loop.run_in_executor(
                ctx.threads, self.ssh.probe, job.mgmt_ipv6, job.ssh["port"], self.settings.connect_timeout
            )
            if job.ssh and job.mgmt_ipv6 and job.mgmt_ipv4
            else None
        )
        so_far = _Collected()
        community_probe: asyncio.Task[bool | None] | None = None
        outcome = _Evaluation()
        try:
            ssh = await self._ssh_part(ssh_task)
            if ssh.parser_bug is not None:
                # the evidence is kept; no source is reported as collected (as before the split)
                so_far.evidence += ssh.evidence
                so_far.attempts = ssh.attempts
                raise ssh.parser_bug
            so_far.add("ssh", ssh.collected, ssh.evidence, ssh.attempts)
            # The probe needs only the session's facts. Started now, its wait for an agent that
            # does not know the community overlaps the walk instead of following it: at the end
            # of a city audit, probes after the last walks had left the cores idle for 3 s.
            if (
                self.settings.probe_default_communities
                and job.snmp is not None
                and ssh.facts is not None
                and ssh.facts.snmp_v2c_enabled
                and ssh.facts.snmp_default_community is None
            ):
                community_probe = asyncio.create_task(self._probe_communities(job, ctx.snmp))
            snmp = await self._snmp_part(job, snmp_task)
            if snmp.parser_bug is not None:
                so_far.evidence += snmp.evidence
                raise snmp.parser_bug
            so_far.add("snmp", snmp.collected, snmp.evidence)
            probes = await self._probe_part(job, ssh, probe_task, community_probe)
            so_far.evidence += probes.evidence
            outcome = self._evaluate(device, job, ctx.checks, ssh, snmp, probes, tuple(so_far.evidence))
        except Exception as exc:  # noqa: BLE001 - per-device isolation: one device never stops the run
            outcome = _Evaluation("error", f"{type(exc).__name__}: {exc}")
        finally:
            if community_probe is not None and not community_probe.done():
                community_probe.cancel()  # the device ended another way (error, cancelled run)
        result = DeviceResult(
            job.hostname,
            job.site,
            job.county,
            job.level,
            job.platform,
            outcome.status,
            outcome.reason,
            so_far.collected,
            outcome.facts,
            outcome.findings,
            tuple(so_far.evidence),
            outcome.ipv6_ready,
            round(time.monotonic() - t0, 3),
            so_far.attempts,
        )
        # sqlite writes are quick; doing them in the loop thread keeps one writer
        self.store.record_result(ctx.run_id, job.hostname, result.status, result.reason, result.to_dict())
        ctx.results.append(result)
        self.observer.advanced(job.hostname, result.status, result.reason)

    # -- a device's phases, each returning a typed part of its result ---------
    def _start_ssh(self, job: DeviceJob, ctx: _RunContext) -> asyncio.Future[SessionResult] | None:
        if not job.ssh:
            return None
        if ctx.sessions is not None:
            return asyncio.ensure_future(ctx.sessions.run(job))
        return ctx.loop.run_in_executor(ctx.threads, self._ssh_phase, job)

    async def _ssh_part(self, task: asyncio.Future[SessionResult] | None) -> SshPart:
        """The SSH phase's outcome: the outputs' hashes as evidence, the parsed facts or the failure."""
        if task is None:
            return SshPart("not_applicable")
        try:
            session = await task
        except CollectError as exc:  # a worker that died (OOM killer, crash) included
            return SshPart("failed", failure=exc)
        # "at": when the outputs were in (the session's end), for the report's evidence appendix
        at = store_now()
        evidence = tuple(Evidence.ssh(c, h, at) for c, h in session.hashes.items())
        failure = None
        if session.parse_error is not None:
            failure = CollectError(session.parse_error)
            failure.status = "parse_error"
        collected = "ok" if session.facts is not None else "failed"
        return SshPart(collected, session.facts, evidence, failure, session.attempts, session.parser_bug)

    async def _snmp_part(self, job: DeviceJob, task: asyncio.Task[dict[str, Any]] | None) -> SnmpPart:
        """The SNMP phase's outcome: the walk's hash as evidence, the facts or the failure."""
        if task is None:
            return SnmpPart("not_applicable")
        try:
            values = await task
        except CollectError as exc:
            return SnmpPart("failed", failure=exc)
        digest = _sha(json.dumps(sorted((k, repr(v)) for k, v in values.items())))
        over_ipv6 = ":" in _snmp_host(job)
        evidence = Evidence.snmp("udp6" if over_ipv6 else "udp", len(values), digest, store_now())
        try:
            facts = self.analyzer.facts_from_snmp(values)
        except Exception as exc:  # noqa: BLE001 - reported by _device as this device's error
            return SnmpPart("failed", evidence=(evidence,), parser_bug=exc)
        return SnmpPart("ok", facts, (evidence,), over_ipv6=bool(job.mgmt_ipv6) and over_ipv6)

    async def _probe_part(
        self,
        job: DeviceJob,
        ssh: SshPart,
        probe_task: asyncio.Future[bool] | None,
        community_probe: asyncio.Task[bool | None] | None,
    ) -> ProbePart:
        """The management-over-IPv6 probe and the default-community probe."""
        mgmt_ipv6_ssh: bool | None = None
        if probe_task is not None:
            mgmt_ipv6_ssh = await probe_task
        elif job.ssh and job.mgmt_ipv6 and ssh.collected == "ok":
            mgmt_ipv6_ssh = True  # SSH itself ran over IPv6
        default_community: bool | None = None
        evidence: tuple[Evidence, ...] = ()
        if community_probe is not None:
            default_community = await community_probe
            if default_community is not None:
                asked = "v2c GET sysObjectID as " + ", ".join(DEFAULT_COMMUNITIES)
                evidence = (Evidence.probe(asked, default_community),)
        return ProbePart(mgmt_ipv6_ssh, default_community, evidence)

    def _evaluate(
        self,
        device: Device,
        job: DeviceJob,
        checks: Sequence[str],
        ssh: SshPart,
        snmp: SnmpPart,
        probes: ProbePart,
        evidence: tuple[Evidence, ...],
    ) -> _Evaluation:
        """The rules on what the phases collected; the device's status from the phases' failures."""
        # the facts the phases add, in this order (the JSON's key order)
        extra: dict[str, Any] = {}
        if snmp.over_ipv6:
            extra["mgmt_ipv6_snmp"] = True
        if probes.mgmt_ipv6_ssh is not None:
            extra["mgmt_ipv6_ssh"] = probes.mgmt_ipv6_ssh
        extra["mgmt_ipv6_configured"] = job.mgmt_ipv6 is not None
        if probes.default_community is not None:
            extra["snmp_default_community"] = probes.default_community
        facts, found = self.analyzer.evaluate(device, ssh.facts, snmp.facts, extra, checks)
        findings = tuple(_with_outputs(found, evidence))
        failures = [(name, part.failure) for name, part in (("ssh", ssh), ("snmp", snmp)) if part.failure is not None]
        status: Status = "ok"
        reason = None
        if failures:
            first = failures[0][1]
            status = first.status
            others = "; ".join(f"{s}: {e.reason}" for s, e in failures[1:])
            reason = first.reason + (f" ({others})" if others else "")
        return _Evaluation(status, reason, facts, findings, ipv6_ready(status, findings))

    def _ssh_phase(self, job: DeviceJob) -> SessionResult:
        assert job.ssh is not None and job.platform is not None
        cred = self._credential(job.ssh["credential"])
        return parsed_session(self.ssh, cred, job, self.analyzer.commands(job.platform), self.settings, self.analyzer)

    async def _snmp_phase(self, job: DeviceJob, snmp: SnmpCollector, sem: AdaptiveLimit) -> dict[str, Any]:
        assert job.snmp is not None
        cred = self._credential(job.snmp["credential"])
        s = job.snmp
        target = SnmpTarget(
            job.hostname,
            _snmp_host(job),
            s["port"],
            s["version"],
            s["timeout"],
            s["retries"],
            s["auth_protocol"],
            s["priv_protocol"],
            s["context"],
        )
        gets, walks = self.analyzer.snmp_plan()
        deadline: float | None = None  # set when the first poll starts: queueing is not the device's fault
        attempt = 0
        while True:
            attempt += 1
            ticket = await sem.acquire()
            congested = False
            try:
                if deadline is None:
                    deadline = time.monotonic() + self.settings.device_timeout
                left = deadline - time.monotonic()
                out = await asyncio.wait_for(snmp.collect(target, cred, gets, walks), max(left, 0.1))
                return out.values
            except TimeoutError:
                raise TimedOut("snmp: device deadline reached") from None
            except TimedOut:
                congested = True
                # over UDP, "no response" is what a connect failure looks like: retried like SSH's,
                # after the slot is given back so the wait does not hold it
                delay = self.settings.backoff * 2 ** (attempt - 1) * (1 + random.random())
                if attempt > self.settings.retries or time.monotonic() + delay >= deadline:
                    raise
            finally:
                sem.release(ticket, congested)
            await asyncio.sleep(delay)

    async def _probe_communities(self, job: DeviceJob, snmp: SnmpCollector) -> bool | None:
        assert job.snmp is not None
        target = SnmpTarget(job.hostname, _snmp_host(job), job.snmp["port"], "v2c", self.settings.probe_timeout, 0)
        try:
            answers = await asyncio.gather(
                *(snmp.answers_community(target, c, self.settings.probe_timeout) for c in DEFAULT_COMMUNITIES)
            )
        except CollectError:
            return None
        return any(answers)

    def _credential(self, name: str) -> Credential:
        try:
            return self.credentials.get(name)
        except CredentialError as exc:
            raise CollectError(exc.message) from None


def ssh_session(
    ssh: SshCollector, cred: Credential, job: DeviceJob, commands: Sequence[str], settings: AuditSettings
) -> tuple[SshOutput, int]:
    """One device's SSH phase: connect, run the commands, retry connect failures with backoff."""
    assert job.ssh is not None and job.platform is not None
    host = job.mgmt_ipv4 or job.mgmt_ipv6
    assert host is not None
    target = SshTarget(
        job.hostname,
        host,
        job.ssh["port"],
        job.platform,
        job.ssh["device_type"],
        min(job.ssh["timeout"], settings.connect_timeout),
    )
    attempt = 0
    # time.monotonic() is CLOCK_MONOTONIC: the same clock in a worker process as in the parent
    deadline = time.monotonic() + settings.device_timeout
    while True:
        attempt += 1
        try:
            return ssh.collect(target, cred, commands, deadline), attempt
        except CollectError as exc:
            if not exc.retryable or attempt > settings.retries:
                raise
            delay = settings.backoff * 2 ** (attempt - 1) * (1 + random.random())  # jitter
            if time.monotonic() + delay >= deadline:
                raise
            time.sleep(delay)


def parsed_session(
    ssh: SshCollector,
    cred: Credential,
    job: DeviceJob,
    commands: Sequence[str],
    settings: AuditSettings,
    analyzer: Analyzer,
) -> SessionResult:
    """One device's SSH phase and the parsing of what it printed, wherever the session ran."""
    assert job.platform is not None
    out, attempts = ssh_session(ssh, cred, job, commands, settings)
    hashes = {c: _sha(t) for c, t in out.outputs.items()}
    facts = parse_error = bug = None
    try:
        facts = analyzer.facts_from_cli(job.platform, out.outputs)
    except GovopsError as exc:
        parse_error = exc.message
    except Exception as exc:  # noqa: BLE001 - reported by the audit as this device's error
        bug = exc
    return SessionResult(hashes, out.host_key, facts, parse_error, attempts, bug)


class KeptPools:
    """SSH and SNMP worker processes kept by a long-lived caller across ``run_batch_kept`` calls.

    One loop uses them (the caller's). The SNMP processes start at the first batch; the SSH pool is
    made for the credentials and platforms seen so far, and replaced (the old one closed once its
    batches end) when a batch brings a platform it does not know or a credential has changed.
    """

    def __init__(self, snmp_concurrency: int) -> None:
        self.snmp_sem = AdaptiveLimit(snmp_concurrency)
        self._snmp: SnmpCollector | None = None
        self._snmp_lock: asyncio.Lock | None = None
        self._pool: SessionWorkers | None = None
        self._key: tuple[bytes, frozenset[str]] | None = None
        self._platforms: set[str] = set()
        self._names: set[str] = set()
        self._users: dict[int, int] = {}  # id(pool) -> batches using it
        self._retired: dict[int, SessionWorkers] = {}

    async def snmp(self, engine: AuditEngine) -> SnmpCollector:
        if self._snmp_lock is None:
            self._snmp_lock = asyncio.Lock()
        async with self._snmp_lock:  # two batches at once start one set of processes
            if self._snmp is None:
                if engine.settings.snmp_processes < 1:
                    self._snmp = engine.snmp_factory()
                else:
                    workers = SnmpWorkers(engine.snmp_factory, engine.settings.snmp_processes, worker_context())
                    try:
                        await workers.start()
                    except BaseException:
                        workers.close()
                        raise
                    self._snmp = workers
            return self._snmp

    def sessions(self, engine: AuditEngine, jobs: Sequence[DeviceJob]) -> SessionWorkers | None:
        if not engine.settings.ssh_processes:
            return None
        self._platforms |= _platforms(jobs)
        self._names |= {job.ssh["credential"] for job in jobs if job.ssh}
        creds: list[tuple[str, Credential]] = []
        for name in sorted(self._names):
            try:
                creds.append((name, engine.credentials.get(name)))
            except CredentialError:
                continue  # each device using it reports the problem
        # a digest, not the secrets: what tells a rotated credential from the one the pool has
        key = (hashlib.sha256(pickle.dumps(creds)).digest(), frozenset(self._platforms))
        if self._pool is None or key != self._key:
            if self._pool is not None:
                self._retire(self._pool)
            self._pool = engine._session_workers(jobs, set(self._platforms), dict(creds))
            self._key = key
        self._users[id(self._pool)] = self._users.get(id(self._pool), 0) + 1
        return self._pool

    def _retire(self, pool: SessionWorkers) -> None:
        if self._users.get(id(pool), 0) > 0:
            self._retired[id(pool)] = pool
        else:
            pool.close(wait=True)

    def release(self, pool: SessionWorkers | None) -> None:
        if pool is None:
            return
        self._users[id(pool)] -= 1
        if self._users[id(pool)] == 0 and id(pool) in self._retired:
            del self._users[id(pool)]
            self._retired.pop(id(pool)).close(wait=True)

    def close(self) -> None:
        for pool in [self._pool, *self._retired.values()]:
            if pool is not None:
                pool.close(wait=False)
        if self._snmp is not None:
            self._snmp.close()


# -- SSH worker processes ---------------------------------------------------------
def worker_context() -> ForkServerContext:
    """forkserver, not fork: this process may already run threads (progress view, SNMP), and
    forking those is unsafe. The preloaded modules are imported once, in the fork server, and
    shared by every SSH and SNMP worker forked from it."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(
        ["govops.network.audit", "govops.network.analysis", "netmiko", "paramiko", "pysnmp.hlapi.v3arch.asyncio"]
    )
    return ctx


def start_worker_server() -> None:
    """Start the fork server now, without waiting for it.

    It imports netmiko, paramiko and pysnmp (half a second) before it can fork the first worker;
    started before the inventory is loaded, that happens on another core meanwhile.
    """
    from multiprocessing import forkserver

    worker_context()
    forkserver.ensure_running()


@dataclass
class _Worker:
    ssh: SshCollector
    credentials: dict[str, Credential]
    settings: AuditSettings
    commands: dict[str, list[str]]
    analyzer: Analyzer


_WORKER: dict[str, _Worker] = {}  # "state": set once per worker process by _worker_init


def _worker_init(
    ssh: SshCollector,
    credentials: dict[str, Credential],
    settings: AuditSettings,
    commands: dict[str, list[str]],
    analyzer: Analyzer,
) -> None:
    _WORKER["state"] = _Worker(ssh, credentials, settings, commands, analyzer)


def _worker_collect(job: DeviceJob) -> SessionResult:
    """Runs in a worker process: one device's session, parsed; errors come back pickled (CollectError)."""
    assert job.ssh is not None and job.platform is not None
    worker = _WORKER["state"]
    cred = worker.credentials.get(job.ssh["credential"])
    if cred is None:
        raise CollectError(f"credential '{job.ssh['credential']}' could not be resolved")
    return parsed_session(worker.ssh, cred, job, worker.commands[job.platform], worker.settings, worker.analyzer)


def _platforms(jobs: Sequence[DeviceJob]) -> set[str]:
    return {job.platform for job in jobs if job.ssh and job.platform}


class AdaptiveLimit:
    """A semaphore whose size backs off when polls go unanswered (AIMD, as TCP does).

    Agents answer SNMP on the CPU they route with; a village router (or an overloaded lab) that
    receives more requests than it can answer within the timeout drops them, and retries add
    load. So a timeout halves the number of concurrent polls (once per round of polls in flight),
    and every answer adds back 1/limit, up to the configured concurrency.
    """

    def __init__(self, maximum: int, minimum: int = 2) -> None:
        self.maximum = maximum
        self.minimum = min(minimum, maximum)
        self.limit = float(maximum)
        self.active = 0
        self.epoch = 0  # bumped at each decrease: only polls started after it can decrease again
        self._changed = asyncio.Condition()

    async def acquire(self) -> int:
        async with self._changed:
            await self._changed.wait_for(lambda: self.active < int(self.limit))
            self.active += 1
            return self.epoch

    def release(self, ticket: int, congested: bool) -> None:
        self.active -= 1
        if congested and ticket == self.epoch:
            self.limit = max(float(self.minimum), self.limit / 2)
            self.epoch += 1
        elif not congested:
            self.limit = min(float(self.maximum), self.limit + 1 / self.limit)
        asyncio.get_running_loop().create_task(self._wake())

    async def _wake(self) -> None:
        # Wake only as many waiters as there are free slots: every device of a run waits here, and
        # waking all of them for each answer (each to find the slots taken and sleep again) was a
        # sixth of the audit process's CPU on the full city. A waiter that loses its slot to a
        # newcomer is woken by that newcomer's release.
        async with self._changed:
            free = int(self.limit) - self.active
            if free > 0:
                self._changed.notify(free)


def _with_outputs(findings: Sequence[Finding], collected: Sequence[Evidence]) -> list[Finding]:
    """Each finding with the commands (and the SNMP walk) it read, and their output hashes."""
    by_command = {e.command: e.sha256 for e in collected if e.source == "ssh" and e.command and e.sha256}
    snmp = next((e for e in collected if e.source == "snmp"), None)
    out = []
    for f in findings:
        ev = f.evidence
        outputs = [Output(c, by_command[c]) for c in ev.commands if c in by_command]
        if ev.snmp_objects and snmp is not None:
            outputs.append(Output(f"snmp {snmp.transport} walk", snmp.sha256 or ""))
        out.append(dataclasses.replace(f, evidence=dataclasses.replace(ev, outputs=tuple(outputs))) if outputs else f)
    return out


def _snmp_host(job: DeviceJob) -> str:
    """SNMP over IPv6 when the device has an IPv6 management address: that is what we audit."""
    host = job.mgmt_ipv6 or job.mgmt_ipv4
    assert host is not None
    return host


# -- diffs ------------------------------------------------------------------------
def summarize(results: Sequence[DeviceResult]) -> AuditSummary:
    """The summary of these results (``AuditSummary.of``)."""
    return AuditSummary.of(results)


@dataclass(frozen=True)
class Change:
    hostname: str
    rule: str
    before: str
    after: str
    kind: str  # regression | fix | new | gone


def diff(before: Sequence[DeviceResult], after: Sequence[DeviceResult]) -> list[Change]:
    """Per device and rule: what got worse (regression) and what got better (fix) between two runs."""
    changes: list[Change] = []
    old = {r.hostname: r for r in before}
    new = {r.hostname: r for r in after}
    for host in sorted(set(old) | set(new)):
        a, b = old.get(host), new.get(host)
        if a is None or b is None:
            changes.append(
                Change(
                    host, "*", a.status if a else "absent", b.status if b else "absent", "new" if a is None else "gone"
                )
            )
            continue
        if a.status != b.status:
            kind = "regression" if a.status == "ok" else "fix" if b.status == "ok" else "regression"
            changes.append(Change(host, "status", a.status, b.status, kind))
        fa: dict[str, str] = {f.rule: f.status for f in a.findings}
        fb: dict[str, str] = {f.rule: f.status for f in b.findings}
        for rule in sorted(set(fa) | set(fb)):
            x, y = fa.get(rule, "absent"), fb.get(rule, "absent")
            if x == y:
                continue
            if y == "fail" and x != "fail":
                changes.append(Change(host, rule, x, y, "regression"))
            elif x == "fail" and y == "pass":
                changes.append(Change(host, rule, x, y, "fix"))
    return changes
