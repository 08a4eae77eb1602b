"""The scale-out pieces that need no broker: task data, routing, batching, once-only results, the hook."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from govops.credentials import Credentials, EnvSource
from govops.i18n import Msg
from govops.network.audit import AuditEngine, AuditSettings, DeviceResult
from govops.network.distributed import (
    DEFAULT_QUEUE,
    OnceStore,
    _ResultFeed,
    default_concurrency,
    device_from_data,
    device_to_data,
    plan_batches,
    queue_for,
)
from govops.network.generate import generate_inventory
from govops.network.inventory import Device, Inventory, load_inventory
from govops.observer import Observer, RecordingObserver
from govops.store import Run, SqlStore

from tests.fakes import FakeAnalyzer, FakeSnmp, FakeSsh
from tests.unit.test_audit_engine import ENV


@pytest.fixture
def inv(tmp_path: Path) -> Inventory:
    generate_inventory(sites=40, seed=3).write(tmp_path / "inv")
    return load_inventory(tmp_path / "inv")


def test_a_device_travels_as_json_data_and_comes_back_equal(inv: Inventory) -> None:
    import json

    for d in inv:
        data = json.loads(json.dumps(device_to_data(d)))
        back = device_from_data(data)
        assert back == d and back.data == d.data and back.ssh == d.ssh and back.snmp == d.snmp


def test_task_data_names_credentials_but_holds_no_secret(inv: Inventory) -> None:
    import json

    text = json.dumps([device_to_data(d) for d in inv])
    assert "x-value-1234" not in text  # the test's secrets live in the env only
    assert '"credential"' in text


def test_routes_pick_the_first_matching_county_site_or_group(inv: Inventory) -> None:
    counties = sorted({d.county for d in inv if d.county})
    first, second = counties[0], counties[1]
    routes = {first: "q-first", "county": "q-county-devices", second: "q-second"}
    for d in inv:
        q = queue_for(d, routes)
        if d.county == first:
            assert q == "q-first"
        elif "county" in d.groups:
            assert q == "q-county-devices"  # earlier in the routes than the second county
        elif d.county == second:
            assert q == "q-second"
        else:
            assert q == DEFAULT_QUEUE


def test_batches_stay_within_one_queue_and_cover_each_device_once(inv: Inventory) -> None:
    counties = sorted({d.county for d in inv if d.county})
    routes = {counties[0]: "a", counties[1]: "b"}
    batches = plan_batches(list(inv), routes, 4)
    seen = [d.hostname for _q, b in batches for d in b]
    assert sorted(seen) == sorted(d.hostname for d in inv) and len(seen) == len(set(seen))
    for q, b in batches:
        assert 1 <= len(b) <= 4
        assert {queue_for(d, routes) for d in b} == {q}


def test_a_result_is_recorded_once_and_the_first_one_stays(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 's.db'}")
    run = store.start_run("net.audit", {})
    assert store.record_result_once(run.id, "h1", "ok", None, {"n": 1}) is True
    assert store.record_result_once(run.id, "h1", "error", "later", {"n": 2}) is False
    [r] = store.results(run.id)
    assert (r.status, r.data) == ("ok", {"n": 1})
    assert store.result_statuses(run.id) == {"h1": ("ok", None)}
    once = OnceStore(f"sqlite:///{tmp_path / 's.db'}")
    once.record_result(run.id, "h1", "timeout", "x", {"n": 3})
    once.record_result(run.id, "h2", "timeout", "slow", {"n": 4})
    assert store.result_statuses(run.id) == {"h1": ("ok", None), "h2": ("timeout", "slow")}


def _engine(tmp_path: Path, store: SqlStore, ssh: FakeSsh, env: dict[str, str] | None = None) -> AuditEngine:
    return AuditEngine(
        ssh=ssh,
        snmp_factory=FakeSnmp,
        analyzer=FakeAnalyzer(),
        credentials=Credentials([EnvSource(environ=ENV if env is None else env)]),
        store=store,
        settings=AuditSettings(ssh_workers=4, snmp_concurrency=4, backoff=0.001),
        observer=RecordingObserver(),
    )


def test_run_batch_skips_devices_already_recorded_and_records_the_rest_once(tmp_path: Path, inv: Inventory) -> None:
    store = OnceStore(f"sqlite:///{tmp_path / 's.db'}")
    run = store.start_run("net.audit", {})
    devices = list(inv)[:6]
    store.record_result(run.id, devices[0].hostname, "ok", None, {"earlier": True})
    ssh = FakeSsh()
    results = _engine(tmp_path, store, ssh).run_batch(run.id, devices, ["ipv6"])
    assert sorted(r.hostname for r in results) == sorted(d.hostname for d in devices[1:])
    recorded = {r.target: r for r in store.results(run.id)}
    assert set(recorded) == {d.hostname for d in devices}
    assert recorded[devices[0].hostname].data == {"earlier": True}  # a redelivered batch changes nothing
    assert store.get_run(run.id).status == "running"  # the run belongs to the coordinator


class RecordingExecutor:
    """Plays the workers: records every device as the engine would, in the engine's store."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.calls: list[tuple[str, list[str], list[str]]] = []

    def execute(self, run: Run, devices: Sequence[Device], checks: Sequence[str], observer: Observer) -> None:
        self.calls.append((run.id, [d.hostname for d in devices], list(checks)))
        for d in devices:
            r = DeviceResult(d.hostname, d.site.code, d.county, d.level, d.platform, "ok", None)
            self.store.record_result(run.id, d.hostname, "ok", None, r.to_dict())
            observer.advanced(d.hostname, "ok", None)


