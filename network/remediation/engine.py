"""Applying remediation plans: snapshot, push, check, save, re-audit, and roll back what did not hold.

Per device (one worker thread each, ``workers`` at a time):

1. open a configuration session (the audit collector's connection and host-key policy: a device
   whose key changed is refused before the password is sent, ``failed``, nothing changed);
2. take the running configuration as the snapshot (kept in memory only: configurations hold
   secrets; the store keeps its SHA-256), and journal ``push`` in the store before the first line;
3. enter configuration mode, send each line and read the device's own error text (``Error:`` on
   VRP, ``%`` on Comware and IOS), leave, save;
4. re-collect the device over SSH, re-evaluate the targeted rules;
5. when a line was rejected, the session dropped mid-push or the re-audit still fails a rule: a
   new session sends the inverse lines of what was sent (latest fix first), saves, and compares the
   running configuration with the snapshot: equal is ``rolled_back``, anything else ``failed``.

Every device ends with one status (``verified``, ``applied``, ``rolled_back``, ``skipped``,
``failed``) and a reason, recorded as it finishes. ``max_failures`` stops starting devices once
that many failed or rolled back (the rest end ``skipped``, untouched, and a resume picks them up).
A device whose push was journalled but never finished (the process was killed) is never touched
again by a local ``resume``: it ends ``failed`` with the reason, for a human to check.

Over Celery (``executor``: ``govops.network.distributed``), each worker runs ``run_batch``: every
device of its batch once, with the same steps. Delivery is at least once (a lost worker's batch is
handed to another), effects exactly once: a device whose outcome is recorded is skipped, and a
device whose push was journalled without an outcome is checked before anything is sent. If its
running configuration is still the journalled snapshot, nothing reached it and it is pushed; if it
differs and the re-audit passes, the earlier push took effect (``verified``, nothing sent again);
otherwise it ends ``failed`` as unknown-state, for a human to check. Never pushed twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from govops.credentials import Credential, Credentials
from govops.errors import CredentialError, InputError, Interrupted
from govops.i18n import Msg
from govops.network.audit import Analyzer, AuditSettings, AuditStore, DeviceJob, parsed_session
from govops.network.collectors.base import CollectError, SshCollector, SshTarget
from govops.network.collectors.sshconfig import normalise_config
from govops.network.inventory import Device
from govops.network.remediation.plan import SYNTAX, DevicePlan, PlanItem
from govops.network.results import DeviceResult, FindingStatus
from govops.observer import NullObserver, Observer
from govops.store import Run, Store

RUN_KIND = "net.remediate"
STATUSES = ("verified", "applied", "rolled_back", "skipped", "failed")
FAILED = ("rolled_back", "failed")


class Session(Protocol):
    def __enter__(self) -> Session: ...
    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None: ...
    def running_config(self) -> str: ...
    def send(self, line: str) -> str | None: ...
    def save(self) -> str | None: ...


# (target, credential, deadline) -> an unopened session; the wiring binds the host-key policy
SessionFactory = Callable[[SshTarget, Credential, float], Session]


@runtime_checkable
class RemediationExecutor(Protocol):
    """Runs a remediation run's devices elsewhere (``govops.network.distributed``: Celery workers).

    ``remediate`` returns once every device has an outcome in the engine's store, reporting each to
    ``observer`` as it lands; it raises to stop the run (which is then left resumable).
    """

    def remediate(
        self,
        run: Run,
        plans: Sequence[DevicePlan],
        devices: Mapping[str, Device],
        settings: RemediationSettings,
        observer: Observer,
    ) -> None: ...


@dataclass(frozen=True)
class RemediationSettings:
    workers: int = 10
    device_timeout: float = 120.0
    connect_timeout: float = 10.0
    max_failures: int | None = None
    verify: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Outcome:
    hostname: str
    platform: str
    status: str
    reason: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    before: dict[str, str] = field(default_factory=dict)  # rule -> the audit's status
    after: dict[str, str] = field(default_factory=dict)  # rule -> the re-audit's status
    lines_sent: int = 0
    snapshot_sha256: str | None = None
    config_sha256: str | None = None  # running configuration at the end
    duration_s: float = 0.0
    not_started: bool = False  # max failures reached first: a resume starts it

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _left_unstarted(plan: DevicePlan, limit: int) -> Outcome:
    """A device left alone because ``--max-failures`` was reached first (a resume starts it)."""
    return Outcome(
        plan.hostname,
        plan.platform,
        "skipped",
        f"not started: --max-failures {limit} reached",
        items=[i.to_dict() for i in plan.items],
        not_started=True,
    )


@dataclass
class RemediationReport:
    run: Run
    outcomes: list[Outcome]
    skipped_before_resume: int = 0

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in FAILED]


class Rejected(Exception):
    def __init__(self, line: str, error: str) -> None:
        super().__init__(f"'{line}' rejected: {error}")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _not_started(data: dict[str, Any] | None) -> bool:
    return bool((data or {}).get("not_started"))


def summarize(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    return {
        "devices": len(outcomes),
        "status": dict(Counter(o.status for o in outcomes)),
        "lines_sent": sum(o.lines_sent for o in outcomes),
    }


class RemediationEngine:
    def __init__(
        self,
        *,
        analyzer: Analyzer,
        credentials: Credentials,
        store: AuditStore,
        collector: SshCollector,
        settings: RemediationSettings = RemediationSettings(),
        observer: Observer | None = None,
        session_factory: SessionFactory,
        executor: RemediationExecutor | None = None,
    ) -> None:
        self.executor = executor
        self.analyzer = analyzer
        self.credentials = credentials
        self.store = store
        self.collector = collector
        self.settings = settings
        self.observer = observer or NullObserver()
        self.session_factory = session_factory

    def apply(
        self,
        plans: Sequence[DevicePlan],
        devices: Mapping[str, Device],
        params: dict[str, Any],
        resume: str | None = None,
    ) -> RemediationReport:
        if resume is not None:
            run = self.store.get_run(resume)
            if run.kind != RUN_KIND:
                raise InputError(Msg("remediate.err.not_remediation", run=resume, kind=run.kind))
            done = {r.target for r in self.store.results(resume) if not (r.data or {}).get("not_started")}
            pushed = {e.resource_id for e in self.store.journal(resume) if e.action == "push"}
            run = self.store.reopen_run(resume)
        else:
            run = self.store.start_run(RUN_KIND, {**params, "total": len(plans)})
            done, pushed = set(), set()
        todo = [p for p in plans if p.hostname not in done]
        self.observer.started(len(todo), Msg("progress.remediate", run=run.id))
        status = "interrupted"
        stopped = False
        try:
            if self.executor is not None:
                # a device pushed without an outcome goes too: its worker checks it before sending
                self.executor.remediate(run, todo, devices, self.settings, self.observer)
            else:
                for p in [p for p in todo if p.hostname in pushed]:
                    # killed between the first line and the result: never pushed twice
                    self._record(
                        run.id,
                        Outcome(
                            p.hostname,
                            p.platform,
                            "failed",
                            "interrupted during the push in an earlier attempt: not touched again, check it by hand",
                            items=[i.to_dict() for i in p.items],
                        ),
                    )
                self._run_all([p for p in todo if p.hostname not in pushed], devices, run.id)
            status = "finished"
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (the CLI turns it into SIGINT)
            stopped = True
        finally:
            self.observer.finished()
            outcomes = [Outcome(**r.data) for r in self.store.results(run.id) if r.data]
            self.store.finish_run(run.id, status, summarize(outcomes))
        if stopped:
            # as the audit: exit 130 with the run ID and the command that finishes it
            total = len(done) + len(todo)
            again = f"govops net remediate --resume {run.id}" + (" --executor celery" if self.executor else "")
            raise Interrupted(run.id, again, done=len(outcomes), total=total)
        return RemediationReport(self.store.get_run(run.id), outcomes, len(done))

    def _run_all(self, plans: Sequence[DevicePlan], devices: Mapping[str, Device], run_id: str) -> None:
        queue = list(plans)
        failures = 0
        limit = self.settings.max_failures
        with ThreadPoolExecutor(max_workers=max(1, self.settings.workers), thread_name_prefix="remediate") as pool:
            running: set[Future[Outcome]] = set()
            try:
                while queue or running:
                    while queue and len(running) < self.settings.workers and (limit is None or failures < limit):
                        plan = queue.pop(0)
                        running.add(pool.submit(self._device, plan, devices[plan.hostname], run_id))
                    if not running:
                        break
                    finished, running = wait(running, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        outcome = fut.result()
                        failures += outcome.status in FAILED
                        self._record(run_id, outcome)
                    if limit is not None and failures >= limit and queue:
                        for plan in queue:
                            self._record(run_id, _left_unstarted(plan, limit))
                        queue = []
            except BaseException:
                # Ctrl-C (or any error here): no new device starts, but a device being configured
                # finishes its push, save, verification or rollback, and its outcome is kept; a
                # device cut off mid-push would be left half-configured with no status
                for fut in running:
                    fut.cancel()
                for fut in running:
                    with contextlib.suppress(BaseException):
                        self._record(run_id, fut.result())
                raise

    # -- a batch of a distributed run, on a worker ---------------------------------------
    def run_batch(self, run_id: str, plans: Sequence[DevicePlan], devices: Mapping[str, Device]) -> list[Outcome]:
        """Each device of the batch once, ``workers`` at a time; the run belongs to the coordinator.

        A device with an outcome is skipped (a redelivered batch), and a device whose push was
        journalled without an outcome is checked first (``_redelivered``); both are read once per
        batch, so each batch costs the store a few queries, not a few per device. Before each
        device, a run that is no longer running starts nothing more (its resume does the rest).
        """
        done = self.store.done_targets(run_id)
        finished = {p.hostname for p in plans if p.hostname in done}
        if finished:  # but not the ones --max-failures kept from starting: the resume starts them
            finished = {
                r.target for r in self.store.results(run_id) if r.target in finished and not _not_started(r.data)
            }
        pushed: dict[str, str] = {}
        for e in self.store.journal(run_id):
            if e.action == "push" and e.resource_id is not None:
                pushed[e.resource_id] = str(e.data.get("snapshot_sha256"))
        todo = [p for p in plans if p.hostname not in finished]
        outcomes: list[Outcome] = []
        with ThreadPoolExecutor(max_workers=max(1, self.settings.workers), thread_name_prefix="remediate") as pool:
            work = pool.map(lambda p: self._batch_device(run_id, p, devices[p.hostname], pushed.get(p.hostname)), todo)
            outcomes = [o for o in work if o is not None]
        return outcomes

    def _batch_device(self, run_id: str, plan: DevicePlan, device: Device, pushed: str | None) -> Outcome | None:
        if self.store.get_run(run_id).status != "running":
            return None  # interrupted on the coordinator: left for --resume
        limit = self.settings.max_failures
        # the statuses only, not every result's data (read and parsed again for each device)
        statuses = self.store.result_statuses(run_id).values() if limit is not None else ()
        if limit is not None and sum(status in FAILED for status, _why in statuses) >= limit:
            outcome = _left_unstarted(plan, limit)
        elif pushed is not None:
            outcome = self._redelivered(plan, device, run_id, pushed)
        else:
            outcome = self._device(plan, device, run_id)
        self._record(run_id, outcome)
        return outcome

    def _redelivered(self, plan: DevicePlan, device: Device, run_id: str, snapshot_sha: str) -> Outcome:
        """A device an earlier attempt began to push (its worker was lost): check it, push only if untouched."""
        t0 = time.monotonic()
        out = Outcome(plan.hostname, plan.platform, "failed", items=[i.to_dict() for i in plan.items])
        out.before = {i.rule: "fail" for i in plan.items}
        cut = "an earlier attempt was cut off during the push (its worker was lost)"
        try:
            access = self._access(plan, device, out)
            if access is None:
                return out
            job, cred, target = access
            with self.session_factory(target, cred, time.monotonic() + self.settings.device_timeout) as s:
                now = _sha(normalise_config(s.running_config()))
            if now == snapshot_sha:
                # nothing of the earlier push is on the device (or it was undone): push it now
                return self._device(plan, device, run_id)
            out.config_sha256 = now
            planned = [i.rule for i in plan.planned]
            after = self._reaudit(device, job, cred, planned)
            out.after = after
            still = [rule for rule, status in after.items() if status != "pass"]
            if still:
                out.reason = (
                    f"unknown state: {cut}, the configuration differs from its snapshot and the re-audit shows "
                    + ", ".join(f"{r} {after[r]}" for r in still)
                    + ": not pushed again, check it by hand"
                )
            else:
                out.status = "verified"
                out.reason = f"{cut}; its change is on the device and the re-audit passes: not pushed again"
        except CollectError as exc:
            out.status = "failed"
            out.reason = (
                f"unknown state: {cut} and the device cannot be checked ({exc.reason}): "
                "not pushed again, check it by hand"
            )
        except Exception as exc:  # noqa: BLE001 - one device never stops the run
            out.status, out.reason = "failed", f"unknown state: {cut}; {type(exc).__name__}: {exc}"
        out.duration_s = round(time.monotonic() - t0, 3)
        return out

    def _record(self, run_id: str, outcome: Outcome) -> None:
        self.store.record_result(run_id, outcome.hostname, outcome.status, outcome.reason, outcome.to_dict())
        self.observer.advanced(outcome.hostname, outcome.status, outcome.reason)

    # -- one device -------------------------------------------------------------------------
    def _device(self, plan: DevicePlan, device: Device, run_id: str) -> Outcome:
        t0 = time.monotonic()
        out = Outcome(plan.hostname, plan.platform, "failed", items=[i.to_dict() for i in plan.items])
        out.before = {i.rule: "fail" for i in plan.items}
        try:
            self._work(plan, device, run_id, out)
        except Exception as exc:  # noqa: BLE001 - one device never stops the run
            out.status, out.reason = "failed", f"{type(exc).__name__}: {exc}"
        out.duration_s = round(time.monotonic() - t0, 3)
        return out

    def _work(self, plan: DevicePlan, device: Device, run_id: str, out: Outcome) -> None:
        planned = plan.planned
        access = self._access(plan, device, out)
        if access is None:
            return
        job, cred, target = access
        deadline = time.monotonic() + self.settings.device_timeout
        syntax = SYNTAX[plan.platform]
        sent: list[PlanItem] = []
        snapshot: str | None = None
        try:
            with self.session_factory(target, cred, deadline) as s:
                snapshot = s.running_config()
                out.snapshot_sha256 = _sha(normalise_config(snapshot))
                self.store.journal_add(
                    run_id, "push", "device", plan.hostname, {"snapshot_sha256": out.snapshot_sha256}
                )
                self._expect(s, syntax.enter)
                for item in planned:
                    sent.append(item)
                    for line in item.lines:
                        out.lines_sent += 1
                        self._expect(s, line)
                self._expect(s, syntax.leave)
                error = s.save()
                if error is not None:
                    raise Rejected(syntax.save, error)
                out.config_sha256 = _sha(normalise_config(s.running_config()))
        except Rejected as exc:
            self._rollback(plan, sent, snapshot, str(exc), target, cred, out)
            return
        except CollectError as exc:
            if snapshot is None or not sent:
                out.status, out.reason = "failed", f"{exc.reason} (nothing changed)"
                return
            self._rollback(plan, sent, snapshot, f"session lost during the push ({exc.reason})", target, cred, out)
            return
        out.status = "applied"
        if not self.settings.verify:
            return
        try:
            after = self._reaudit(device, job, cred, [i.rule for i in planned])
        except CollectError as exc:
            out.reason = f"applied and saved; the re-audit failed ({exc.reason})"
            return
        out.after = after
        still = [rule for rule, status in after.items() if status != "pass"]
        if still:
            reason = "re-audit: " + ", ".join(f"{r} {after[r]}" for r in still)
            self._rollback(plan, sent, snapshot, reason, target, cred, out)
            return
        out.status = "verified"

    def _access(self, plan: DevicePlan, device: Device, out: Outcome) -> tuple[DeviceJob, Credential, SshTarget] | None:
        """How to reach the device to configure it, or None with ``out`` saying why not."""
        if not plan.planned:
            reasons = "; ".join(f"{i.rule}: {i.reason}" for i in plan.items)
            out.status, out.reason = "skipped", f"nothing to send ({reasons})"
            return None
        job = DeviceJob.from_device(device)
        if job.ssh is None or plan.platform not in SYNTAX:
            out.status, out.reason = "skipped", "no SSH access to configure this device"
            return None
        try:
            cred = self.credentials.get(job.ssh["credential"])
        except CredentialError as exc:
            out.status, out.reason = "failed", f"{exc.message} (nothing changed)"
            return None
        return job, cred, self._target(job)

    def _target(self, job: DeviceJob) -> SshTarget:
        assert job.ssh is not None and job.platform is not None
        host = job.mgmt_ipv4 or job.mgmt_ipv6
        assert host is not None
        return SshTarget(
            job.hostname,
            host,
            job.ssh["port"],
            job.platform,
            job.ssh["device_type"],
            min(job.ssh["timeout"], max(self.settings.connect_timeout, 1.0)),
        )

    @staticmethod
    def _expect(s: Session, line: str) -> None:
        error = s.send(line)
        if error is not None:
            raise Rejected(line, error)

    def _reaudit(self, device: Device, job: DeviceJob, cred: Credential, rules: Sequence[str]) -> dict[str, str]:
        assert job.platform is not None
        settings = AuditSettings(
            device_timeout=self.settings.device_timeout, connect_timeout=self.settings.connect_timeout
        )
        session = parsed_session(
            self.collector, cred, job, self.analyzer.commands(job.platform), settings, self.analyzer
        )
        if session.facts is None:
            raise CollectError(session.parse_error or "no facts")
        _facts, findings = self.analyzer.evaluate(device, session.facts, None, {}, self.analyzer.packs())
        by_rule: dict[str, str] = {f.rule: f.status for f in findings}
        return {rule: by_rule.get(rule, "absent") for rule in rules}

    def _rollback(
        self,
        plan: DevicePlan,
        sent: Sequence[PlanItem],
        snapshot: str | None,
        reason: str,
        target: SshTarget,
        cred: Credential,
        out: Outcome,
    ) -> None:
        """Undo what was sent in a new session (the old one may be dead or in a sub-view)."""
        if snapshot is None or not sent:
            out.status, out.reason = "failed", f"{reason} (nothing changed)"
            return
        deadline = time.monotonic() + self.settings.device_timeout  # a rollback gets its own time
        refused: list[str] = []
        try:
            with self.session_factory(target, cred, deadline) as s:
                for line in plan.rollback_lines(sent)[:-1]:
                    error = s.send(line)
                    if error is not None:
                        refused.append(f"'{line}': {error}")
                error = s.save()
                if error is not None:
                    refused.append(f"save: {error}")
                now = s.running_config()
        except CollectError as exc:
            out.status, out.reason = "failed", f"{reason}; rollback failed ({exc.reason}): check the device by hand"
            return
        out.config_sha256 = _sha(normalise_config(now))
        if normalise_config(now) == normalise_config(snapshot):
            out.status, out.reason = "rolled_back", reason
            return
        extra = f" (refused: {'; '.join(refused)})" if refused else ""
        out.status = "failed"
        out.reason = f"{reason}; rollback left the configuration different from the snapshot{extra}"


def audit_view(store: Store, run: Run) -> list[DeviceResult]:
    """A remediation run as audit results: its audit run's, with each re-audited rule's new status.

    So ``govops net diff AUDIT_RUN REMEDIATION_RUN`` lists what the remediation fixed (and what it
    rolled back stays as it was), by the audit's own counting.
    """
    audit_run = run.params.get("audit_run")
    if not audit_run:
        return []
    after = {r.target: (r.data or {}).get("after") or {} for r in store.results(run.id)}
    out = []
    for r in store.results(str(audit_run)):
        if not r.data:
            continue
        result = DeviceResult.from_dict(r.data)
        changed: Mapping[str, FindingStatus] = after.get(r.target, {})
        if changed:
            findings = tuple(replace(f, status=changed.get(f.rule, f.status)) for f in result.findings)
            result = replace(result, findings=findings)
        out.append(result)
    return out
