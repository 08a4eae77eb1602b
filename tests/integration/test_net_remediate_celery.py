"""`govops net remediate --executor celery` on real peers: two twin labs, Redis, PostgreSQL, one `govops worker`.

Remediation writes to devices, so this module starts labs of its own (never the shared one): two
small extranet labs of the same seed with configuration faults (one device rejects a line, one
drops the session mid-push), identical devices on different ports. One is remediated locally
(SQLite store), the other over Celery (the lab's Redis broker, a private PostgreSQL, one worker of
the default engine pool, its threads sharing one store connection);
both must end with the same per-device statuses and the same device configurations.

Then a batch of the Celery run is delivered again (as Redis does after a lost worker), with one
device's outcome gone as if its worker died between the push and the record: nothing is pushed
twice, and that device is checked on the device (its change is there: ``verified``, no line sent).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, need
from tests.integration.conftest import ExtranetLabInfo, load_lab_info
from tests.integration.postgres import pg_bindir, postgres_server
from tests.integration.test_net_audit_celery import Cluster, _write_config, broker_traffic
from tests.integration.test_net_remediate import FIXABLE, config_faulty, running_state

pytestmark = pytest.mark.integration
DEVICES = 12  # enough for both configuration faults and a few healthy devices of each platform
SEED = 7


@dataclass
class Twins:
    local: ExtranetLabInfo
    local_config: Path
    cluster: Cluster


def _lab(base: Path, name: str) -> Any:
    from govops.lab.core import Lab, LabOptions
    from govops.observer import NullObserver

    lab = Lab(base / name, REPO)
    lab.up(["extranet"], LabOptions(devices=DEVICES, seed=SEED, faults=0.0, config_faults=True), NullObserver())
    return lab


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twins]:
    need(module="asyncssh")
    need(module="snmpsim")
    need(binary="snmpd")
    need(binary="redis-server")
    need(module="celery")
    need(module="psycopg")
    if pg_bindir() is None:
        need(binary="initdb")
    from govops.lab.core import Lab, LabOptions
    from govops.observer import NullObserver

    work = tmp_path_factory.mktemp("remediate-celery")
    labs: list[Any] = []
    broker_lab = Lab(work / "broker", REPO)
    try:
        labs = [_lab(work, "local"), _lab(work, "remote")]
        local, remote = (load_lab_info(lab.dir) for lab in labs)
        assert set(local.truth["devices"]) == set(remote.truth["devices"])
        with postgres_server() as pg_url:
            broker_lab.up(["broker"], LabOptions(), NullObserver())
            broker = broker_lab.state()["components"]["broker"]["config"]["network"]["broker"]
            network = {"broker": broker, "batch_size": 4, "visibility_timeout": 30}
            cfg = _write_config(remote, work / "govops.yaml", pg_url, network)
            local_cfg = _write_config(local, work / "local.yaml", f"sqlite:///{work / 'local.db'}", {})
            c = Cluster(remote, work, cfg, local_cfg, pg_url, broker_lab)
            try:
                c.start_worker("w1", "govops", 2, pool="engine")  # the default pool
                yield Twins(local, local_cfg, c)
            finally:
                for w in c.workers.values():
                    if w.proc.poll() is None:
                        w.proc.send_signal(signal.SIGTERM)
                for w in c.workers.values():
                    w.stop(wait=10)
    finally:
        broker_lab.down()
        for lab in labs:
            lab.down()


def _cli(env: dict[str, str], config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "govops", "--config", str(config), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    return p


def _local(t: Twins, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**t.cluster.env(), **t.local.env}  # the local twin's own device secrets
    return _cli(env, t.local_config, *args)


def _remote(t: Twins, *args: str) -> subprocess.CompletedProcess[str]:
    return _cli(t.cluster.env(), t.cluster.config, *args)


def _outcomes(p: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    devices = json.loads(p.stdout)["devices"]
    by_host = {d["hostname"]: d for d in devices}
    assert len(by_host) == len(devices), "a device listed twice"
    return by_host


def _audit_run(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode in (0, 3), p.stderr[-2000:]
    return str(json.loads(p.stdout)["run"]["id"])


def _pushes(t: Twins, run_id: str) -> dict[str, int]:
    rows = t.cluster.sql(
        "SELECT resource_id, COUNT(*) FROM journal WHERE run_id = %s AND action = 'push' GROUP BY resource_id", run_id
    )
    return {str(h): int(n) for h, n in rows}


def _states(lab: ExtranetLabInfo) -> dict[str, Any]:
    return {h: running_state(lab, h) for h in lab.truth["devices"]}


def test_a_celery_remediation_equals_a_local_one_and_a_redelivered_batch_applies_nothing_twice(twins: Twins) -> None:
    t = twins
    rules = ",".join(FIXABLE)
    local_audit = _audit_run(_local(t, "-o", "json", "net", "audit"))
    remote_audit = _audit_run(_remote(t, "-o", "json", "net", "audit", "--executor", "celery"))

    # a dry run over Celery: the same plan, computed from the shared store, and nothing written
    dry = _remote(t, "-o", "json", "net", "remediate", remote_audit, "--rules", rules, "--executor", "celery")
    assert dry.returncode == 0, dry.stderr[-2000:]
    local_dry = _local(t, "-o", "json", "net", "remediate", local_audit, "--rules", rules)
    assert _outcomes(dry) == _outcomes(local_dry)
    assert all(s is None for s in _states(t.cluster.lab).values())
    planned = [h for h, d in _outcomes(dry).items() if d["session"]]
    assert len(planned) >= 4 and set(config_faulty(t.cluster.lab)) <= set(planned)

    apply = ("-o", "json", "net", "remediate", "--rules", rules, "--apply", "--yes")
    here = _local(t, *apply, local_audit)
    with broker_traffic(t.cluster) as traffic:
        there = _remote(t, *apply, remote_audit, "--executor", "celery")
    assert there.returncode == here.returncode == 3, there.stderr[-2000:]  # the two faulty devices rolled back
    a, b = _outcomes(here), _outcomes(there)
    assert set(a) == set(b) == set(_outcomes(dry))  # each device with its outcome, "skipped" included
    for host in a:
        for key in ("status", "lines_sent", "before", "after"):
            assert b[host][key] == a[host][key], (host, key, a[host], b[host])
    for host, kind in config_faulty(t.cluster.lab).items():
        assert b[host]["status"] == "rolled_back", b[host]
        assert ("rejected" if kind == "config_reject" else "session lost") in b[host]["reason"]
    verified = [h for h, o in b.items() if o["status"] == "verified"]
    assert verified
    # the devices themselves: each twin's running configuration as the local remediation left it
    assert _states(t.cluster.lab) == _states(t.local)
    run_id = str(json.loads(there.stdout)["run"]["id"])
    assert json.loads(there.stdout)["run"]["status"] == "finished"
    assert t.cluster.workers["w1"].hosts(run_id) == set(b)  # the worker did them, not the coordinator
    pushes = _pushes(t, run_id)
    assert pushes and all(n == 1 for n in pushes.values())
    # the plans went through the broker, the device secrets did not (each worker has its own)
    sent = "\n".join(traffic)
    assert run_id in sent and '"credential": "extranet-ssh"' in sent
    secrets = [v for fields in t.cluster.lab.credentials.values() for f, v in fields.items() if "user" not in f]
    assert secrets and not [s for s in secrets if s in sent]

    # a batch delivered again, one of its devices without an outcome (its worker "died" after the push)
    victim = verified[0]
    batch = [victim, *verified[1:3]]
    before = {
        str(h): str(f) for h, f in t.cluster.sql("SELECT target, finished_at FROM results WHERE run_id = %s", run_id)
    }
    states = _states(t.cluster.lab)
    _write(t, "DELETE FROM results WHERE run_id = %s AND target = %s", run_id, victim)
    _write(t, "UPDATE runs SET status = 'running' WHERE id = %s", run_id)
    _redeliver(t, run_id, batch, json.loads(dry.stdout)["devices"])
    deadline = time.monotonic() + 120
    while not t.cluster.sql("SELECT 1 FROM results WHERE run_id = %s AND target = %s", run_id, victim):
        assert time.monotonic() < deadline, t.cluster.workers["w1"].text()[-3000:]
        time.sleep(0.2)
    [(status, reason, data)] = t.cluster.sql(
        "SELECT status, reason, data FROM results WHERE run_id = %s AND target = %s", run_id, victim
    )
    data = data if isinstance(data, dict) else json.loads(data)
    assert status == "verified" and "not pushed again" in reason and data["lines_sent"] == 0, (status, reason)
    assert _pushes(t, run_id) == pushes  # not one new push journalled, for any device of the batch
    after = {
        str(h): str(f) for h, f in t.cluster.sql("SELECT target, finished_at FROM results WHERE run_id = %s", run_id)
    }
    assert {h: f for h, f in after.items() if h != victim} == {h: f for h, f in before.items() if h != victim}
    assert _states(t.cluster.lab) == states


def _write(t: Twins, query: str, *params: Any) -> None:
    import psycopg

    with psycopg.connect(t.cluster.pg_url, autocommit=True) as conn:
        conn.execute(query, params)


def _redeliver(t: Twins, run_id: str, hosts: list[str], plans: list[dict[str, Any]]) -> None:
    """The batch's task message again, as the coordinator sent it (same task, queue and data)."""
    from govops.network.distributed import (
        REMEDIATE_TASK,
        CelerySettings,
        celery_app,
        device_to_data,
        plan_from_data,
        plan_to_data,
        with_password,
    )
    from govops.network.inventory import load_inventory
    from govops.network.remediation.engine import RemediationSettings

    inv = load_inventory(t.cluster.lab.inventory)
    by_host = {p["hostname"]: p for p in plans}
    broker = t.cluster.broker_lab.state()["components"]["broker"]["config"]["network"]["broker"]
    app = celery_app(CelerySettings(with_password(broker, t.cluster.broker_password()), socket_timeout=5.0))
    items = [{"plan": plan_to_data(plan_from_data(by_host[h])), "device": device_to_data(inv.device(h))} for h in hosts]
    settings = RemediationSettings(workers=2, device_timeout=120.0, connect_timeout=10.0).to_dict()
    app.send_task(REMEDIATE_TASK, args=(run_id, settings, items), queue="govops")
