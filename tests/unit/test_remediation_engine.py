"""The remediation engine on a fake device session: statuses, rollback order, max failures, resume."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from govops.credentials import Credential, Credentials, EnvSource
from govops.errors import Interrupted
from govops.network.collectors.base import CollectError, SshTarget
from govops.network.generate import generate_inventory
from govops.network.inventory import Device, load_inventory
from govops.network.remediation.engine import Outcome, RemediationEngine, RemediationSettings
from govops.network.remediation.plan import DevicePlan, PlanItem
from govops.observer import NullObserver
from govops.store import SqlStore

from tests.fakes import FakeAnalyzer, FakeSsh

pytestmark = pytest.mark.unit
ENV = {f"GOVOPS_CRED_EXTRANET_SSH_{f}": "x-value-1234" for f in ("USERNAME", "PASSWORD")}


class FakeDevice:
    """A device's configuration as a set of lines; undo lines remove what their line added."""

    def __init__(self, reject: str | None = None, drop: str | None = None) -> None:
        self.config = {"hostname x"}
        self.reject, self.drop = reject, drop
        self.sent: list[str] = []
        self.sessions = 0
        self.delay = 0.0


class FakeSession:
    devices: dict[str, FakeDevice]
    lock = threading.Lock()

    def __init__(self, target: SshTarget, cred: Credential, deadline: float) -> None:
        self.dev = self.devices[target.hostname]

    def __enter__(self) -> FakeSession:
        self.dev.sessions += 1
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        pass

    def running_config(self) -> str:
        return "\n".join(sorted(self.dev.config))

    def send(self, line: str) -> str | None:
        time.sleep(self.dev.delay)
        self.dev.sent.append(line)
        if line == self.dev.drop:
            self.dev.drop = None
            raise CollectError(f"ssh: session dropped during '{line}'")
        if line == self.dev.reject:
            self.dev.reject = None
            return "Error: Unrecognized command found at '^' position."
        if line.startswith("undo "):
            self.dev.config.discard(line[5:])
        elif line not in ("system-view", "return"):
            self.dev.config.add(line)
        return None

    def save(self) -> str | None:
        return None


@pytest.fixture
def setup(tmp_path: Path) -> tuple[list[Device], SqlStore]:
    generate_inventory(sites=30, seed=3).write(tmp_path / "inv")
    inv = load_inventory(tmp_path / "inv")
    devices = [d for d in inv if d.ssh is not None and d.platform == "huawei_vrp"][:6]
    return devices, SqlStore(f"sqlite:///{tmp_path / 'store.db'}")


def plan(d: Device) -> DevicePlan:
    items = [
        PlanItem("baseline.http_off", "planned", None, ["a1", "a2"], ["undo a1", "undo a2"]),
        PlanItem("baseline.telnet_off", "planned", None, ["b1"], ["undo b1"]),
        PlanItem("baseline.aaa_login", "manual", "by hand"),
    ]
    return DevicePlan(d.hostname, "huawei_vrp", d.site.code, d.county, d.level, items)


def engine(store: SqlStore, devices: dict[str, FakeDevice], **settings: Any) -> RemediationEngine:
    session = type("S", (FakeSession,), {"devices": devices})
    return RemediationEngine(
        analyzer=FakeAnalyzer(),
        credentials=Credentials([EnvSource(environ=ENV)]),
        store=store,
        collector=FakeSsh(),
        settings=RemediationSettings(workers=2, verify=False, **settings),
        session_factory=session,
    )


