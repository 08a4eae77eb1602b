"""`govops net audit --executor celery` on real peers: the faults lab, Redis, PostgreSQL, `govops worker`s.

Redis is the lab's own (``govops lab up --broker``), PostgreSQL the private server of
tests/integration/postgres.py; workers and coordinators are the real CLI in subprocesses, each
worker in a process group of its own, stopped (or killed) by its PID. Which worker audited which
device is read from the workers' logs ("batch started: HOSTS" / "batch done ...: HOSTS").

Routes: the county ``jb`` goes to queue ``county-jb``, read only by worker ``jb``; every other
device goes to ``govops``, read by the other workers. Worker ``a`` runs its batches with
``--pool engine`` (threads feeding the engine's SSH and SNMP processes), the others with Celery's
prefork pool, so both shapes are held to the same guarantees.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, need
from tests.integration.conftest import ExtranetLabInfo
from tests.integration.postgres import pg_bindir, postgres_server

pytestmark = pytest.mark.integration
COUNTY = "jb"
VISIBILITY_TIMEOUT = 15  # seconds before Redis hands a killed worker's task to another


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def batches(self, run_id: str, what: str = "started") -> list[list[str]]:
        """The host lists of this worker's "batch started" (or "done") lines of one run."""
        pattern = re.compile(rf"run {re.escape(run_id)}: batch {what}[^:]*: ?(.*)$")
        out = []
        for line in self.text().splitlines():
            m = pattern.search(line)
            if m:
                out.append(m.group(1).split())
        return out

    def hosts(self, run_id: str) -> set[str]:
        return {h for b in self.batches(run_id) for h in b}

    def stop(self, wait: float = 30) -> None:
        if self.proc.poll() is None:
            # the main process only: a warm shutdown lets it stop its pool processes itself
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        # the pool processes of the worker's group, if its main process went first
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


@dataclass
class Cluster:
    lab: ExtranetLabInfo
    dir: Path
    config: Path
    local_config: Path
    pg_url: str
    broker_lab: Any
    workers: dict[str, Worker] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        # the broker's password as on a real collector: from the environment, not govops.yaml
        broker_env = self.broker_lab.state()["components"]["broker"]["env"]
        return {**os.environ, **self.lab.env, **broker_env, "NO_COLOR": "1", "COLUMNS": "200"}

    def broker_password(self) -> str:
        return str(self.broker_lab.state()["components"]["broker"]["env"]["GOVOPS_BROKER_PASSWORD"])

    def start_worker(self, name: str, queues: str, concurrency: int, pool: str = "prefork") -> Worker:
        log = self.dir / f"worker-{name}.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "govops",
                    "--config",
                    str(self.config),
                    "worker",
                    "--queues",
                    queues,
                    "--concurrency",
                    str(concurrency),
                    "--name",
                    f"{name}@test",
                    "--pool",
                    pool,
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env(),
                start_new_session=True,
            )
        w = self.workers[name] = Worker(name, proc, log)
        deadline = time.monotonic() + 60
        while " ready." not in w.text():
            assert proc.poll() is None, f"worker {name} exited: {w.text()[-2000:]}"
            assert time.monotonic() < deadline, f"worker {name} not ready: {w.text()[-2000:]}"
            time.sleep(0.2)
        return w

    def audit(self, *args: str, config: Path | None = None, wait: bool = True) -> Any:
        cmd = [sys.executable, "-m", "govops", "--config", str(config or self.config), "net", "audit", *args]
        if not wait:
            return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env())
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env(), timeout=300, check=False)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            return list(conn.execute(query, params).fetchall())

    def latest_run(self) -> str | None:
        rows = self.sql("SELECT id FROM runs ORDER BY started_at DESC LIMIT 1")
        return str(rows[0][0]) if rows else None


