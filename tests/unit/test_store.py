from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from govops.credentials import Secret
from govops.errors import NotFoundError, StoreError
from govops.store import SCHEMA_VERSION, SqlStore


def test_migrations_apply_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    s = SqlStore(url)
    assert s.schema_version() == SCHEMA_VERSION
    s.close()
    assert SqlStore(url).schema_version() == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    s = SqlStore(url)
    s._exec("INSERT INTO schema_migrations VALUES (?, ?, ?)", (SCHEMA_VERSION + 1, "future", "now"))
    s.close()
    with pytest.raises(StoreError, match="newer than this govops"):
        SqlStore(url)


def test_runs_results_and_resume_bookkeeping(tmp_path: Path) -> None:
    s = SqlStore(f"sqlite:///{tmp_path / 's.db'}")
    run = s.start_run("net.audit", {"checks": ["ipv6"]})
    s.record_result(run.id, "r1", "ok", None, {"findings": []})
    s.record_result(run.id, "r2", "timeout", "no answer in 30 s", {})
    s.record_result(run.id, "r2", "ok", None, {"retried": True})  # upsert, never a twin
    assert s.done_targets(run.id) == {"r1", "r2"}
    assert [r.status for r in s.results(run.id)] == ["ok", "ok"]
    s.finish_run(run.id, "finished", {"ok": 2})
    got = s.get_run(run.id)
    assert got.status == "finished" and got.summary == {"ok": 2} and got.params == {"checks": ["ipv6"]}
    assert [r.id for r in s.runs("net.audit")] == [run.id]
    with pytest.raises(NotFoundError):
        s.get_run("nope")


def test_secrets_never_reach_the_store(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    s = SqlStore(f"sqlite:///{db}")
    secret = Secret("pa55-in-an-error")
    run = s.start_run("net.audit", {})
    s.record_result(run.id, "r1", "auth_failed", "login refused for pa55-in-an-error", {"x": secret.reveal()})
    s.close()
    assert b"pa55-in-an-error" not in db.read_bytes()
    for extra in ("-wal", "-shm"):
        p = Path(str(db) + extra)
        if p.exists():
            assert b"pa55-in-an-error" not in p.read_bytes()


def test_journal_snapshots_and_host_keys(tmp_path: Path) -> None:
    s = SqlStore(f"sqlite:///{tmp_path / 's.db'}")
    assert s.journal_add("run1", "create", "server", "uuid-1", {"name": "a"}) == 1
    assert s.journal_add("run1", "delete", "server", "uuid-1", {}) == 2
    assert [e.action for e in s.journal("run1")] == ["create", "delete"]
    s.record_snapshot("department", "gaj", {"cores_used": 10}, taken_at="2026-01-01T00:00:00Z")
    s.record_snapshot("department", "gaj", {"cores_used": 12}, taken_at="2026-02-01T00:00:00Z")
    assert [x["data"]["cores_used"] for x in s.snapshots("department", "gaj")] == [10, 12]
    assert s.snapshots("department", since="2026-01-15")[0]["data"]["cores_used"] == 12
    s.pin_host_key("r1", "ssh-ed25519", "SHA256:abc")
    s.pin_host_key("r1", "ssh-ed25519", "SHA256:changed")  # first use wins; changes are detected by callers
    assert s.host_key("r1") == ("ssh-ed25519", "SHA256:abc")
    assert s.host_key("r2") is None


def test_sigkill_loses_nothing_already_recorded(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    script = textwrap.dedent(f"""
        import sys, time
        from govops.store import SqlStore
        s = SqlStore("sqlite:///{db}")
        run = s.start_run("t", {{}}, run_id="R")
        for i in range(1000):
            s.record_result("R", f"t{{i:04d}}", "ok", None, {{}})
            if i == 99:
                print("ready", flush=True)
            time.sleep(0.01 if i >= 99 else 0)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = SqlStore(f"sqlite:///{db}").done_targets("R")
    assert len(done) >= 100
    assert {f"t{i:04d}" for i in range(100)} <= done


def test_postgres_url_without_driver_is_a_clear_error() -> None:
    pytest.importorskip("sqlite3")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        with pytest.raises(StoreError, match="psycopg"):
            SqlStore("postgresql://u:pw@127.0.0.1:1/db")
    else:
        with pytest.raises(StoreError) as exc:
            SqlStore("postgresql://u:hunter2@127.0.0.1:1/db")
        assert "hunter2" not in str(exc.value)


def test_unsupported_scheme() -> None:
    with pytest.raises(StoreError):
        SqlStore("mysql://x")