def test_statuses_and_rollback_in_reverse(setup: tuple[list[Device], SqlStore]) -> None:
    devs, store = setup
    fake = {d.hostname: FakeDevice() for d in devs}
    fake[devs[0].hostname] = FakeDevice(reject="b1")
    fake[devs[1].hostname] = FakeDevice(drop="a2")
    report = engine(store, fake).apply([plan(d) for d in devs], {d.hostname: d for d in devs}, {})
    by = {o.hostname: o for o in report.outcomes}
    assert by[devs[0].hostname].status == "rolled_back" and "'b1' rejected" in (by[devs[0].hostname].reason or "")
    # the rollback session: the latest fix's undo first, then the earlier one's
    assert fake[devs[0].hostname].sent[-5:] == ["system-view", "undo b1", "undo a1", "undo a2", "return"]
    assert fake[devs[0].hostname].config == {"hostname x"}
    assert by[devs[1].hostname].status == "rolled_back" and "session lost" in (by[devs[1].hostname].reason or "")
    assert fake[devs[1].hostname].config == {"hostname x"}
    for d in devs[2:]:
        assert by[d.hostname].status == "applied" and fake[d.hostname].config == {"hostname x", "a1", "a2", "b1"}
        assert by[d.hostname].lines_sent == 3
    assert {r.target for r in store.results(report.run.id)} == {d.hostname for d in devs}


def test_max_failures_leaves_the_rest_untouched(setup: tuple[list[Device], SqlStore]) -> None:
    devs, store = setup
    fake = {d.hostname: FakeDevice(reject="a1") for d in devs}
    eng = engine(store, fake, max_failures=1)
    eng.settings = RemediationSettings(workers=1, verify=False, max_failures=1)
    report = eng.apply([plan(d) for d in devs], {d.hostname: d for d in devs}, {})
    statuses = [o.status for o in sorted(report.outcomes, key=lambda o: [d.hostname for d in devs].index(o.hostname))]
    assert statuses[0] == "rolled_back" and set(statuses[1:]) == {"skipped"}
    assert all(fake[d.hostname].sessions == 0 for d in devs[1:])
    # a resume starts the devices that were never started, and only those
    for d in devs[1:]:
        fake[d.hostname].reject = None
    again = engine(store, fake).apply([plan(d) for d in devs], {d.hostname: d for d in devs}, {}, resume=report.run.id)
    by = {o.hostname: o.status for o in again.outcomes}
    assert by[devs[0].hostname] == "rolled_back" and all(by[d.hostname] == "applied" for d in devs[1:])
    assert fake[devs[0].hostname].sessions == 2  # its push and its rollback, nothing more


def test_a_device_interrupted_mid_push_is_never_pushed_again(setup: tuple[list[Device], SqlStore]) -> None:
    devs, store = setup
    run = store.start_run("net.remediate", {})
    store.journal_add(run.id, "push", "device", devs[0].hostname, {})  # killed after this
    fake = {d.hostname: FakeDevice() for d in devs}
    report = engine(store, fake).apply([plan(d) for d in devs], {d.hostname: d for d in devs}, {}, resume=run.id)
    by = {o.hostname: o for o in report.outcomes}
    assert by[devs[0].hostname].status == "failed" and "not touched again" in (by[devs[0].hostname].reason or "")
    assert fake[devs[0].hostname].sessions == 0
    assert all(by[d.hostname].status == "applied" for d in devs[1:])


def test_only_manual_items_are_skipped(setup: tuple[list[Device], SqlStore]) -> None:
    devs, store = setup
    p = DevicePlan(
        devs[0].hostname, "huawei_vrp", "s", None, "village", [PlanItem("baseline.aaa_login", "manual", "x")]
    )
    report = engine(store, {devs[0].hostname: FakeDevice()}).apply([p], {devs[0].hostname: devs[0]}, {})
    assert report.outcomes[0].status == "skipped" and "aaa_login" in (report.outcomes[0].reason or "")


class CtrlC(NullObserver):
    """Ctrl-C as the first device's outcome comes in (SIGINT lands in the main thread, here)."""

    def __init__(self) -> None:
        self.fired = False

    def advanced(self, target: str, status: str, detail: str | None = None) -> None:
        if not self.fired:
            self.fired = True
            raise KeyboardInterrupt


