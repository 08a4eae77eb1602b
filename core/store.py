"""The results store: runs, per-target results, capacity snapshots, journals, pinned host keys.

SQLite by default (a file under the XDG data dir), PostgreSQL by URL. Every write commits at
once, so a crash or SIGKILL loses nothing already collected. The schema is versioned by the
numbered migrations below, applied in order when the store opens.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from govops import __version__, paths
from govops.credentials import redact, redact_url, register_url_secrets
from govops.errors import DamagedRow, NotFoundError, StoreError
from govops.i18n import Msg, Text

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "runs, results, capacity snapshots, journal, host keys",
        [
            """CREATE TABLE runs (
                id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL,
                started_at TEXT NOT NULL, finished_at TEXT,
                params TEXT NOT NULL DEFAULT '{}', summary TEXT NOT NULL DEFAULT '{}',
                govops_version TEXT)""",
            "CREATE INDEX runs_kind_started ON runs (kind, started_at)",
            """CREATE TABLE results (
                run_id TEXT NOT NULL REFERENCES runs (id), target TEXT NOT NULL,
                status TEXT NOT NULL, reason TEXT, data TEXT NOT NULL DEFAULT '{}',
                finished_at TEXT NOT NULL, PRIMARY KEY (run_id, target))""",
            """CREATE TABLE capacity_snapshots (
                id TEXT PRIMARY KEY, taken_at TEXT NOT NULL, scope TEXT NOT NULL,
                subject TEXT NOT NULL, data TEXT NOT NULL)""",
            "CREATE INDEX capacity_scope ON capacity_snapshots (scope, subject, taken_at)",
            """CREATE TABLE journal (
                run_id TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL, action TEXT NOT NULL,
                resource_type TEXT NOT NULL, resource_id TEXT, data TEXT NOT NULL DEFAULT '{}',
                PRIMARY KEY (run_id, seq))""",
            """CREATE TABLE host_keys (
                host TEXT PRIMARY KEY, key_type TEXT NOT NULL, fingerprint TEXT NOT NULL,
                first_seen TEXT NOT NULL)""",
        ],
    ),
    (
        2,
        "results by finish time, for a coordinator's incremental polls",
        ["CREATE INDEX results_run_finished ON results (run_id, finished_at)"],
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_run_id() -> str:
    """Sortable and short enough to type: ``20261125T061500-3f9a1c``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def _dumps(data: Any) -> str:
    return redact(json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":")))


def _loads(text: Any, where: str) -> Any:
    """A JSON column's value; a damaged row (edited by hand, a torn write) is a ``StoreError`` naming it."""
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        detail: Text = (
            Msg("err.store.json_at", line=exc.lineno, col=exc.colno) if isinstance(exc, json.JSONDecodeError) else ""
        )
        raise DamagedRow(
            Msg("err.store.damaged", where=where, detail=detail),
            hint=Msg("err.store.hint_damaged"),
        ) from None


@dataclass(frozen=True)
class Run:
    id: str
    kind: str
    status: str
    started_at: str
    finished_at: str | None
    params: dict[str, Any]
    summary: dict[str, Any]
    damaged: str | None = None  # a listed run whose JSON is damaged: status "damaged", this says why


@dataclass(frozen=True)
class TargetResult:
    run_id: str
    target: str
    status: str
    reason: str | None
    data: dict[str, Any]
    finished_at: str


@dataclass(frozen=True)
class JournalEntry:
    run_id: str
    seq: int
    at: str
    action: str
    resource_type: str
    resource_id: str | None
    data: dict[str, Any]


class Store(Protocol):
    """The port services write results through."""

    url: str

    def start_run(self, kind: str, params: dict[str, Any], run_id: str | None = None) -> Run: ...
    def get_run(self, run_id: str) -> Run: ...
    def runs(self, kind: str | None = None, limit: int = 50) -> list[Run]: ...
    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None: ...
    def record_result(
        self, run_id: str, target: str, status: str, reason: str | None, data: dict[str, Any]
    ) -> None: ...
    def results(self, run_id: str) -> list[TargetResult]: ...
    def result_statuses(self, run_id: str) -> dict[str, tuple[str, str | None]]: ...
    def done_targets(self, run_id: str) -> set[str]: ...
    def record_snapshot(self, scope: str, subject: str, data: dict[str, Any], taken_at: str | None = None) -> str: ...
    def snapshots(self, scope: str, subject: str | None = None, since: str | None = None) -> list[dict[str, Any]]: ...
    def journal_add(
        self, run_id: str, action: str, resource_type: str, resource_id: str | None, data: dict[str, Any]
    ) -> int: ...
    def journal(self, run_id: str) -> list[JournalEntry]: ...
    def host_key(self, host: str) -> tuple[str, str] | None: ...
    def pin_host_key(self, host: str, key_type: str, fingerprint: str) -> None: ...
    def schema_version(self) -> int: ...
    def close(self) -> None: ...


