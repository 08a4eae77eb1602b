from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from govops.credentials import Credentials, EnvSource
from govops.errors import CredentialError, InputError
from govops.network.audit import AuditEngine, AuditSettings, DeviceResult, diff, group_summary, summarize
from govops.network.facts import DeviceFacts
from govops.network.generate import generate_inventory
from govops.network.inventory import load_inventory
from govops.network.results import Finding
from govops.observer import RecordingObserver
from govops.store import SqlStore

from tests.fakes import FakeAnalyzer, FakeSnmp, FakeSsh, WorkerAnalyzer, WorkerFakeSnmp, WorkerFakeSsh

ENV = {
    f"GOVOPS_CRED_{n}_{f}": "x-value-1234"
    for n in ("EXTRANET_SSH", "EXTRANET_SNMPV3", "EXTRANET_SNMP_COMMUNITY")
    for f in ("USERNAME", "PASSWORD", "COMMUNITY", "AUTH_KEY", "PRIV_KEY")
}


@pytest.fixture
def inv(tmp_path: Path):  # type: ignore[no-untyped-def]
    generate_inventory(sites=40, seed=3).write(tmp_path / "inv")
    return load_inventory(tmp_path / "inv")


def engine(
    tmp_path: Path,
    ssh: FakeSsh,
    snmp: FakeSnmp | Callable[[], WorkerFakeSnmp],
    analyzer: FakeAnalyzer | None = None,
    env: dict[str, str] | None = None,
    **settings: float,
) -> AuditEngine:
    """An engine on fakes; ``snmp`` is the collector itself, or (with snmp_processes) its factory."""
    return AuditEngine(
        ssh=ssh,
        snmp_factory=snmp if callable(snmp) else lambda: snmp,
        analyzer=analyzer or FakeAnalyzer(),
        credentials=Credentials([EnvSource(environ=ENV if env is None else env)]),
        store=SqlStore(f"sqlite:///{tmp_path / 'store.db'}"),
        settings=AuditSettings(ssh_workers=4, snmp_concurrency=4, backoff=0.001, **settings),  # type: ignore[arg-type]
        observer=RecordingObserver(),
    )


