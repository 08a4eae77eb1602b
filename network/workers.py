"""Worker processes of the audit: what SSH and SNMP workers share, and the two worker pools.

The audit process is the one place that schedules (deadlines, retries, the adaptive SNMP
concurrency), evaluates and writes the store; the CPU-heavy protocol work runs in worker
processes. SSH sessions run in ``SessionWorkers``: a few processes (one per CPU by default),
each running its share of the ``--workers`` blocking sessions in threads. SNMP polls run in
``SnmpWorkers``: a few processes too, each with its own asyncio loop and one pysnmp engine for
all its targets, many polls in flight each. pysnmp (pyasn1 BER decoding, USM crypto) was over
half of the audit process's CPU, and that single process was what limited the whole audit.

``SnmpWorkers`` is an ``SnmpCollector`` itself, so the engine's SNMP phase does not change: each
``collect`` call becomes one request frame to the least busy worker, and the worker's answer
resolves the caller's future. Frames on each worker's socketpair are a 4-byte big-endian length
and a pickle:

    parent -> worker  (id, "collect", target, credential, gets, walks)
                      (id, "community", target, community, timeout)
                      (id, "cancel")           the caller gave up (its device deadline passed)
    worker -> parent  (id, True, result) or (id, False, exception)

An SSH worker's first frame is ``(init, setup, call)``: it calls ``init(*setup)`` once (the
collector, the credentials, the commands, the parsers); each later frame is ``(id, job)``, run as
``call(job)`` in a thread and answered by ``(id, True, result)`` or ``(id, False, exception)``.

Credentials travel only in these frames (never argv or the environment, which /proc shows) and
are never logged. Workers ignore Ctrl-C (the audit decides what it means) and exit when the audit
process is gone: their socket reaches EOF, and a pidfd watchdog covers a parent that is stopped
but not yet reaped.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import pickle
import select
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.context import ForkServerContext, ForkServerProcess
from typing import Any

from govops.credentials import Credential
from govops.network.collectors.base import CollectError, SnmpCollector, SnmpOutput, SnmpTarget

_HEADER = struct.Struct("!I")
_JOIN_TIMEOUT = 5.0  # a worker without work exits at once on EOF; this only bounds a stuck one


def worker_setup(audit_pid: int, name: str) -> None:
    """What every worker process does first: ignore Ctrl-C, stay quiet, die with the audit."""
    # Ctrl-C reaches the whole process group: the parent decides what an interrupt means
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # paramiko and pysnmp log socket errors of peers that went away; without a handler Python's
    # last resort would print them on the user's terminal
    logging.getLogger().addHandler(logging.NullHandler())
    _name_process(name)
    threading.Thread(target=exit_with, args=(audit_pid,), name="watchdog", daemon=True).start()


def _name_process(name: str) -> None:
    """Show the worker's role in ps/top (comm) instead of the fork server's python."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass  # not Linux: the name is a convenience only


def exit_with(audit_pid: int) -> None:
    """End this worker as soon as the audit process is gone (kill -9 included).

    A pool worker waits on its job queue, whose write end every worker holds too, so it never
    sees EOF: without this, workers of a killed audit (and the fork server) would live on and keep
    the terminal's pipes open. A pidfd cannot be fooled by a reused PID.
    """
    try:
        fd = os.pidfd_open(audit_pid)
    except (AttributeError, OSError):  # not Linux >= 5.3: poll the PID instead
        while True:
            time.sleep(0.5)
            try:
                os.kill(audit_pid, 0)
            except ProcessLookupError:
                os._exit(1)
    select.select([fd], [], [])  # readable once the process has exited
    os._exit(1)


# -- wire --------------------------------------------------------------------------------------
def _frame(message: tuple[Any, ...]) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


async def _read_frame(reader: asyncio.StreamReader) -> tuple[Any, ...]:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    message: tuple[Any, ...] = pickle.loads(await reader.readexactly(size))  # noqa: S301 - our own child's pipe
    return message


# -- parent side -------------------------------------------------------------------------------
async def _start_worker(
    context: ForkServerContext, target: Callable[..., None], args: tuple[Any, ...], name: str
) -> _Proc:
    """A worker process forked by the fork server, and this loop's end of its socket pair.

    ``target`` gets its end of the pair, then ``args``, then this process's PID (to die with it).
    """
    ours, theirs = socket.socketpair()
    process = context.Process(target=target, args=(theirs, *args, os.getpid()), name=name, daemon=True)
    process.start()
    theirs.close()
    reader, writer = await asyncio.open_connection(sock=ours)
    return _Proc(process, reader, writer)