def test_with_an_executor_the_engine_runs_nothing_itself_and_reports_from_the_store(
    tmp_path: Path, inv: Inventory
) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 's.db'}")
    ssh = FakeSsh()
    # no credential on the coordinator: the workers resolve their own
    eng = _engine(tmp_path, store, ssh, env={})
    ex = RecordingExecutor(store)
    eng.executor = ex
    report = eng.run(list(inv), ["ipv6"], {"inventory": "x"})
    assert ssh.calls == []
    assert len(ex.calls) == 1 and sorted(ex.calls[0][1]) == sorted(d.hostname for d in inv)
    assert report.run.status == "finished" and report.run.summary["devices"] == len(inv)
    assert len(report.results) == len(inv)
    # resume hands the executor only what is missing
    first = next(iter(inv)).hostname
    store.reopen_run(report.run.id)
    with store._lock:
        store._exec("DELETE FROM results WHERE run_id = ? AND target = ?", (report.run.id, first))
    again = eng.run(list(inv), ["ipv6"], {}, resume=report.run.id)
    assert ex.calls[-1][1] == [first]
    assert again.skipped == len(inv) - 1 and len(again.results) == len(inv)


class FollowingExecutor(RecordingExecutor):
    """Also hands back what it followed, as the Celery executor does (read while the run went on)."""

    def execute(  # type: ignore[override]
        self, run: Run, devices: Sequence[Device], checks: Sequence[str], observer: Observer
    ) -> list[DeviceResult]:
        super().execute(run, devices, checks, observer)
        return [DeviceResult(d.hostname, d.site.code, d.county, d.level, d.platform, "ok", None) for d in devices]


def test_results_handed_back_by_the_executor_are_reported_without_reading_them_again(
    tmp_path: Path, inv: Inventory
) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 's.db'}")
    eng = _engine(tmp_path, store, FakeSsh(), env={})
    eng.executor = FollowingExecutor(store)
    reads: list[str] = []
    real = store.results
    store.results = lambda run_id: reads.append(run_id) or real(run_id)  # type: ignore[method-assign]
    report = eng.run(list(inv), ["ipv6"], {"inventory": "x"})
    assert reads == []  # the engine used the executor's results
    assert sorted(r.hostname for r in report.results) == sorted(d.hostname for d in inv)
    assert report.run.status == "finished" and report.run.summary["devices"] == len(inv)