def test_every_device_ends_with_one_status(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    hosts = [d.hostname for d in inv if d.ssh is not None]
    ssh = FakeSsh({hosts[0]: "unreachable", hosts[1]: "auth", hosts[2]: "timeout"})
    snmp = FakeSnmp({hosts[3]: "timeout"})
    eng = engine(tmp_path, ssh, snmp, FakeAnalyzer(explode={hosts[4]}))
    report = eng.run(list(inv), ["ipv6"], {"inventory": "x"})
    by_host = {r.hostname: r for r in report.results}
    assert len(by_host) == len(inv)
    assert by_host[hosts[0]].status == "unreachable"
    assert by_host[hosts[1]].status == "auth_failed"
    assert by_host[hosts[2]].status == "timeout" and by_host[hosts[2]].collected["snmp"] == "ok"
    assert by_host[hosts[3]].status == "timeout" and by_host[hosts[3]].collected["ssh"] == "ok"
    assert by_host[hosts[4]].status == "error" and "analyzer bug" in (by_host[hosts[4]].reason or "")
    assert sum(r.status == "ok" for r in report.results) == len(inv) - 5
    assert report.run.status == "finished" and report.run.summary["devices"] == len(inv)


def test_ssh_sessions_run_in_worker_processes_and_results_come_back(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    import os

    hosts = [d.hostname for d in inv if d.ssh is not None]
    ssh = WorkerFakeSsh("x-value-1234", {hosts[0]: "unreachable", hosts[1]: "timeout"})
    eng = engine(tmp_path, ssh, FakeSnmp(), ssh_processes=2)  # type: ignore[arg-type]
    report = eng.run(list(inv), ["ipv6"], {})
    by_host = {r.hostname: r for r in report.results}
    assert len(by_host) == len(inv)
    assert by_host[hosts[0]].status == "unreachable" and by_host[hosts[0]].attempts == 0
    assert by_host[hosts[1]].status == "timeout" and by_host[hosts[1]].reason == "ssh: timeout"
    assert sum(r.status == "ok" for r in report.results) == len(inv) - 2
    # the password reached the workers intact (else auth_failed), and no session ran in this process
    outputs = {e.command for r in report.results for e in r.evidence if e.source == "ssh"}
    assert outputs  # evidence carries the commands the workers ran
    pids = {int(r.facts["hostname"]) for r in report.results if r.status == "ok" and r.facts.get("hostname")}
    assert pids and os.getpid() not in pids


def test_cli_output_is_parsed_in_the_worker_and_only_hashes_come_back(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    import os

    from govops.network.audit import _sha

    hosts = [d.hostname for d in inv if d.ssh is not None]
    analyzer = WorkerAnalyzer(bad={hosts[0]})
    eng = engine(tmp_path, WorkerFakeSsh("x-value-1234"), FakeSnmp(), analyzer, ssh_processes=2)  # type: ignore[arg-type]
    report = eng.run(list(inv), ["ipv6"], {})
    by_host = {r.hostname: r for r in report.results}
    bad = by_host[hosts[0]]
    assert bad.status == "parse_error" and bad.reason == "show version: not the expected format"
    assert bad.collected["ssh"] == "failed" and [e.command for e in bad.evidence if e.source == "ssh"]
    good = by_host[hosts[1]]
    assert good.status == "ok"
    session_pid, parser_pid = good.facts["hostname"], good.facts["os_version"]
    assert parser_pid == session_pid != str(os.getpid())  # parsed where the session ran
    (typed,) = [e for e in good.evidence if e.source == "ssh"]
    ev = typed.to_dict()
    at = ev.pop("at")  # when the session's outputs came in: the report's evidence appendix shows it
    assert ev == {"source": "ssh", "command": "show version", "sha256": _sha(f"{session_pid} {hosts[1]}")}
    assert isinstance(at, str) and at.endswith("Z")


def test_snmp_polls_run_in_worker_processes(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    import dataclasses
    import os

    # SNMP-only devices: their facts are the SNMP worker's answer (sysName: the worker's PID)
    boxes = [dataclasses.replace(d, ssh=None, ssh_profile=None) for d in inv if d.snmp is not None]
    hosts = [d.hostname for d in boxes]
    snmp = partial(WorkerFakeSnmp, "x-value-1234", {hosts[0]: "timeout", hosts[1]: "auth"})
    report = engine(tmp_path, FakeSsh(), snmp, snmp_processes=2, retries=1).run(boxes, ["ipv6"], {})
    by_host = {r.hostname: r for r in report.results}
    assert len(by_host) == len(boxes)
    assert by_host[hosts[0]].status == "timeout" and by_host[hosts[0]].reason == "snmp: timeout"
    assert by_host[hosts[0]].collected == {"ssh": "not_applicable", "snmp": "failed"}
    assert by_host[hosts[1]].status == "auth_failed"
    ok = [r for r in report.results if r.status == "ok"]
    assert len(ok) == len(boxes) - 2
    # the secret reached the workers intact (else auth_failed), and the polls ran there, not here
    workers = {r.facts["hostname"] for r in ok}
    assert 1 <= len(workers) <= 2 and str(os.getpid()) not in workers
    assert all(e.values == 2 for r in ok for e in r.evidence if e.source == "snmp")


def test_wrong_secret_in_an_snmp_worker_is_auth_failed(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    report = engine(tmp_path, FakeSsh(), partial(WorkerFakeSnmp, "another-secret"), snmp_processes=1).run(
        list(inv)[:6], ["ipv6"], {}
    )
    assert {r.status for r in report.results if r.collected.get("snmp") != "not_applicable"} == {"auth_failed"}


class _InFlightSeen(FakeAnalyzer):
    """SNMP facts carry WorkerFakeSnmp's count of polls in flight (as os_version)."""

    def facts_from_snmp(self, values: dict[str, Any]) -> DeviceFacts:
        return DeviceFacts(hostname=values["1.3.6.1.2.1.1.5.0"].decode(), os_version=str(values["1.3.6.1.2.1.1.3.0"]))


def test_a_poll_past_its_deadline_is_cancelled_in_the_worker(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    boxes = [dataclasses.replace(d, ssh=None, ssh_profile=None) for d in inv if d.snmp is not None][:6]
    slow = boxes[1].hostname
    eng = engine(tmp_path, FakeSsh(), partial(WorkerFakeSnmp, "x-value-1234", {slow: "slow"}), _InFlightSeen())
    eng.settings = AuditSettings(snmp_concurrency=1, snmp_processes=1, device_timeout=0.5)
    report = eng.run(boxes, ["ipv6"], {})
    by_host = {r.hostname: r for r in report.results}
    assert by_host[slow].status == "timeout" and by_host[slow].reason == "snmp: device deadline reached"
    ok = [r for r in report.results if r.status == "ok"]
    assert len(ok) == len(boxes) - 1
    # one poll in flight at a time: the worker stopped the slow one when its device gave up
    assert {r.facts["os_version"] for r in ok} == {"1"}


def test_an_snmp_worker_that_dies_fails_its_poll_not_the_run(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    hosts = [d.hostname for d in inv if d.snmp is not None]
    snmp = partial(WorkerFakeSnmp, "x-value-1234", {hosts[0]: "crash"})
    eng = engine(tmp_path, FakeSsh(), snmp, snmp_processes=2)
    eng.settings = AuditSettings(ssh_workers=4, snmp_concurrency=1, snmp_processes=2)  # one poll at a time
    report = eng.run(list(inv), ["ipv6"], {})
    by_host = {r.hostname: r for r in report.results}
    assert by_host[hosts[0]].status == "error"
    assert by_host[hosts[0]].reason == "snmp: the worker process running this poll died"
    assert sum(r.status == "ok" for r in report.results) == len(inv) - 1  # the other worker polled the rest


def test_an_ssh_worker_that_dies_fails_its_session_not_the_run(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    # a ProcessPoolExecutor broke as a whole when one worker died, failing every queued device
    hosts = [d.hostname for d in inv if d.ssh is not None]
    ssh = WorkerFakeSsh("x-value-1234", {hosts[0]: "crash", hosts[3]: "crash"})
    eng = engine(tmp_path, ssh, FakeSnmp())  # type: ignore[arg-type]
    eng.settings = AuditSettings(ssh_workers=2, snmp_concurrency=4, ssh_processes=2)
    report = eng.run(list(inv), ["ipv6"], {})
    by_host = {r.hostname: r for r in report.results}
    for host in (hosts[0], hosts[3]):
        assert by_host[host].status == "error"
        assert by_host[host].reason == "ssh: the worker process running this session died"
    assert sum(r.status == "ok" for r in report.results) == len(inv) - 2  # successors ran the rest


def test_default_communities_are_probed_through_the_snmp_workers(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    both = [d for d in inv if d.ssh is not None and d.snmp is not None]
    snmp = partial(WorkerFakeSnmp, "x-value-1234", communities={both[0].hostname: {"private"}})
    report = engine(tmp_path, FakeSsh(), snmp, _CipheredCommunities(), snmp_processes=2).run(both[:2], ["ipv6"], {})
    by_host = {r.hostname: r for r in report.results}
    assert by_host[both[0].hostname].facts["snmp_default_community"] is True
    assert by_host[both[1].hostname].facts["snmp_default_community"] is False


def test_wrong_secret_in_a_worker_process_is_auth_failed(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    eng = engine(tmp_path, WorkerFakeSsh("another-password"), FakeSnmp(), ssh_processes=2)  # type: ignore[arg-type]
    report = eng.run(list(inv)[:6], ["ipv6"], {})
    statuses = {r.status for r in report.results if r.collected.get("ssh") != "not_applicable"}
    assert statuses == {"auth_failed"}


def test_connect_failures_are_retried_auth_failures_are_not(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    hosts = [d.hostname for d in inv if d.ssh is not None]
    ssh = FakeSsh({hosts[1]: "auth"}, flaky={hosts[0]: 2})
    report = engine(tmp_path, ssh, FakeSnmp(), retries=2).run(list(inv), ["ipv6"], {})
    r0 = next(r for r in report.results if r.hostname == hosts[0])
    assert r0.status == "ok" and r0.attempts == 3
    assert ssh.calls.count(hosts[1]) == 1


def test_snmp_only_devices_skip_ssh(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    box = dataclasses.replace(next(iter(inv)), ssh=None, ssh_profile=None)
    ssh = FakeSsh()
    report = engine(tmp_path, ssh, FakeSnmp()).run([box], ["ipv6"], {})
    assert report.results[0].collected == {"ssh": "not_applicable", "snmp": "ok"}
    assert ssh.calls == []


def test_results_are_stored_and_resume_skips_finished_devices(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    devices = list(inv)
    first = engine(tmp_path, FakeSsh(), FakeSnmp()).run(devices[:10], ["ipv6"], {})
    store = SqlStore(f"sqlite:///{tmp_path / 'store.db'}")
    store.reopen_run(first.run.id)  # as if it had been killed after 10 devices
    ssh = FakeSsh()
    resumed = engine(tmp_path, ssh, FakeSnmp()).run(devices, ["ipv6"], {}, resume=first.run.id)
    assert resumed.skipped == 10
    assert not set(ssh.calls) & {d.hostname for d in devices[:10]}
    assert sorted(r.hostname for r in resumed.results) == sorted(d.hostname for d in devices)


def test_missing_credential_stops_before_connecting(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    ssh = FakeSsh()
    with pytest.raises(CredentialError):
        engine(tmp_path, ssh, FakeSnmp(), env={}).run(list(inv), ["ipv6"], {})
    assert ssh.calls == []


def test_missing_snmpv3_credential_hint_names_its_keys(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    """The hint named ..._USERNAME and ..._PASSWORD for every credential; SNMPv3 needs a user with an
    auth and a privacy key (issue 17: what doctor said, the audit said too)."""
    env = {k: v for k, v in ENV.items() if "SNMPV3" not in k}
    with pytest.raises(CredentialError) as exc:
        engine(tmp_path, FakeSsh(), FakeSnmp(), env=env).run(list(inv), ["ipv6"], {})
    assert "extranet-snmpv3" in exc.value.message
    hint = exc.value.hint or ""
    for field in ("USERNAME", "AUTH_KEY", "PRIV_KEY"):
        assert f"GOVOPS_CRED_EXTRANET_SNMPV3_{field}=" in hint, hint
    assert "PASSWORD" not in hint, hint


def test_unknown_check(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="unknown check"):
        engine(tmp_path, FakeSsh(), FakeSnmp()).run(list(inv), ["ipv9"], {})


def test_ipv6_ready_summary_and_diff(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    devices = list(inv)
    a = engine(tmp_path, FakeSsh(), FakeSnmp(), FakeAnalyzer(not_ready={devices[0].hostname})).run(
        devices, ["ipv6"], {}
    )
    b = engine(
        tmp_path,
        FakeSsh({devices[2].hostname: "unreachable"}),
        FakeSnmp(),
        FakeAnalyzer(not_ready={devices[1].hostname}),
    ).run(devices, ["ipv6"], {})
    s = summarize(a.results)
    assert s == a.summary and a.run.summary == s.to_dict()  # the one summary, stored with the run
    assert s.ipv6_assessed == len(devices) and s.ipv6_ready == len(devices) - 1
    by_level = group_summary(a.results, lambda r: r.level)
    assert sum(g.devices for g in by_level.values()) == len(devices)
    changes = {(c.hostname, c.rule, c.kind) for c in diff(a.results, b.results)}
    assert (devices[0].hostname, "ipv6.forwarding", "fix") in changes
    assert (devices[1].hostname, "ipv6.forwarding", "regression") in changes
    assert (devices[2].hostname, "status", "regression") in changes


def test_device_result_round_trips() -> None:
    r = DeviceResult(
        "h", "s", None, "village", "huawei_vrp", "ok", None, findings=(Finding("x.y", "x", "X", "low", "pass"),)
    )
    assert DeviceResult.from_dict(r.to_dict() | {"future_field": 1}) == r


def test_snmp_no_response_is_retried_then_reported_as_timeout(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    hosts = [d.hostname for d in inv if d.snmp is not None]
    snmp = FakeSnmp({hosts[1]: "timeout"}, flaky={hosts[0]: 2})
    report = engine(tmp_path, FakeSsh(), snmp, retries=2).run(list(inv), ["ipv6"], {})
    by_host = {r.hostname: r for r in report.results}
    assert by_host[hosts[0]].status == "ok" and snmp.calls.count(hosts[0]) == 3
    assert by_host[hosts[1]].status == "timeout" and snmp.calls.count(hosts[1]) == 3


class _CipheredCommunities(FakeAnalyzer):
    """A VRP-like device: v2c on, its communities hidden as ciphers in the configuration."""

    def facts_from_cli(self, platform: str, outputs: dict[str, str]) -> DeviceFacts:
        return DeviceFacts(hostname="x", snmp_v2c_enabled=True, snmp_default_community=None)


def test_default_communities_are_probed_only_when_the_config_hides_them(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    both = [d for d in inv if d.ssh is not None and d.snmp is not None]
    snmp = FakeSnmp(communities={both[0].hostname: {"public"}})
    report = engine(tmp_path, FakeSsh(), snmp, _CipheredCommunities()).run(both[:2], ["ipv6"], {})
    by_host = {r.hostname: r for r in report.results}
    assert by_host[both[0].hostname].facts["snmp_default_community"] is True
    assert by_host[both[1].hostname].facts["snmp_default_community"] is False
    assert {e.source for e in by_host[both[0].hostname].evidence} >= {"snmp-probe"}
    # a configuration that shows its communities needs no probe
    snmp2 = FakeSnmp()
    engine(tmp_path, FakeSsh(), snmp2).run(both[:2], ["ipv6"], {})
    assert not [c for c in snmp2.calls if c.startswith("probe")]


def test_the_community_probe_overlaps_the_walk(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    # the probe needs only the session's facts; waiting for the walk first left a city audit's
    # last seconds idle on probes of agents that never answer
    both = [d for d in inv if d.ssh is not None and d.snmp is not None][:3]
    snmp = FakeSnmp(delay=0.2, communities={both[0].hostname: {"private"}})
    report = engine(tmp_path, FakeSsh(), snmp, _CipheredCommunities()).run(both, ["ipv6"], {})
    assert snmp.probed_while_walking == {d.hostname for d in both}
    by_host = {r.hostname: r for r in report.results}
    assert [by_host[d.hostname].facts["snmp_default_community"] for d in both] == [True, False, False]


def test_waiting_for_a_slot_does_not_count_against_the_device_deadline(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    snmp = FakeSnmp(delay=0.02)
    eng = engine(tmp_path, FakeSsh(), snmp, device_timeout=0.3)
    eng.settings = AuditSettings(ssh_workers=4, snmp_concurrency=1, device_timeout=0.3)
    report = eng.run(list(inv), ["ipv6"], {})  # 40 polls one after the other: ~0.8 s of queueing
    assert {r.status for r in report.results} == {"ok"}


def test_snmp_concurrency_backs_off_when_the_agents_stop_answering(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    snmp = FakeSnmp(delay=0.01, capacity=4)
    eng = engine(tmp_path, FakeSsh(), snmp)
    eng.settings = AuditSettings(ssh_workers=4, snmp_concurrency=16, retries=2, backoff=0.001)
    report = eng.run(list(inv), ["ipv6"], {})
    # 16 polls at once overload the agents; halving twice (16 -> 8 -> 4) makes every device answer
    assert {r.status for r in report.results} == {"ok"}
    assert len(snmp.calls) > len(inv)  # some polls were retried


def test_adaptive_limit_halves_once_per_round_and_grows_back() -> None:
    import asyncio

    from govops.network.audit import AdaptiveLimit

    async def scenario() -> list[float]:
        lim = AdaptiveLimit(16)
        tickets = [await lim.acquire() for _ in range(16)]
        seen = []
        for t in tickets:  # a whole round times out: one halving, not sixteen
            lim.release(t, congested=True)
        seen.append(lim.limit)
        t = await lim.acquire()
        lim.release(t, congested=True)  # a poll started after the decrease may decrease again
        seen.append(lim.limit)
        for _ in range(200):
            lim.release(await lim.acquire(), congested=False)
        seen.append(lim.limit)
        return seen

    assert asyncio.run(scenario()) == [8.0, 4.0, 16.0]


def test_adaptive_limit_wakes_waiters_for_free_slots_only_and_serves_every_one() -> None:
    """Every device of a run waits on the limit: an answer must not wake them all (O(n^2) wake-ups)."""
    import asyncio

    from govops.network.audit import AdaptiveLimit

    devices, limit = 300, 4

    async def scenario() -> tuple[int, int, int]:
        lim = AdaptiveLimit(limit)
        cond = lim._changed
        waits = 0
        real_wait = cond.wait

        async def counted() -> bool:
            nonlocal waits
            waits += 1
            return await real_wait()

        cond.wait = counted  # type: ignore[method-assign]
        running = most = served = 0

        async def poll(n: int) -> None:
            nonlocal running, most, served
            ticket = await lim.acquire()
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.001 * (n % 3))
            running -= 1
            served += 1
            lim.release(ticket, congested=False)

        await asyncio.gather(*(poll(n) for n in range(devices)))
        return served, most, waits

    served, most, waits = asyncio.run(scenario())
    assert served == devices
    assert most <= limit
    # each device sleeps about once (woken for its slot); waking all waiters per answer made it ~n/2 each
    assert waits < 3 * devices


def _no_setup() -> None:
    pass


def test_an_interrupted_session_pool_stops_its_running_sessions() -> None:
    import asyncio
    import time

    from govops.network.audit import worker_context
    from govops.network.workers import SessionWorkers

    async def scenario() -> list[Any]:
        pool = SessionWorkers(2, 1, worker_context(), _no_setup, (), time.sleep)
        await pool.run(0)  # a worker is up
        session = asyncio.ensure_future(pool.run(60))  # would hold the interrupted run open
        await asyncio.sleep(0.2)
        session.cancel()
        procs = [p.process for p in pool._procs]
        t0 = time.monotonic()
        pool.close(wait=False)
        assert time.monotonic() - t0 < 10
        assert not any(p.is_alive() for p in procs)
        return procs

    assert len(asyncio.run(scenario())) == 1  # the one worker served both jobs in turn


def _timed_job(job: tuple[str, float]) -> tuple[int, float, float]:
    """A session stand-in: runs ``job[1]`` seconds; "crash" kills its worker process half-way."""
    import os
    import time

    kind, seconds = job
    t0 = time.monotonic()
    time.sleep(seconds / 2)
    if kind == "crash":
        os._exit(3)
    time.sleep(seconds / 2)
    return os.getpid(), t0, time.monotonic()


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(t0, 1) for t0, _ in spans] + [(t1, -1) for _, t1 in spans], key=lambda e: (e[0], e[1]))
    now = most = 0
    for _t, step in edges:
        now += step
        most = max(most, now)
    return most


def test_session_workers_run_their_share_of_sessions_in_threads() -> None:
    import asyncio

    from govops.network.audit import worker_context
    from govops.network.workers import SessionWorkers

    async def scenario() -> list[tuple[int, float, float]]:
        pool = SessionWorkers(5, 2, worker_context(), _no_setup, (), _timed_job)
        try:
            return list(await asyncio.gather(*(pool.run(("ok", 0.4)) for _ in range(12))))
        finally:
            pool.close(wait=True)

    done = asyncio.run(scenario())
    assert len({pid for pid, _t0, _t1 in done}) == 2  # two processes, three threads at most each
    assert _most_at_once([(t0, t1) for _pid, t0, t1 in done]) == 5  # the cap, and no more
    for pid in {pid for pid, _t0, _t1 in done}:
        assert _most_at_once([(t0, t1) for p, t0, t1 in done if p == pid]) <= 3


def test_a_dying_session_worker_fails_the_job_that_killed_it_and_reruns_the_others() -> None:
    import asyncio

    from govops.network.audit import worker_context
    from govops.network.workers import SessionWorkers, WorkerLost

    async def scenario() -> list[Any]:
        pool = SessionWorkers(3, 1, worker_context(), _no_setup, (), _timed_job)
        try:
            jobs = [("ok", 0.6), ("crash", 0.2), ("ok", 0.6)]  # all three in one process at once
            return list(await asyncio.gather(*(pool.run(job) for job in jobs), return_exceptions=True))
        finally:
            pool.close(wait=True)

    first, crashed, third = asyncio.run(scenario())
    assert isinstance(crashed, WorkerLost)
    assert str(crashed) == "ssh: the worker process running this session died"
    # All three were lost with the first process and ran again one at a time: the first job in
    # the second process, which the crashing job then killed; the third job in a third process.
    assert isinstance(first, tuple) and isinstance(third, tuple) and first[0] != third[0]


def test_the_worker_server_starts_before_the_devices_are_known() -> None:
    # in a process of its own: the fork server is one per process, and other tests start it
    import subprocess
    import sys

    code = (
        "import os, multiprocessing.forkserver as fs\n"
        "from govops.network.audit import start_worker_server\n"
        "assert fs._forkserver._forkserver_pid is None\n"
        "start_worker_server()\n"
        "os.kill(fs._forkserver._forkserver_pid, 0)\n"  # running, without a worker asked for yet
        "print(fs._forkserver._preload_modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "paramiko" in out.stdout and "pysnmp.hlapi.v3arch.asyncio" in out.stdout


class _BuggyParser(FakeAnalyzer):
    """A parser that fails unexpectedly (a bug, not a device's odd output) on one host."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host

    def facts_from_cli(self, platform: str, outputs: dict[str, str]) -> DeviceFacts:
        if next(iter(outputs.values())).startswith(self.host + " "):
            raise ZeroDivisionError("parser bug")
        return super().facts_from_cli(platform, outputs)


def test_a_parser_bug_is_the_device_error_with_its_evidence_kept(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    hosts = [d for d in inv if d.ssh is not None and d.snmp is not None][:2]
    report = engine(tmp_path, FakeSsh(), FakeSnmp(), _BuggyParser(hosts[0].hostname)).run(hosts, ["ipv6"], {})
    by_host = {r.hostname: r for r in report.results}
    bad, good = by_host[hosts[0].hostname], by_host[hosts[1].hostname]
    assert bad.status == "error" and bad.reason == "ZeroDivisionError: parser bug"
    assert [e.source for e in bad.evidence] == ["ssh"] and bad.attempts == 1
    assert bad.collected == {} and bad.findings == () and bad.ipv6_ready is None
    assert good.status == "ok" and good.collected == {"ssh": "ok", "snmp": "ok"} and good.findings


class _BuggySnmpParser(FakeAnalyzer):
    def facts_from_snmp(self, values: dict[str, Any]) -> DeviceFacts:
        raise KeyError("sysName")


def test_an_snmp_parser_bug_is_the_device_error_with_both_evidences_kept(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    host = next(d for d in inv if d.ssh is not None and d.snmp is not None)
    (r,) = engine(tmp_path, FakeSsh(), FakeSnmp(), _BuggySnmpParser()).run([host], ["ipv6"], {}).results
    assert r.status == "error" and r.reason == "KeyError: 'sysName'"
    assert r.collected == {"ssh": "ok"} and [e.source for e in r.evidence][-1] == "snmp"