class SqlStore:
    """One DB-API connection behind a lock; SQLite or PostgreSQL chosen by URL scheme."""

    def __init__(self, url: str) -> None:
        self.url = url
        register_url_secrets(url)  # a driver's message may quote the URL
        self._lock = threading.RLock()
        self._conn: Any
        if url.startswith("sqlite:"):
            self._paramstyle = "qmark"
            self._conn = self._open_sqlite(url)
        elif url.startswith(("postgresql:", "postgres:")):
            self._paramstyle = "format"
            self._conn = self._open_postgres(url)
        else:
            raise StoreError(Msg("err.store.scheme", scheme=url.split(":", 1)[0]))
        self._migrate()

    # -- connection -------------------------------------------------------
    @staticmethod
    def _open_sqlite(url: str) -> Any:
        import sqlite3

        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url[len("sqlite:") :]
        if path not in ("", ":memory:"):
            # device facts and configurations: readable by the owner only (SQLite gives its -wal
            # and -shm files the database file's mode)
            try:
                paths.private_dir(Path(path).parent)
            except OSError as exc:
                raise StoreError(Msg("err.store.mkdir", path=path, reason=exc.strerror)) from None
            with contextlib.suppress(OSError):  # sqlite3 names the problem better
                paths.private_file(Path(path))
        try:
            conn = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StoreError(Msg("err.store.open", path=path, reason=exc)) from None
        return conn

    @staticmethod
    def _open_postgres(url: str) -> Any:
        try:
            import psycopg
        except ImportError:
            raise StoreError(Msg("err.store.psycopg")) from None
        try:
            # A SQL_ASCII database would hand back bytes: ask for UTF-8 text whatever the server's default.
            return psycopg.connect(url, autocommit=True, client_encoding="utf8")
        except psycopg.Error as exc:
            # The URL may hold a password (user:pw@, ?password=): name only the host part, masked.
            host = redact_url(url).rsplit("@", maxsplit=1)[-1]
            raise StoreError(Msg("err.store.connect", host=host, reason=type(exc).__name__)) from None

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._paramstyle == "format" else sql

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            try:
                cur = self._conn.cursor()
                cur.execute(self._sql(sql), tuple(params))
                return cur
            except Exception as exc:  # both drivers' errors subclass their own DB-API Error
                if type(exc).__module__.split(".")[0] in ("sqlite3", "psycopg"):
                    raise StoreError(Msg("err.store.error", reason=redact(str(exc)))) from None
                raise

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._exec(sql, params).fetchall())

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self._exec("BEGIN")
            try:
                yield
            except BaseException:
                self._exec("ROLLBACK")
                raise
            self._exec("COMMIT")

    def _migrate(self) -> None:
        self._exec(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "description TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        applied = {r[0] for r in self._rows("SELECT version FROM schema_migrations")}
        if applied and max(applied) > SCHEMA_VERSION:
            raise StoreError(Msg("err.store.newer", store=self.display_url, version=max(applied), ours=SCHEMA_VERSION))
        for version, description, statements in MIGRATIONS:
            if version in applied:
                continue
            with self._transaction():
                for stmt in statements:
                    self._exec(stmt)
                self._exec("INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, description, now()))

    def schema_version(self) -> int:
        rows = self._rows("SELECT MAX(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- runs -------------------------------------------------------------
    def start_run(self, kind: str, params: dict[str, Any], run_id: str | None = None) -> Run:
        rid = run_id or new_run_id()
        started = now()
        self._exec(
            "INSERT INTO runs (id, kind, status, started_at, params, govops_version) VALUES (?, ?, ?, ?, ?, ?)",
            (rid, kind, "running", started, _dumps(params), __version__),
        )
        return Run(rid, kind, "running", started, None, params, {})

    def get_run(self, run_id: str) -> Run:
        rows = self._rows(
            "SELECT id, kind, status, started_at, finished_at, params, summary FROM runs WHERE id = ?",
            (run_id,),
        )
        if not rows:
            raise NotFoundError(Msg("err.store.unknown_run", run=run_id, store=self.display_url))
        return self._run(rows[0])

    def reopen_run(self, run_id: str) -> Run:
        self._exec("UPDATE runs SET status = 'running', finished_at = NULL WHERE id = ?", (run_id,))
        return self.get_run(run_id)

    @staticmethod
    def _run(r: tuple[Any, ...]) -> Run:
        return Run(
            r[0], r[1], r[2], r[3], r[4], _loads(r[5], f"runs '{r[0]}' params"), _loads(r[6], f"runs '{r[0]}' summary")
        )

    def runs(self, kind: str | None = None, limit: int = 50) -> list[Run]:
        sql = "SELECT id, kind, status, started_at, finished_at, params, summary FROM runs"
        params: list[Any] = []
        if kind:
            sql += " WHERE kind = ?"
            params.append(kind)
        sql += " ORDER BY started_at DESC, id DESC LIMIT ?"
        params.append(limit)
        return [self._listed_run(r) for r in self._rows(sql, params)]

    @classmethod
    def _listed_run(cls, r: tuple[Any, ...]) -> Run:
        """A run of a listing: one damaged row is shown as such, not an error hiding the others
        (scans for ``finished`` runs pass over it; ``get_run`` of it still fails, naming it)."""
        try:
            return cls._run(r)
        except DamagedRow as exc:
            return Run(r[0], r[1], "damaged", r[3], r[4], {}, {}, damaged=exc.message)

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        self._exec(
            "UPDATE runs SET status = ?, finished_at = ?, summary = ? WHERE id = ?",
            (status, now(), _dumps(summary), run_id),
        )

    # -- results ----------------------------------------------------------
    def record_result(self, run_id: str, target: str, status: str, reason: str | None, data: dict[str, Any]) -> None:
        # Upsert: a resumed run re-records a target only if it had not finished before.
        self._exec(
            "INSERT INTO results (run_id, target, status, reason, data, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (run_id, target) DO UPDATE SET status = excluded.status, reason = excluded.reason, "
            "data = excluded.data, finished_at = excluded.finished_at",
            (run_id, target, status, redact(reason) if reason else reason, _dumps(data), now()),
        )

    def record_result_once(
        self, run_id: str, target: str, status: str, reason: str | None, data: dict[str, Any]
    ) -> bool:
        """Record a target's result unless one is recorded already; True if this call wrote it.

        Workers of a distributed run may run a device twice (a redelivered task after a lost
        worker): the first result written stays, so each (run, target) is written exactly once.
        """
        cur = self._exec(
            "INSERT INTO results (run_id, target, status, reason, data, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, target) DO NOTHING",
            (run_id, target, status, redact(reason) if reason else reason, _dumps(data), now()),
        )
        return bool(cur.rowcount == 1)

    def result_count(self, run_id: str) -> int:
        """How many targets of the run have a result: what a coordinator asks before reading any."""
        return int(self._rows("SELECT count(*) FROM results WHERE run_id = ?", (run_id,))[0][0])

    def results_since(self, run_id: str, since: str) -> list[tuple[str, str, str | None, str]]:
        """(target, status, reason, finished_at) of the results finished at or after ``since``."""
        rows = self._rows(
            "SELECT target, status, reason, finished_at FROM results WHERE run_id = ? AND finished_at >= ?",
            (run_id, since),
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def results_of(self, run_id: str, targets: Sequence[str]) -> list[TargetResult]:
        """The results (with their data) of these targets of the run, in ``results``' order."""
        found: list[TargetResult] = []
        wanted = list(targets)
        for i in range(0, len(wanted), 500):  # SQLite caps a statement's parameters
            part = wanted[i : i + 500]
            marks = ", ".join("?" * len(part))  # placeholders only: the targets are parameters
            rows = self._rows(
                "SELECT run_id, target, status, reason, data, finished_at FROM results "  # noqa: S608
                f"WHERE run_id = ? AND target IN ({marks})",
                (run_id, *part),
            )
            found += [
                TargetResult(r[0], r[1], r[2], r[3], _loads(r[4], f"results '{r[0]}/{r[1]}' data"), r[5]) for r in rows
            ]
        return sorted(found, key=lambda r: r.target)

    def result_statuses(self, run_id: str) -> dict[str, tuple[str, str | None]]:
        """Each recorded target's (status, reason), without the result data: cheap to poll."""
        rows = self._rows("SELECT target, status, reason FROM results WHERE run_id = ?", (run_id,))
        return {r[0]: (r[1], r[2]) for r in rows}

    def results(self, run_id: str) -> list[TargetResult]:
        rows = self._rows(
            "SELECT run_id, target, status, reason, data, finished_at FROM results WHERE run_id = ? ORDER BY target",
            (run_id,),
        )
        return [TargetResult(r[0], r[1], r[2], r[3], _loads(r[4], f"results '{r[0]}/{r[1]}' data"), r[5]) for r in rows]

    def done_targets(self, run_id: str) -> set[str]:
        return {r[0] for r in self._rows("SELECT target FROM results WHERE run_id = ?", (run_id,))}

    # -- capacity snapshots -----------------------------------------------
    def record_snapshot(self, scope: str, subject: str, data: dict[str, Any], taken_at: str | None = None) -> str:
        sid = new_run_id()
        self._exec(
            "INSERT INTO capacity_snapshots (id, taken_at, scope, subject, data) VALUES (?, ?, ?, ?, ?)",
            (sid, taken_at or now(), scope, subject, _dumps(data)),
        )
        return sid

    def snapshots(self, scope: str, subject: str | None = None, since: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, taken_at, subject, data FROM capacity_snapshots WHERE scope = ?"
        params: list[Any] = [scope]
        if subject is not None:
            sql += " AND subject = ?"
            params.append(subject)
        if since is not None:
            sql += " AND taken_at >= ?"
            params.append(since)
        sql += " ORDER BY taken_at"
        return [
            {"id": r[0], "taken_at": r[1], "subject": r[2], "data": _loads(r[3], f"capacity_snapshots '{r[0]}' data")}
            for r in self._rows(sql, params)
        ]

    # -- journal (what a run created, for rollback) -------------------------
    def journal_add(
        self, run_id: str, action: str, resource_type: str, resource_id: str | None, data: dict[str, Any]
    ) -> int:
        with self._lock:
            seq = int(self._rows("SELECT COALESCE(MAX(seq), 0) + 1 FROM journal WHERE run_id = ?", (run_id,))[0][0])
            self._exec(
                "INSERT INTO journal (run_id, seq, at, action, resource_type, resource_id, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, seq, now(), action, resource_type, resource_id, _dumps(data)),
            )
            return seq

    def journal(self, run_id: str) -> list[JournalEntry]:
        rows = self._rows(
            "SELECT run_id, seq, at, action, resource_type, resource_id, data FROM journal "
            "WHERE run_id = ? ORDER BY seq",
            (run_id,),
        )
        return [
            JournalEntry(r[0], int(r[1]), r[2], r[3], r[4], r[5], _loads(r[6], f"journal '{r[0]}#{r[1]}' data"))
            for r in rows
        ]

    # -- SSH host keys pinned on first use ----------------------------------
    def host_key(self, host: str) -> tuple[str, str] | None:
        rows = self._rows("SELECT key_type, fingerprint FROM host_keys WHERE host = ?", (host,))
        return (rows[0][0], rows[0][1]) if rows else None

    def pin_host_key(self, host: str, key_type: str, fingerprint: str) -> None:
        self._exec(
            "INSERT INTO host_keys (host, key_type, fingerprint, first_seen) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (host) DO NOTHING",
            (host, key_type, fingerprint, now()),
        )

    @property
    def file(self) -> Path | None:
        """The SQLite database file, if the store is one."""
        if not self.url.startswith("sqlite:"):
            return None
        path = self.url[len("sqlite:///") :] if self.url.startswith("sqlite:///") else self.url[len("sqlite:") :]
        return Path(path) if path not in ("", ":memory:") else None

    def loose_permissions(self) -> str | None:
        """What is wrong with the SQLite file's mode (others may read device data), or None."""
        f = self.file
        try:
            mode = f.stat().st_mode & 0o777 if f is not None else 0
        except OSError:
            return None
        return f"{f} is mode {mode:04o}: readable by others" if mode & 0o077 else None

    @property
    def display_url(self) -> str:
        """The URL with its passwords masked, for messages."""
        return redact_url(self.url)


def open_store(url: str) -> SqlStore:
    return SqlStore(url)