def _stop_workers(procs: Sequence[_Proc], *, stop_busy: bool) -> None:
    """EOF on each worker's socket ends it; one still busy is terminated at once if ``stop_busy``,
    and one that does not end within the join timeout is terminated anyway."""
    for proc in procs:
        if proc.listener is not None:
            proc.listener.cancel()
        # shutdown() now, not at the transport's close on a later loop iteration: the joins
        # below block this loop, and the workers must see EOF meanwhile
        with contextlib.suppress(OSError):
            proc.writer.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        proc.writer.close()
        if stop_busy and proc.pending:
            proc.process.terminate()
    for proc in procs:
        proc.process.join(_JOIN_TIMEOUT)
        if proc.process.is_alive():
            proc.process.terminate()
            proc.process.join(_JOIN_TIMEOUT)


async def _deliver_replies(
    proc: _Proc, died: str, answered: Callable[[], None] | None = None, lost: type[CollectError] = CollectError
) -> None:
    """Resolve each reply's future until the worker's socket closes; then fail what is still pending
    with ``lost(died)``. ``answered`` runs after each reply, its job's slot free again."""
    try:
        while True:
            msg_id, ok, value = await _read_frame(proc.reader)
            future = proc.pending.pop(msg_id, None)
            if future is not None and not future.done():  # else cancelled meanwhile
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            if answered is not None:
                answered()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the worker is gone
    finally:
        proc.alive = False
        for future in proc.pending.values():
            if not future.done():
                future.set_exception(lost(died))
        proc.pending.clear()


@dataclass(eq=False)
class _Proc:
    process: ForkServerProcess
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pending: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    alive: bool = True
    listener: asyncio.Task[None] | None = None
    reserved: int = 0  # slots handed to jobs that have not sent their job yet (SessionWorkers)
    suspects_reserved: int = 0  # of those, the suspects' (SessionWorkers._pick)

    @property
    def load(self) -> int:
        return len(self.pending) + self.reserved

    def send(self, message: tuple[Any, ...]) -> None:
        # buffered by the transport, never blocks the loop; requests are bounded by the polls in flight
        self.writer.write(_frame(message))


class SnmpWorkers:
    """An SnmpCollector whose polls run in ``processes`` worker processes (see the module doc).

    ``factory`` makes each worker's own collector (``PysnmpCollector``); it must be picklable
    (a class or a module-level function), since it is sent to the new processes.
    """

    def __init__(self, factory: Callable[[], SnmpCollector], processes: int, context: ForkServerContext) -> None:
        self.factory = factory
        self.processes = max(1, processes)
        self.context = context
        self._procs: list[_Proc] = []
        self._ids = 0

    async def start(self) -> None:
        for n in range(self.processes):
            proc = await _start_worker(self.context, _worker_main, (self.factory,), f"govops-snmp-{n}")
            proc.listener = asyncio.create_task(self._listen(proc))
            self._procs.append(proc)

    async def collect(
        self, target: SnmpTarget, credential: Credential, gets: Sequence[str], walks: Sequence[str]
    ) -> SnmpOutput:
        values = await self._call(("collect", target, credential, list(gets), list(walks)))
        return SnmpOutput(values)

    async def answers_community(self, target: SnmpTarget, community: str, timeout: float) -> bool:
        answered: bool = await self._call(("community", target, community, timeout))
        return answered

    async def _call(self, request: tuple[Any, ...]) -> Any:
        alive = [p for p in self._procs if p.alive]
        if not alive:
            raise CollectError("snmp: no SNMP worker process is left (they died)")
        proc = min(alive, key=lambda p: len(p.pending))
        self._ids += 1
        msg_id = self._ids
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        proc.pending[msg_id] = future
        proc.send((msg_id, *request))
        try:
            return await future
        except asyncio.CancelledError:
            # the device's deadline passed (wait_for) or the run was interrupted: stop the poll
            # there too, so the worker's polls in flight stay within --snmp-concurrency
            if proc.pending.pop(msg_id, None) is not None and proc.alive:
                proc.send((msg_id, "cancel"))
            raise

    async def _listen(self, proc: _Proc) -> None:
        await _deliver_replies(proc, "snmp: the worker process running this poll died")

    def close(self) -> None:
        """Stop the workers: EOF on their sockets ends them; one that does not end is terminated."""
        _stop_workers(self._procs, stop_busy=False)
        self._procs.clear()


class WorkerLost(CollectError):
    """The worker process running a job died (OOM killer, crash) before it answered."""