def _write_config(lab: ExtranetLabInfo, path: Path, store: str, network: dict[str, Any]) -> Path:
    cfg = yaml.safe_load(lab.config.read_text(encoding="utf-8"))
    cfg["store"] = {"url": store}
    cfg.setdefault("network", {}).update(network)
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cluster(extranet_lab: ExtranetLabInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    need(binary="redis-server")
    need(module="celery")
    need(module="psycopg")
    if pg_bindir() is None:
        need(binary="initdb")  # PostgreSQL's binaries live outside PATH on Debian
    from govops.lab.core import Lab, LabOptions
    from govops.observer import NullObserver

    work = tmp_path_factory.mktemp("celery")
    broker_lab = Lab(work / "lab", REPO)
    with postgres_server() as pg_url:
        try:
            broker_lab.up(["broker"], LabOptions(), NullObserver())
            broker = broker_lab.state()["components"]["broker"]["config"]["network"]["broker"]
            network = {
                "broker": broker,
                "batch_size": 5,
                "visibility_timeout": VISIBILITY_TIMEOUT,
                "routes": {COUNTY: f"county-{COUNTY}"},
            }
            cfg = _write_config(extranet_lab, work / "govops.yaml", pg_url, network)
            local = _write_config(extranet_lab, work / "local.yaml", f"sqlite:///{work / 'local.db'}", {})
            c = Cluster(extranet_lab, work, cfg, local, pg_url, broker_lab)
            try:
                c.start_worker(COUNTY, f"county-{COUNTY}", 2)
                # the county's worker with Celery's pool processes, the others' with the engine's
                # (`--pool engine`): both shapes give the local audit's results
                c.start_worker("a", "govops", 2, pool="engine")
                yield c
            finally:
                for w in c.workers.values():  # all at once: each warm shutdown takes a few seconds
                    if w.proc.poll() is None:
                        w.proc.send_signal(signal.SIGTERM)
                for w in c.workers.values():
                    w.stop(wait=5)  # the end of the tests: no need to wait for leftover batches
        finally:
            broker_lab.down()


def _county(lab: ExtranetLabInfo, host: str) -> str:
    from govops.network.inventory import load_inventory

    return load_inventory(lab.inventory).device(host).county or ""


def _by_host(out: str) -> dict[str, dict[str, Any]]:
    data = json.loads(out)
    hosts = [d["hostname"] for d in data["devices"]]
    assert len(hosts) == len(set(hosts)), "a device listed twice"
    return {d["hostname"]: d for d in data["devices"]}


def _comparable(d: dict[str, Any]) -> dict[str, Any]:
    findings = sorted((f["rule"], f["status"], f["severity"], json.dumps(f.get("evidence"))) for f in d["findings"])
    return {
        "status": d["status"],
        "facts": d["facts"],
        "findings": findings,
        "ipv6_ready": d["ipv6_ready"],
        "collected": d["collected"],
    }


@contextlib.contextmanager
def broker_traffic(cluster: Cluster) -> Iterator[list[str]]:
    """Everything written to the broker meanwhile (Redis MONITOR), task bodies base64-decoded."""
    from urllib.parse import urlsplit

    need(binary="redis-cli")
    url = urlsplit(cluster.broker_lab.state()["components"]["broker"]["config"]["network"]["broker"])
    log = cluster.dir / "monitor.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            ["redis-cli", "-h", str(url.hostname), "-p", str(url.port), "monitor"],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "REDISCLI_AUTH": cluster.broker_password()},
        )
    out: list[str] = []
    try:
        time.sleep(0.3)  # MONITOR registered before the first command worth seeing
        yield out
    finally:
        proc.terminate()
        proc.wait(10)
    text = log.read_text(encoding="utf-8", errors="replace")
    out.append(text)
    for token in re.findall(r"[A-Za-z0-9+/]{24,}={0,2}", text):
        with contextlib.suppress(ValueError):
            out.append(base64.b64decode(token, validate=True).decode("utf-8", errors="replace"))