def test_ctrl_c_keeps_finished_and_in_flight_outcomes(setup: tuple[list[Device], SqlStore]) -> None:
    devs, store = setup
    fake = {d.hostname: FakeDevice() for d in devs}
    fake[devs[0].hostname].delay = 0.0
    for d in devs[1:]:
        fake[d.hostname].delay = 0.05  # the second device is mid-push when Ctrl-C comes
    eng = engine(store, fake)
    eng.observer = CtrlC()
    with pytest.raises(Interrupted) as stopped:
        eng.apply([plan(d) for d in devs], {d.hostname: d for d in devs}, {})
    run = store.runs("net.remediate", limit=1)[0]
    assert stopped.value.exit_code == 130 and stopped.value.resume == f"govops net remediate --resume {run.id}"
    assert (stopped.value.done, stopped.value.total) == (2, len(devs))
    assert run.status == "interrupted"
    kept = {r.target: r.status for r in store.results(run.id)}
    # the finished device and the one being configured both end with their real outcome
    assert kept == {devs[0].hostname: "applied", devs[1].hostname: "applied"}
    assert fake[devs[1].hostname].config == {"hostname x", "a1", "a2", "b1"}
    assert all(fake[d.hostname].sessions == 0 for d in devs[2:])  # no new device started
    # --resume does the rest, and pushes no device twice
    again = engine(store, fake).apply([plan(d) for d in devs], {d.hostname: d for d in devs}, {}, resume=run.id)
    assert {o.hostname: o.status for o in again.outcomes} == {d.hostname: "applied" for d in devs}
    assert all(fake[d.hostname].sessions == 1 for d in devs)


# -- a batch of a distributed run (the Celery worker's unit of work) ---------------------------
def _sha_of(config: set[str]) -> str:
    from govops.network.collectors.sshconfig import normalise_config
    from govops.network.remediation.engine import _sha

    return _sha(normalise_config("\n".join(sorted(config))))


def forwarding_plan(d: Device) -> DevicePlan:
    items = [PlanItem("ipv6.forwarding", "planned", None, ["ipv6"], ["undo ipv6"])]
    return DevicePlan(d.hostname, "huawei_vrp", d.site.code, d.county, d.level, items)


def test_a_redelivered_batch_changes_nothing_already_recorded(setup: tuple[list[Device], SqlStore]) -> None:
    devs, store = setup
    fake = {d.hostname: FakeDevice() for d in devs}
    run = store.start_run("net.remediate", {})
    worker = engine(store, fake)
    plans, by_host = [plan(d) for d in devs], {d.hostname: d for d in devs}
    first = worker.run_batch(run.id, plans, by_host)
    assert {o.hostname: o.status for o in first} == {d.hostname: "applied" for d in devs}
    again = engine(store, fake).run_batch(run.id, plans, by_host)  # the same message, delivered again
    assert again == []
    assert all(fake[d.hostname].sessions == 1 for d in devs)
    pushes = [e.resource_id for e in store.journal(run.id) if e.action == "push"]
    assert sorted(pushes) == sorted(by_host)
    # a run no longer running (interrupted on the coordinator) starts nothing
    other = store.start_run("net.remediate", {})
    store.finish_run(other.id, "interrupted", {})
    assert engine(store, fake).run_batch(other.id, plans, by_host) == []
    assert all(fake[d.hostname].sessions == 1 for d in devs)


def test_a_device_journalled_without_outcome_is_checked_before_anything_is_sent(
    setup: tuple[list[Device], SqlStore],
) -> None:
    devs, store = setup
    untouched, done, half = devs[0], devs[1], devs[2]
    fake = {d.hostname: FakeDevice() for d in (untouched, done, half)}
    fake[done.hostname].config |= {"ipv6"}  # the lost worker's push reached it
    fake[half.hostname].config |= {"ipv6 half"}  # something changed, the rule still fails
    run = store.start_run("net.remediate", {})
    for d in (untouched, done, half):
        store.journal_add(run.id, "push", "device", d.hostname, {"snapshot_sha256": _sha_of({"hostname x"})})
    worker = engine(store, fake)
    worker.analyzer = FakeAnalyzer(not_ready={half.hostname})
    worker.collector = FakeSsh()
    plans = [forwarding_plan(d) for d in (untouched, done, half)]
    out = {o.hostname: o for o in worker.run_batch(run.id, plans, {d.hostname: d for d in devs})}
    # still the snapshot: nothing reached it, so it is pushed now
    assert out[untouched.hostname].status == "applied" and out[untouched.hostname].lines_sent == 1
    assert fake[untouched.hostname].config == {"hostname x", "ipv6"}
    # the change is there and the re-audit passes: verified, not one line sent again
    o = out[done.hostname]
    assert o.status == "verified" and o.lines_sent == 0 and "not pushed again" in (o.reason or ""), o
    assert fake[done.hostname].sent == []
    # changed but still failing: unknown state, for a human, not pushed again
    o = out[half.hostname]
    assert o.status == "failed" and o.reason is not None and o.reason.startswith("unknown state"), o
    assert "not pushed again" in o.reason and fake[half.hostname].sent == []
    assert {r.target: r.status for r in store.results(run.id)} == {h: o.status for h, o in out.items()}