class SessionWorkers:
    """Blocking jobs (SSH sessions) in threads of a few worker processes: up to ``sessions`` at once.

    Each process runs up to ``ceil(sessions / processes)`` jobs, each in a thread of its own, as
    nornir's threaded runner does within one process. One process per job cost a third more CPU
    for the same sessions (the city lab, 50 sessions at once: 15.9-16.8 CPU-s in 50 processes,
    12.5-12.8 in 10, 11.1-11.4 in 2 or 4): 50 processes on a few cores spend it on context switches,
    cold caches, and the copy-on-write faults of each process touching the fork server's modules.

    The audit's event loop reads each worker's socket itself. A worker that dies (OOM killer, a
    crash) costs no job by itself: each job it was running is run once more (a session is
    read-only, so running it again is safe), in a process with no other such job, and fails
    only if it is lost again. So the job that kills its worker fails, with the reason, and the
    ones that merely shared its process finish. A new process takes the dead one's place.
    Processes start when jobs need them, so a small audit does not fork all of them. Jobs get
    slots in the order they asked.

    ``init`` and ``call`` must be picklable (module-level functions), and ``call`` thread-safe:
    each worker runs ``init(*setup)`` once, then ``call(job)`` per job, in its job's thread.
    """

    def __init__(
        self,
        sessions: int,
        processes: int,
        context: ForkServerContext,
        init: Callable[..., None],
        setup: tuple[Any, ...],
        call: Callable[[Any], Any],
        name: str = "govops-ssh",
    ) -> None:
        self.sessions = max(1, sessions)
        self.processes = max(1, min(processes, self.sessions))
        self.per_process = -(-self.sessions // self.processes)
        self.context = context
        self.init, self.setup, self.call = init, setup, call
        self.name = name
        self._procs: list[_Proc] = []  # alive; a dead one leaves at once
        # jobs waiting for a slot, and whether each is a suspect (see _pick)
        self._waiters: collections.deque[tuple[asyncio.Future[_Proc], bool]] = collections.deque()
        self._suspects: set[int] = set()  # ids of the jobs sent as suspects
        self._starting = 0
        self._started = 0
        self._ids = 0

    async def run(self, job: Any) -> Any:
        suspect = False
        while True:
            proc = await self._slot(suspect)
            proc.reserved -= 1  # the slot becomes this job's pending reply
            self._ids += 1
            msg_id = self._ids
            if suspect:
                proc.suspects_reserved -= 1
                self._suspects.add(msg_id)
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            proc.pending[msg_id] = future
            proc.send((msg_id, job))
            try:
                # a cancelled job keeps its slot until its thread answers: close() stops a busy worker
                return await future
            except WorkerLost:
                if suspect:
                    raise
                suspect = True

    async def _slot(self, suspect: bool) -> _Proc:
        """A process with a free slot, reserved for the caller (``proc.reserved``)."""
        if not self._waiters:
            proc = self._pick(suspect)
            # every process busy: start another rather than double up, while the limit allows
            if proc is not None and not (proc.load and self._room()):
                self._reserve(proc, suspect)
                return proc
        waiter: asyncio.Future[_Proc] = asyncio.get_running_loop().create_future()
        self._waiters.append((waiter, suspect))
        if self._room():
            self._grow()
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                proc = waiter.result()  # handed over as this job was cancelled
                proc.reserved -= 1
                proc.suspects_reserved -= suspect
                self._hand()
            raise

    def _pick(self, suspect: bool) -> _Proc | None:
        """The least busy process with a free slot, unless ``sessions`` jobs are running already.

        A job lost with a dead worker (a suspect: it may be what killed it) runs again in a
        process that runs no other suspect, so one job that kills its worker cannot take an
        innocent one with it twice.
        """
        if sum(p.load for p in self._procs) >= self.sessions:
            return None
        free = [
            p
            for p in self._procs
            if p.alive
            and p.load < self.per_process
            and not (suspect and (p.suspects_reserved or any(m in self._suspects for m in p.pending)))
        ]
        return min(free, key=lambda p: p.load) if free else None

    @staticmethod
    def _reserve(proc: _Proc, suspect: bool) -> None:
        proc.reserved += 1
        proc.suspects_reserved += suspect

    def _room(self) -> bool:
        return len(self._procs) + self._starting < self.processes

    def _hand(self) -> None:
        """Free slots to the jobs waiting, in the order they asked (a suspect may wait longer)."""
        i = 0
        while i < len(self._waiters):
            waiter, suspect = self._waiters[i]
            if waiter.done():  # cancelled meanwhile
                del self._waiters[i]
                continue
            proc = self._pick(suspect)
            if proc is None:
                if suspect:
                    i += 1  # it waits for a process without a suspect; the jobs after it need not
                    continue
                return
            self._reserve(proc, suspect)
            del self._waiters[i]
            waiter.set_result(proc)

    def _grow(self) -> None:
        self._starting += 1
        asyncio.get_running_loop().create_task(self._spawn())

    async def _spawn(self) -> None:
        try:
            proc = await _start_worker(
                self.context, _session_worker_main, (self.name, self.per_process), f"{self.name}-{self._started}"
            )
        except Exception as exc:  # noqa: BLE001 - the jobs waiting for it report why
            self._starting -= 1
            for waiter, _suspect in self._waiters:
                if not waiter.done():
                    waiter.set_exception(CollectError(f"ssh: cannot start a worker process ({exc})"))
            self._waiters.clear()
            return
        self._starting -= 1
        self._started += 1
        # credentials are in `setup`: over this socket pair only (see the module doc)
        proc.send((self.init, self.setup, self.call))
        proc.listener = asyncio.create_task(self._listen(proc))
        self._procs.append(proc)
        self._hand()

    async def _listen(self, proc: _Proc) -> None:
        try:
            await _deliver_replies(proc, "ssh: the worker process running this session died", self._hand, WorkerLost)
        finally:
            if proc in self._procs:
                self._procs.remove(proc)
            # jobs waiting for a slot (the dead one's jobs among them) get its successor
            if self._waiters and self._room():
                self._grow()

    def close(self, *, wait: bool) -> None:
        """After a clean run let the workers exit (EOF); after an interrupt stop busy ones at once.

        A session still running would hold an interrupted run open for up to a device deadline.
        """
        _stop_workers(list(self._procs), stop_busy=not wait)
        self._procs.clear()


def _session_worker_main(sock: socket.socket, name: str, threads: int, audit_pid: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    worker_setup(audit_pid, name)
    with sock:
        try:
            init, setup, call = _recv_frame(sock)
        except EOFError:
            return
        init(*setup)
        sending = threading.Lock()

        def answer(msg_id: int, job: Any) -> None:
            try:
                reply: tuple[Any, ...] = (msg_id, True, call(job))
            except Exception as exc:  # noqa: BLE001 - every failure goes back to the job's device
                reply = (msg_id, False, exc)
            try:
                frame = _frame(reply)
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                bad = reply[2]
                frame = _frame((msg_id, False, CollectError(f"ssh: {type(bad).__name__}: {bad}")))
            with sending, contextlib.suppress(OSError):
                sock.sendall(frame)

        # the parent sends no more jobs than there are threads: none waits in the pool's queue
        with ThreadPoolExecutor(threads, thread_name_prefix="session") as pool:
            while True:
                try:
                    msg_id, job = _recv_frame(sock)
                except (EOFError, OSError):
                    return  # the audit closed its end (finished, interrupted or killed)
                pool.submit(answer, msg_id, job)


def _recv_frame(sock: socket.socket) -> tuple[Any, ...]:
    """One frame, blocking (a session worker has nothing else to do meanwhile)."""
    (size,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
    message: tuple[Any, ...] = pickle.loads(_recv_exact(sock, size))  # noqa: S301 - our own parent's pipe
    return message


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


# -- worker side -------------------------------------------------------------------------------
def _worker_main(sock: socket.socket, factory: Callable[[], SnmpCollector], audit_pid: int) -> None:
    worker_setup(audit_pid, "govops-snmp")
    asyncio.run(_serve(sock, factory))


async def _serve(sock: socket.socket, factory: Callable[[], SnmpCollector]) -> None:
    # one collector, so one SnmpEngine, for every target this worker polls
    collector = factory()
    reader, writer = await asyncio.open_connection(sock=sock)
    polls: dict[int, asyncio.Task[None]] = {}
    try:
        while True:
            try:
                message = await _read_frame(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return  # the audit closed its end (finished, interrupted or killed)
            msg_id, op = message[0], message[1]
            if op == "cancel":
                task = polls.pop(msg_id, None)
                if task is not None:
                    task.cancel()
                continue
            polls[msg_id] = asyncio.create_task(_answer(collector, writer, msg_id, op, message[2:], polls))
    finally:
        for task in polls.values():
            task.cancel()
        await asyncio.gather(*polls.values(), return_exceptions=True)
        collector.close()
        writer.close()


async def _answer(
    collector: SnmpCollector,
    writer: asyncio.StreamWriter,
    msg_id: int,
    op: str,
    args: tuple[Any, ...],
    polls: dict[int, asyncio.Task[None]],
) -> None:
    try:
        if op == "collect":
            target, credential, gets, walks = args
            result: Any = (await collector.collect(target, credential, gets, walks)).values
        else:
            target, community, timeout = args
            result = await collector.answers_community(target, community, timeout)
        reply = (msg_id, True, result)
    except asyncio.CancelledError:
        polls.pop(msg_id, None)
        raise
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the device that asked
        reply = (msg_id, False, exc)
    polls.pop(msg_id, None)
    try:
        frame = _frame(reply)
    except Exception:  # noqa: BLE001 - an exception pysnmp made that does not pickle
        bad = reply[2]
        frame = _frame((msg_id, False, CollectError(f"snmp: {type(bad).__name__}: {bad}")))
    with contextlib.suppress(ConnectionError):
        writer.write(frame)