def test_a_celery_audit_equals_a_local_one_and_a_county_worker_gets_only_its_county(cluster: Cluster) -> None:
    # side by side: each waits mostly on the lab's slow and unreachable devices
    started = cluster.audit("-o", "json", config=cluster.local_config, wait=False)
    with broker_traffic(cluster) as traffic:
        remote = cluster.audit("--executor", "celery", "-o", "json")
    out, err = started.communicate(timeout=300)
    local = subprocess.CompletedProcess(started.args, started.returncode, out.decode(), err.decode())
    assert remote.returncode == local.returncode == 3, remote.stderr[-2000:]
    a, b = _by_host(local.stdout), _by_host(remote.stdout)
    assert set(a) == set(b) == set(cluster.lab.truth["devices"])
    for host in a:
        assert _comparable(b[host]) == _comparable(a[host]), host
        assert b[host]["status"] == cluster.lab.truth["devices"][host]["expected_status"], host
    assert json.loads(remote.stdout)["summary"] == json.loads(local.stdout)["summary"]
    run_id = json.loads(remote.stdout)["run"]["id"]
    assert json.loads(remote.stdout)["run"]["status"] == "finished"
    county_hosts = {h for h in b if _county(cluster.lab, h) == COUNTY}
    assert county_hosts
    assert cluster.workers[COUNTY].hosts(run_id) == county_hosts
    assert not cluster.workers["a"].hosts(run_id) & county_hosts
    # no secret went through the broker (each worker has its own), nor into the shared store;
    # the traffic did carry the run's task messages, with the credentials' names
    secrets = {
        v
        for fields in cluster.lab.credentials.values()
        for k, v in fields.items()
        if k in ("password", "auth_key", "priv_key", "community")
    }
    assert len(secrets) == 4
    sent = "\n".join(traffic)
    assert run_id in sent and next(iter(county_hosts)) in sent
    assert '"credential": "extranet-ssh"' in sent  # every device's SSH credential, by name
    stored = "\n".join(
        str(row) for row in cluster.sql("SELECT target, reason, data::text FROM results WHERE run_id = %s", run_id)
    )
    for secret in secrets:
        assert secret not in sent
        assert secret not in stored
    # nor the broker's own password in what the coordinator and the workers print
    assert len(cluster.broker_password()) >= 16
    for text in (remote.stdout, remote.stderr, *(w.text() for w in cluster.workers.values())):
        assert cluster.broker_password() not in text


def test_kill_9_of_a_worker_mid_run_loses_nothing_and_duplicates_nothing(cluster: Cluster) -> None:
    victim = cluster.start_worker("victim", "govops", 1)
    before = cluster.latest_run()
    coord = cluster.audit("--executor", "celery", "-o", "json", wait=False)
    try:
        deadline = time.monotonic() + 60
        run_id = None
        while run_id in (before, None):
            assert time.monotonic() < deadline, "the run did not start"
            run_id = cluster.latest_run()
            time.sleep(0.05)
        # a healthy device's batch takes a fraction of a second: watch closely
        while not victim.batches(run_id):
            assert time.monotonic() < deadline, "the victim never started a batch"
            time.sleep(0.01)
        os.killpg(victim.proc.pid, signal.SIGKILL)  # the worker and its pool process, no goodbye
        victim.proc.wait(10)
        started = victim.batches(run_id)
        done = {h for b in victim.batches(run_id, "done") for h in b}
        in_flight = [h for b in started for h in b if h not in done]
        out, err = coord.communicate(timeout=VISIBILITY_TIMEOUT * 2 + 120)
    finally:
        if coord.poll() is None:
            coord.kill()
    assert coord.returncode == 3, err.decode()[-2000:]
    devices = _by_host(out.decode())
    assert set(devices) == set(cluster.lab.truth["devices"])
    for host, d in devices.items():
        assert d["status"] == cluster.lab.truth["devices"][host]["expected_status"], host
    rows = cluster.sql("SELECT target, COUNT(*) FROM results WHERE run_id = %s GROUP BY target", run_id)
    assert len(rows) == len(devices) and all(n == 1 for _t, n in rows)
    # the killed worker's batch went to another worker, which did the devices not recorded yet
    assert in_flight
    others = set().union(*(w.hosts(run_id) for name, w in cluster.workers.items() if name != "victim"))
    assert set(in_flight) <= others