def test_the_feed_keeps_each_new_results_data_once_in_any_number_of_targets(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 's.db'}")
    run = store.start_run("net.audit", {})
    asked: list[str] = []
    real = store.results_of
    store.results_of = lambda run_id, targets: asked.extend(targets) or real(run_id, targets)  # type: ignore[method-assign]
    feed = _ResultFeed(store, run.id, keep=lambda data: data["n"])
    for i in range(1203):  # more than one statement's worth of targets (500 each)
        store.record_result(run.id, f"h{i:04d}", "ok", None, {"n": i})
    assert len(feed.poll()) == 1203
    store.record_result(run.id, "late", "ok", None, {"n": -1})
    assert feed.poll() == {"late": ("ok", None)}
    assert feed.poll() == {}
    assert feed.kept == {**{f"h{i:04d}": i for i in range(1203)}, "late": -1}
    assert sorted(asked) == sorted(feed.kept)  # each result's data read once


class _Workers:
    """Celery's ``app.control`` as the coordinator asks it: which queues the workers read."""

    def __init__(self, queues: list[str]) -> None:
        self.queues = queues
        self.asked: list[float] = []
        self.control = self

    def inspect(self, timeout: float) -> _Workers:
        self.asked.append(timeout)
        return self

    def active_queues(self) -> dict[str, list[dict[str, str]]]:
        return {"w1@collector": [{"name": q} for q in self.queues]}


def _offline_executor(store: SqlStore, workers: _Workers) -> tuple[Any, list[str]]:
    from govops.network.distributed import CeleryExecutor

    published: list[str] = []

    class Offline(CeleryExecutor):
        def _broker_problem(self) -> str | None:
            return None

        def _publish(self, run: Run, task: str, messages: list[tuple[str, tuple[Any, ...]]]) -> None:
            published.extend(q for q, _args in messages)

    ex = Offline(workers, store, routes={}, batch_size=10, broker_display="redis://collector:6379/0")  # type: ignore[arg-type]
    return ex, published


def test_a_queue_no_worker_reads_ends_the_run_with_the_queue_named(tmp_path: Path, inv: Inventory) -> None:
    from govops.errors import GovopsError

    store = SqlStore(f"sqlite:///{tmp_path / 's.db'}")
    run = store.start_run("net.audit", {})
    workers = _Workers(["city-b"])
    ex, published = _offline_executor(store, workers)
    with pytest.raises(GovopsError) as err:
        ex.execute(run, list(inv)[:12], ["ipv6"], RecordingObserver())
    assert isinstance(err.value.msg, Msg) and err.value.msg.key == "err.dist.no_worker"
    assert "govops" in err.value.message and "--resume" in str(err.value.hint)
    assert len(workers.asked) == 4  # asked again, waiting longer, before giving up
    # asked while the batches went out (a worker that comes later skips them: the run is over)
    assert published == [DEFAULT_QUEUE, DEFAULT_QUEUE]


def test_the_coordinator_hands_back_every_result_it_followed(tmp_path: Path, inv: Inventory) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 's.db'}")
    run = store.start_run("net.audit", {})
    devices = list(inv)[:12]
    for d in devices:  # the workers were quick: every result is there at the first look
        r = DeviceResult(d.hostname, d.site.code, d.county, d.level, d.platform, "ok", None)
        store.record_result(run.id, d.hostname, "ok", None, r.to_dict())
    ex, published = _offline_executor(store, _Workers([DEFAULT_QUEUE]))
    observer = RecordingObserver()
    got = ex.execute(run, devices, ["ipv6"], observer)
    assert [r.hostname for r in got] == sorted(d.hostname for d in devices)
    assert all(isinstance(r, DeviceResult) and r.status == "ok" for r in got)
    assert len(published) == 2


def test_the_engine_pool_runs_enough_batches_to_keep_its_ssh_sessions_busy() -> None:
    assert default_concurrency("prefork", 2, 50, 10) == 8
    assert default_concurrency("engine", 2, 50, 10) == 60  # 600 devices in flight for 50 sessions
    assert default_concurrency("engine", 2, 50, 25) == 24
    assert default_concurrency("engine", 4, 5, 100) == 16  # never fewer than prefork's