class InlineExecutor:
    """The executor's contract without a broker: the plans go to a worker engine on the same store."""

    def __init__(self, worker: RemediationEngine) -> None:
        self.worker = worker
        self.calls: list[list[str]] = []

    def remediate(self, run: Any, plans: Any, devices: Any, settings: RemediationSettings, observer: Any) -> None:
        self.calls.append([p.hostname for p in plans])
        self.worker.settings = settings
        for o in self.worker.run_batch(run.id, plans, devices):
            observer.advanced(o.hostname, o.status, o.reason)


def test_with_an_executor_the_coordinator_sends_nothing_itself_and_resume_sends_the_rest(
    setup: tuple[list[Device], SqlStore],
) -> None:
    devs, store = setup
    fake = {d.hostname: FakeDevice() for d in devs}
    coordinator = engine(store, {})  # no device reachable from here: any session would fail
    ex = InlineExecutor(engine(store, fake))
    coordinator.executor = ex
    run = store.start_run("net.remediate", {})
    first = Outcome(devs[0].hostname, "huawei_vrp", "applied")
    store.record_result(run.id, first.hostname, "applied", None, first.to_dict())
    store.journal_add(run.id, "push", "device", devs[1].hostname, {"snapshot_sha256": _sha_of({"hostname x"})})
    store.finish_run(run.id, "interrupted", {})
    plans = [plan(d) for d in devs]
    report = coordinator.apply(plans, {d.hostname: d for d in devs}, {}, resume=run.id)
    # the recorded device stays as it was; the journalled one goes to the worker, which checks it
    assert ex.calls == [[d.hostname for d in devs[1:]]]
    assert report.run.status == "finished"
    statuses = {r.target: r.status for r in store.results(run.id)}
    assert statuses == {d.hostname: "applied" for d in devs}
    assert fake[devs[0].hostname].sessions == 0 and fake[devs[1].hostname].sessions == 2  # checked, then pushed


def test_max_failures_on_a_worker_counts_the_recorded_outcomes_and_a_resume_starts_the_rest(
    setup: tuple[list[Device], SqlStore],
) -> None:
    from govops.network.distributed import OnceStore

    devs, sql = setup
    store = OnceStore(sql.url)  # the worker's store: each outcome written once
    fake = {d.hostname: FakeDevice(reject="a1") for d in devs}
    run = store.start_run("net.remediate", {})
    worker = engine(store, fake)
    worker.settings = RemediationSettings(workers=1, verify=False, max_failures=1)
    plans, by_host = [plan(d) for d in devs], {d.hostname: d for d in devs}
    first = {o.hostname: o.status for o in worker.run_batch(run.id, plans, by_host)}
    assert first[devs[0].hostname] == "rolled_back" and {first[d.hostname] for d in devs[1:]} == {"skipped"}
    assert all(fake[d.hostname].sessions == 0 for d in devs[1:])
    for d in devs[1:]:
        fake[d.hostname].reject = None
    worker.settings = RemediationSettings(workers=2, verify=False)
    again = {o.hostname: o.status for o in worker.run_batch(run.id, plans, by_host)}
    assert again == {d.hostname: "applied" for d in devs[1:]}  # the rolled-back one is not redone
    assert {r.target: r.status for r in store.results(run.id)} == {devs[0].hostname: "rolled_back", **again}