def test_the_broker_going_away_ends_the_run_resumable_and_resume_finishes_it(cluster: Cluster) -> None:
    from govops.observer import NullObserver

    before = cluster.latest_run()
    coord = cluster.audit("--executor", "celery", wait=False)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "no result recorded"
            run_id = cluster.latest_run()
            if run_id not in (before, None) and cluster.sql("SELECT 1 FROM results WHERE run_id = %s", run_id):
                break
            time.sleep(0.1)
        cluster.broker_lab.down(["broker"])
        _out, err = coord.communicate(timeout=60)
    finally:
        if coord.poll() is None:
            coord.kill()
        from govops.lab.core import LabOptions

        cluster.broker_lab.up(["broker"], LabOptions(), NullObserver())  # the same port and password again
    # as an operator would: resume once the workers are back on the broker (they retry with backoff)
    deadline = time.monotonic() + 60
    for w in cluster.workers.values():
        if w.proc.poll() is None:
            while w.text().count("Connected to redis") < 2:
                assert time.monotonic() < deadline, f"worker {w.name} did not reconnect: {w.text()[-2000:]}"
                time.sleep(0.2)
    message = err.decode()
    assert coord.returncode == 1, message
    assert "went away" in message and f"--resume {run_id}" in message, message
    assert "Traceback" not in message
    [(status,)] = cluster.sql("SELECT status FROM runs WHERE id = %s", run_id)
    assert status == "interrupted"
    resumed = cluster.audit("--executor", "celery", "--resume", str(run_id), "-o", "json")
    assert resumed.returncode == 3, resumed.stderr[-2000:]
    devices = _by_host(resumed.stdout)
    assert set(devices) == set(cluster.lab.truth["devices"])
    for host, d in devices.items():
        assert d["status"] == cluster.lab.truth["devices"][host]["expected_status"], host
    assert json.loads(resumed.stdout)["run"]["status"] == "finished"


def test_an_unreachable_broker_stops_the_coordinator_and_a_worker_with_one_clear_line(cluster: Cluster) -> None:
    from govops.lab.processes import free_port

    port = free_port()
    dead = f"redis://127.0.0.1:{port}/0"
    shown = f"broker redis://***@127.0.0.1:{port}/0 is unreachable"  # a password is set (the env's)
    cfg = _write_config(cluster.lab, cluster.dir / "dead-broker.yaml", cluster.pg_url, {"broker": dead})
    worker = subprocess.run(
        [sys.executable, "-m", "govops", "--config", str(cfg), "worker"],
        capture_output=True,
        text=True,
        env=cluster.env(),
        timeout=60,
        check=False,
    )
    assert worker.returncode == 1, worker.stderr[-2000:]
    assert shown in worker.stderr and "did not start" in worker.stderr
    assert "Traceback" not in worker.stderr
    before = cluster.latest_run()
    coord = cluster.audit("--executor", "celery", "--limit", "3", config=cfg)
    assert coord.returncode == 1, coord.stderr[-2000:]
    run_id = cluster.latest_run()
    assert run_id not in (before, None)
    assert shown in coord.stderr and f"--resume {run_id}" in coord.stderr
    assert "Traceback" not in coord.stderr
    assert cluster.broker_password() not in worker.stderr + coord.stderr
    [(status,)] = cluster.sql("SELECT status FROM runs WHERE id = %s", run_id)
    assert status == "interrupted"