def test_an_executor_that_raises_leaves_the_run_interrupted_and_resumable(tmp_path: Path, inv: Inventory) -> None:
    from govops.network.distributed import BrokerError

    store = SqlStore(f"sqlite:///{tmp_path / 's.db'}")

    class Lost(RecordingExecutor):
        def execute(self, run: Run, devices: Sequence[Device], checks: Sequence[str], observer: Observer) -> None:
            super().execute(run, devices[:3], checks, observer)
            raise BrokerError("broker went away")

    eng = _engine(tmp_path, store, FakeSsh())
    eng.executor = Lost(store)
    with pytest.raises(BrokerError):
        eng.run(list(inv), ["ipv6"], {})
    [run] = store.runs("net.audit")
    assert run.status == "interrupted" and run.summary["devices"] == 3
    assert len(store.done_targets(run.id)) == 3


class FakeTask:
    def __init__(self) -> None:
        self.retries: list[int] = []

    def retry(self, countdown: int, max_retries: int) -> Exception:
        self.retries.append(countdown)
        return RuntimeError("retry")


def _worker(monkeypatch: pytest.MonkeyPatch, url: str, engine: AuditEngine) -> None:
    from govops.network import distributed

    monkeypatch.setattr(distributed, "_PARENT", [(engine, url)])
    monkeypatch.setattr(distributed, "_ENGINES", {})
    monkeypatch.setattr(distributed, "_STORES", {})


