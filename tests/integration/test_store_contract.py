"""The results store's contract, run against SQLite and a real PostgreSQL server (same assertions)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from govops.credentials import Secret
from govops.errors import NotFoundError, StoreError
from govops.store import SCHEMA_VERSION, SqlStore

from tests.conftest import need
from tests.integration.postgres import pg_bindir, postgres_server


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    if pg_bindir() is None:
        need("initdb")  # skips on a developer machine, fails in CI
    need(module="psycopg")
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        s = SqlStore(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        import psycopg

        url: str = request.getfixturevalue("pg_url")
        # Each test starts from an empty database: drop what a previous test migrated.
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        s = SqlStore(url)
    yield s
    s.close()


def test_schema_is_migrated_once(store: SqlStore) -> None:
    assert store.schema_version() == SCHEMA_VERSION
    again = SqlStore(store.url)
    assert again.schema_version() == SCHEMA_VERSION
    again.close()


def test_a_newer_schema_is_refused(store: SqlStore) -> None:
    store._exec("INSERT INTO schema_migrations VALUES (?, ?, ?)", (SCHEMA_VERSION + 1, "future", "now"))
    with pytest.raises(StoreError, match="newer than this govops") as info:
        SqlStore(store.url)
    password = store.url.split("@")[0].split(":")[-1] if "@" in store.url else None
    assert password is None or password not in str(info.value)


def test_runs_results_upsert_and_resume_bookkeeping(store: SqlStore) -> None:
    run = store.start_run("net.audit", {"checks": ["ipv6"], "名称": "公安局"})
    store.record_result(run.id, "r1", "ok", None, {"findings": []})
    store.record_result(run.id, "r2", "timeout", "no answer in 30 s", {})
    store.record_result(run.id, "r2", "ok", None, {"retried": True})
    assert store.done_targets(run.id) == {"r1", "r2"}
    assert sorted((r.target, r.status) for r in store.results(run.id)) == [("r1", "ok"), ("r2", "ok")]
    store.finish_run(run.id, "finished", {"ok": 2})
    got = store.get_run(run.id)
    assert (got.status, got.summary, got.params["名称"]) == ("finished", {"ok": 2}, "公安局")
    assert [r.id for r in store.runs("net.audit")] == [run.id]
    with pytest.raises(NotFoundError):
        store.get_run("no-such-run")


def test_results_of_named_targets_read_only_those_in_results_order(store: SqlStore) -> None:
    run = store.start_run("net.audit", {})
    other = store.start_run("net.audit", {})
    for i in range(1100):  # more targets than one statement takes (500 each)
        store.record_result(run.id, f"h{i:04d}", "ok", None, {"n": i})
    store.record_result(other.id, "h0001", "timeout", None, {"n": -1})
    wanted = [f"h{i:04d}" for i in range(1099, 0, -2)] + ["absent"]
    got = store.results_of(run.id, wanted)
    assert [r.target for r in got] == sorted(wanted[:-1])
    assert all(r.run_id == run.id and r.data["n"] == int(r.target[1:]) for r in got)
    assert store.result_count(run.id) == 1100 and store.results_of(run.id, []) == []


def test_journal_snapshots_and_pinned_host_keys(store: SqlStore) -> None:
    first = store.journal_add("run1", "create", "server", "uuid-1", {"name": "a"})
    second = store.journal_add("run1", "delete", "server", "uuid-1", {})
    assert second > first
    assert [e.action for e in store.journal("run1")] == ["create", "delete"]
    store.record_snapshot("department", "gaj", {"cores_used": 10}, taken_at="2026-01-01T00:00:00Z")
    store.record_snapshot("department", "gaj", {"cores_used": 12}, taken_at="2026-02-01T00:00:00Z")
    assert [x["data"]["cores_used"] for x in store.snapshots("department", "gaj")] == [10, 12]
    assert [x["data"]["cores_used"] for x in store.snapshots("department", since="2026-01-15")] == [12]
    store.pin_host_key("r1", "ssh-ed25519", "SHA256:abc")
    store.pin_host_key("r1", "ssh-ed25519", "SHA256:changed")
    assert store.host_key("r1") == ("ssh-ed25519", "SHA256:abc")
    assert store.host_key("r2") is None


def test_secrets_handed_out_are_scrubbed_before_storage(store: SqlStore) -> None:
    secret = Secret("pa55-in-an-error-" + store.url[:8])
    run = store.start_run("net.audit", {})
    store.record_result(run.id, "r1", "auth_failed", f"login refused for {secret.reveal()}", {"x": secret.reveal()})
    (row,) = store.results(run.id)
    assert secret.reveal() not in (row.reason or "") and secret.reveal() not in repr(row.data)


def test_bad_postgres_password_is_one_line_without_the_password(pg_url: str) -> None:
    wrong = pg_url.replace("govops:", "govops:x", 1)
    with pytest.raises(StoreError) as info:
        SqlStore(wrong)
    message = str(info.value)
    assert "127.0.0.1" in message and "\n" not in message
    assert pg_url.split(":")[2].split("@", maxsplit=1)[0] not in message