def test_the_engine_pool_gives_each_thread_its_own_engine_on_one_connection_and_keeps_the_engines_processes(
    tmp_path: Path, inv: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses
    import threading

    from govops.network import distributed

    url = f"sqlite:///{tmp_path / 's.db'}"
    store = OnceStore(url)
    run = store.start_run("net.audit", {})
    shared = _engine(tmp_path, store, FakeSsh())
    # the engine pool's engine: SSH and SNMP in processes of its own, as the local audit's
    shared.settings = dataclasses.replace(shared.settings, ssh_processes=1, snmp_processes=1)
    _worker(monkeypatch, url, shared)
    got: dict[str, AuditEngine] = {}
    # both alive at once, as a pool's threads are (a finished thread's ident may be reused)
    together = threading.Barrier(2, timeout=10)

    def in_thread(name: str) -> None:
        together.wait()
        got[name] = distributed._engine()
        assert distributed._engine() is got[name]  # kept from batch to batch
        together.wait()

    threads = [threading.Thread(target=in_thread, args=(n,)) for n in ("t1", "t2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a, b = got["t1"], got["t2"]
    # one store connection per process, whatever the number of threads (PostgreSQL's max_connections)
    assert a is not b and a.store is b.store is distributed._process_store()
    assert isinstance(a.store, OnceStore) and isinstance(b.store, OnceStore)
    assert a.snmp_factory is shared.snmp_factory  # its SNMP processes make their own collectors
    assert a.settings.ssh_processes == 1 and a.settings.snmp_processes == 1
    # and a batch run by such an engine records each device once
    devices = list(inv)[:3]
    a.settings = dataclasses.replace(a.settings, ssh_processes=0, snmp_processes=0)  # the fakes stay in-process
    assert len(a.run_batch(run.id, devices, ["ipv6"])) == 3
    assert b.run_batch(run.id, devices, ["ipv6"]) == []
    assert set(store.result_statuses(run.id)) == {d.hostname for d in devices}
    # the engine pool proper: batches from several threads on one engine loop, each device once
    shared.settings = dataclasses.replace(shared.settings, ssh_processes=0, snmp_processes=0)
    monkeypatch.setattr(distributed, "_POOL", ["engine"])
    monkeypatch.setattr(distributed, "_SHARED", [])
    run2 = store.start_run("net.audit", {})
    data = [device_to_data(d) for d in list(inv)[:6]]
    outs: list[dict[str, object]] = []
    batches = [data[:4], data[2:]]  # overlapping: as a redelivered batch would
    workers = [
        threading.Thread(target=lambda b=b: outs.append(distributed.audit_batch(FakeTask(), run2.id, ["ipv6"], b)))
        for b in batches
    ]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    [loop] = distributed._SHARED
    loop.loop.call_soon_threadsafe(loop.loop.stop)
    done = [h for o in outs for h in o["devices"]]  # type: ignore[attr-defined]
    assert set(done) == {d["hostname"] for d in data}
    # two batches racing on a device (as two workers may) leave one result
    assert sorted(r.target for r in store.results(run2.id)) == sorted(d["hostname"] for d in data)
    assert "--pool=threads" in distributed.worker_argv(["q"], 2, "INFO", "n", "engine")
    assert "--pool=prefork" in distributed.worker_argv(["q"], 8, "INFO", "n")


def test_a_batch_the_worker_cannot_run_ends_its_devices_with_the_reason(
    tmp_path: Path, inv: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from govops.errors import ConfigError
    from govops.network.distributed import audit_batch

    url = f"sqlite:///{tmp_path / 's.db'}"
    store = SqlStore(url)
    run = store.start_run("net.audit", {})

    def broken(*_a: object) -> list[DeviceResult]:
        raise ConfigError("rules.yaml:3: unknown key 'sevrity'")

    eng = _engine(tmp_path, store, FakeSsh())
    monkeypatch.setattr(eng, "run_batch", broken)
    _worker(monkeypatch, url, eng)
    devices = [device_to_data(d) for d in list(inv)[:3]]
    audit_batch(FakeTask(), run.id, ["ipv6"], devices)
    statuses = store.result_statuses(run.id)
    assert set(statuses) == {d["hostname"] for d in devices}
    assert all(s == "error" and r is not None and "rules.yaml:3" in r for s, r in statuses.values())


def test_a_batch_of_a_run_no_longer_running_is_skipped_and_a_store_error_retried(
    tmp_path: Path, inv: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from govops.errors import StoreError
    from govops.network.distributed import audit_batch

    url = f"sqlite:///{tmp_path / 's.db'}"
    store = OnceStore(url)
    run = store.start_run("net.audit", {})
    store.finish_run(run.id, "interrupted", {})
    eng = _engine(tmp_path, store, FakeSsh())
    _worker(monkeypatch, url, eng)
    devices = [device_to_data(d) for d in list(inv)[:3]]
    out = audit_batch(FakeTask(), run.id, ["ipv6"], devices)
    assert out["skipped"] == 3 and store.result_statuses(run.id) == {}

    store.reopen_run(run.id)

    def down(*_a: object, **_k: object) -> set[str]:
        raise StoreError("store error: connection lost")

    monkeypatch.setattr(OnceStore, "done_targets", down)
    task = FakeTask()
    with pytest.raises(RuntimeError, match="retry"):
        audit_batch(task, run.id, ["ipv6"], devices)
    assert task.retries == [3]
    from govops.network import distributed

    # the process's connection is dropped with every engine using it: the next batch opens a new one
    assert distributed._STORES == {} and distributed._ENGINES == {}


def _config(tmp: Path, project: Path, store: str, network: str) -> Path:
    cfg = tmp / "govops.yaml"
    cfg.write_text(
        f"version: 1\nstore:\n  url: {store}\nnetwork:\n  inventory: {project / 'inventories' / 'extranet'}\n"
        + network,
        encoding="utf-8",
    )
    return cfg


def test_the_celery_executor_refuses_a_sqlite_store_and_a_missing_broker(cli, project: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = _config(tmp_path, project, f"sqlite:///{tmp_path / 's.db'}", "  broker: redis://127.0.0.1:1/0\n")
    r = cli("--config", str(cfg), "net", "audit", "--executor", "celery", "--limit", "2")
    assert r.code == 2 and "PostgreSQL" in r.err and "Traceback" not in r.err
    r = cli("--config", str(cfg), "worker")
    assert r.code == 2 and "PostgreSQL" in r.err
    cfg = _config(tmp_path, project, "postgresql://govops@127.0.0.1:1/govops", "  executor: celery\n")
    r = cli("--config", str(cfg), "worker")
    assert r.code != 0 and "Traceback" not in r.err


def test_a_bad_broker_url_is_a_config_error(cli, project: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = _config(tmp_path, project, f"sqlite:///{tmp_path / 's.db'}", "  broker: http://127.0.0.1:1/\n")
    r = cli("--config", str(cfg), "net", "audit", "--executor", "celery")
    assert r.code == 2 and "broker" in r.err


def test_the_broker_password_comes_from_the_environment_never_from_govops_yaml(
    cli, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from govops.config import load_config
    from govops.network.distributed import CelerySettings, display_broker, with_password

    cfg = _config(tmp_path, project, f"sqlite:///{tmp_path / 's.db'}", "  broker: redis://:s3cret-pw@127.0.0.1:1/0\n")
    r = cli("--config", str(cfg), "net", "audit", "--executor", "celery")
    assert r.code == 2 and "broker_password_env" in r.err and "s3cret-pw" not in r.err + r.out

    cfg = _config(
        tmp_path,
        project,
        f"sqlite:///{tmp_path / 's.db'}",
        "  broker: amqp://govops@127.0.0.1:5672//\n  broker_password_env: MY_BROKER_PW\n",
    )
    monkeypatch.setenv("MY_BROKER_PW", "p@ss/w:rd")
    settings = CelerySettings.from_config(load_config(cfg, project))
    assert settings.broker == "amqp://govops:p%40ss%2Fw%3Ard@127.0.0.1:5672//"
    assert display_broker(settings.broker) == "amqp://***@127.0.0.1:5672//"
    assert with_password("redis://127.0.0.1:6379/0", "pw") == "redis://:pw@127.0.0.1:6379/0"
    monkeypatch.delenv("MY_BROKER_PW")
    assert CelerySettings.from_config(load_config(cfg, project)).broker == "amqp://govops@127.0.0.1:5672//"


def test_a_tls_redis_broker_must_verify_its_certificate(cli, project: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from govops.config import load_config

    cfg = _config(tmp_path, project, f"sqlite:///{tmp_path / 's.db'}", "  broker: rediss://127.0.0.1:6380/0\n")
    r = cli("--config", str(cfg), "net", "audit", "--executor", "celery")
    assert r.code == 2 and "ssl_cert_reqs=required" in r.err
    url = "rediss://127.0.0.1:6380/0?ssl_cert_reqs=required&ssl_ca_certs=/etc/govops/ca.pem"
    cfg = _config(tmp_path, project, f"sqlite:///{tmp_path / 's.db'}", f"  broker: {url}\n")
    assert load_config(cfg, project).config.network.broker == url


class CountingStore(SqlStore):
    """A store that counts the result rows each poll reads back."""

    rows_read = 0

    def results_since(self, run_id: str, since: str) -> list[tuple[str, str, str | None, str]]:
        rows = super().results_since(run_id, since)
        self.rows_read += len(rows)
        return rows


def _stamp(store: SqlStore, run_id: str, target: str, at: str) -> None:
    store._exec("UPDATE results SET finished_at = ? WHERE run_id = ? AND target = ?", (at, run_id, target))


def test_following_a_run_reads_each_new_result_about_once(tmp_path: Path) -> None:
    store = CountingStore(f"sqlite:///{tmp_path / 's.db'}")
    run = store.start_run("net.audit", {})
    feed = _ResultFeed(store, run.id)
    assert feed.poll() == {} and store.rows_read == 0
    for i in range(200):
        store.record_result(run.id, f"h{i:03d}", "ok", None, {})
        # ten minutes apart: the feed's margin (a minute) holds only the newest one
        at = datetime(2026, 12, 7, tzinfo=UTC) + timedelta(minutes=10 * i)
        _stamp(store, run.id, f"h{i:03d}", at.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
        assert feed.poll() == {f"h{i:03d}": ("ok", None)}  # only what is new
    assert len(feed.statuses) == 200
    assert store.rows_read < 2 * 200  # a full read per poll would be 200 * 201 / 2 = 20,100 rows
    before = store.rows_read
    assert feed.poll() == {}
    assert store.rows_read == before  # nothing new: only the count is asked


def test_a_result_stamped_before_the_window_is_still_seen(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 's.db'}")
    run = store.start_run("net.audit", {})
    feed = _ResultFeed(store, run.id)
    store.record_result(run.id, "a", "ok", None, {})
    _stamp(store, run.id, "a", "2026-12-07T12:00:00.000Z")
    assert feed.poll() == {"a": ("ok", None)}
    # another machine's clock runs an hour slow: its result is older than the window
    store.record_result(run.id, "b", "timeout", "slow", {})
    _stamp(store, run.id, "b", "2026-12-07T11:00:00.000Z")
    assert feed.poll() == {"b": ("timeout", "slow")}
    # the margin now covers that hour: the slow clock's next result is found without a full read
    store.record_result(run.id, "c", "ok", None, {})
    _stamp(store, run.id, "c", "2026-12-07T11:00:01.000Z")
    full_reads = []
    real = store.results_since
    store.results_since = lambda run_id, since: full_reads.append(since) or real(run_id, since)  # type: ignore[method-assign]
    assert feed.poll() == {"c": ("ok", None)}
    assert full_reads and "" not in full_reads
    assert feed.statuses.keys() == {"a", "b", "c"}


def test_a_remediation_plan_travels_as_json_data_and_comes_back_equal(inv: Inventory) -> None:
    import json

    from govops.network.distributed import plan_from_data, plan_to_data
    from govops.network.remediation.plan import DevicePlan, PlanItem

    d = next(iter(inv))
    items = [
        PlanItem("baseline.http_off", "planned", None, ["undo http server enable"], ["http server enable"]),
        PlanItem("baseline.aaa_login", "manual", "by hand"),
    ]
    p = DevicePlan(d.hostname, "huawei_vrp", d.site.code, d.county, d.level, items)
    back = plan_from_data(json.loads(json.dumps(plan_to_data(p))))
    assert back == p and back.session_lines() == p.session_lines()


def test_a_remediation_outcome_replaces_only_a_not_started_skip(tmp_path: Path) -> None:
    store = OnceStore(f"sqlite:///{tmp_path / 's.db'}")
    run = store.start_run("net.remediate", {})
    store.record_result(run.id, "a", "skipped", "max failures", {"not_started": True})
    store.record_result(run.id, "a", "verified", None, {"not_started": False})
    store.record_result(run.id, "a", "failed", "late duplicate", {"not_started": False})
    assert [(r.target, r.status) for r in store.results(run.id)] == [("a", "verified")]


class _Producer:
    def __enter__(self) -> _Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _FakeApp:
    """Celery's publishing side, recorded: (task, queue, args) per message."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, tuple[object, ...]]] = []

    def producer_or_acquire(self) -> _Producer:
        return _Producer()

    def send_task(self, name: str, *, args: tuple[object, ...], queue: str, **_: object) -> None:
        self.sent.append((name, queue, args))


def test_a_remediation_is_published_by_route_without_secrets_and_followed_in_the_store(
    tmp_path: Path, inv: Inventory
) -> None:
    import json

    from govops.network.distributed import REMEDIATE_TASK, CeleryExecutor, plan_from_data
    from govops.network.remediation.engine import RemediationSettings
    from govops.network.remediation.plan import DevicePlan, PlanItem

    store = SqlStore(f"sqlite:///{tmp_path / 's.db'}")
    county = sorted({d.county for d in inv if d.county})[0]
    devices = {d.hostname: d for d in list(inv)[:12]}
    plans = [
        DevicePlan(h, "huawei_vrp", d.site.code, d.county, d.level, [PlanItem("r", "planned", None, ["x"], ["undo x"])])
        for h, d in devices.items()
    ]
    run = store.start_run("net.remediate", {})
    for h in devices:  # the workers' outcomes, already in the store: following ends at once
        store.record_result(run.id, h, "verified", None, {})
    app = _FakeApp()
    ex = CeleryExecutor(app, store, routes={county: "q-county"}, batch_size=5, broker_display="x", check_workers=False)  # type: ignore[arg-type]
    ex._broker_problem = lambda: None  # type: ignore[method-assign]
    observer = RecordingObserver()
    ex.remediate(run, plans, devices, RemediationSettings(workers=3), observer)
    assert {name for name, _q, _a in app.sent} == {REMEDIATE_TASK}
    seen: dict[str, str] = {}
    for _name, queue, args in app.sent:
        run_id, settings, items = args
        assert run_id == run.id and settings == RemediationSettings(workers=3).to_dict() and len(items) <= 5  # type: ignore[arg-type]
        for item in items:  # type: ignore[attr-defined]
            back = plan_from_data(item["plan"])
            assert back.planned[0].lines == ["x"]
            seen[back.hostname] = queue
    assert seen == {h: "q-county" if d.county == county else DEFAULT_QUEUE for h, d in devices.items()}
    assert "x-value-1234" not in json.dumps([a for _n, _q, a in app.sent])
    assert {e[1] for e in observer.events if e[0] == "advanced"} == set(devices)
