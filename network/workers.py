"""Worker processes of the audit: what SSH and SNMP workers share, and the two worker pools.

The audit process is the one place that schedules (deadlines, retries, the adaptive SNMP
concurrency), evaluates and writes the store; the CPU-heavy protocol work runs in worker
processes. SSH sessions run in ``SessionWorkers``: up to ``--workers`` processes, one blocking
session each at a time. SNMP polls run in ``SnmpWorkers``: a few processes (one per CPU by
default), each with its own asyncio loop and one pysnmp engine for all its targets, many polls
in flight each. pysnmp (pyasn1 BER decoding, USM
crypto) was over half of the audit process's CPU, and that single process was what limited the
whole audit.

``SnmpWorkers`` is an ``SnmpCollector`` itself, so the engine's SNMP phase does not change: each
``collect`` call becomes one request frame to the least busy worker, and the worker's answer
resolves the caller's future. Frames on each worker's socketpair are a 4-byte big-endian length
and a pickle:

    parent -> worker  (id, "collect", target, credential, gets, walks)
                      (id, "community", target, community, timeout)
                      (id, "cancel")           the caller gave up (its device deadline passed)
    worker -> parent  (id, True, result) or (id, False, exception)

An SSH worker's first frame is ``(init, setup)``: it calls ``init(*setup)`` once (the collector,
the credentials, the commands, the parsers); each later frame is one job, answered by
``(0, True, result)`` or ``(0, False, exception)`` (one job per worker at a time: its id is 0).

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
_JOB = 0  # a session worker's one request in flight: the id its reply frames carry


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


async def _deliver_replies(proc: _Proc, died: str) -> None:
    """Resolve each reply's future until the worker's socket closes; then fail what is still pending."""
    try:
        while True:
            msg_id, ok, value = await _read_frame(proc.reader)
            future = proc.pending.pop(msg_id, None)
            if future is None or future.done():
                continue  # cancelled meanwhile
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the worker is gone
    finally:
        proc.alive = False
        for future in proc.pending.values():
            if not future.done():
                future.set_exception(CollectError(died))
        proc.pending.clear()


@dataclass(eq=False)
class _Proc:
    process: ForkServerProcess
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pending: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    alive: bool = True
    listener: asyncio.Task[None] | None = None

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


class SessionWorkers:
    """Blocking jobs (SSH sessions) in up to ``processes`` worker processes, one job per process at a time.

    A ProcessPoolExecutor did this before. One worker's death broke the whole pool, failing every
    device still queued, and its manager and feeder threads woke for every job (the audit process
    used ≈ 0.2 CPU-s more per city audit). Here the audit's event loop reads each worker's socket
    itself; a dead worker fails only the job it was running, and a new process takes its place.
    Processes start when jobs need them, so a small audit does not fork ``--workers`` of them.
    Jobs get workers in the order they asked.

    ``init`` and ``call`` must be picklable (module-level functions): each worker runs
    ``init(*setup)`` once, then ``call(job)`` per job.
    """

    def __init__(
        self,
        processes: int,
        context: ForkServerContext,
        init: Callable[..., None],
        setup: tuple[Any, ...],
        call: Callable[[Any], Any],
        name: str = "govops-ssh",
    ) -> None:
        self.processes = max(1, processes)
        self.context = context
        self.init, self.setup, self.call = init, setup, call
        self.name = name
        self._procs: list[_Proc] = []  # alive or starting
        self._idle: list[_Proc] = []
        self._waiters: collections.deque[asyncio.Future[_Proc | None]] = collections.deque()
        self._starting = 0

    async def run(self, job: Any) -> Any:
        proc = await self._worker()
        while not proc.alive:  # died after it was handed to this job
            proc = await self._worker()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        proc.pending[_JOB] = future
        proc.send((job,))
        try:
            result = await future
        except asyncio.CancelledError:
            raise  # the worker is still busy with the job: close() stops it
        except BaseException:
            self._release(proc)  # the job failed (its exception came back), or the worker died
            raise
        self._release(proc)
        return result

    async def _worker(self) -> _Proc:
        while True:
            if self._idle:
                return self._idle.pop()
            if len(self._procs) + self._starting < self.processes:
                return await self._spawn()
            waiter: asyncio.Future[_Proc | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                proc = await waiter
            except asyncio.CancelledError:
                handed = waiter.result() if waiter.done() and not waiter.cancelled() else None
                if handed is not None:
                    self._release(handed)  # handed over as this job was cancelled
                raise
            if proc is not None:
                return proc
            # None: a worker died; start its successor for this job

    async def _spawn(self) -> _Proc:
        self._starting += 1
        try:
            proc = await _start_worker(
                self.context, _session_worker_main, (self.name,), f"{self.name}-{len(self._procs)}"
            )
        finally:
            self._starting -= 1
        # credentials are in `setup`: over this socket pair only (see the module doc)
        proc.send((self.init, self.setup, self.call))
        proc.listener = asyncio.create_task(self._listen(proc))
        self._procs.append(proc)
        return proc

    def _release(self, proc: _Proc) -> None:
        if not proc.alive:
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(proc)
                return
        self._idle.append(proc)

    async def _listen(self, proc: _Proc) -> None:
        try:
            await _deliver_replies(proc, "ssh: the worker process running this session died")
        finally:
            if proc in self._procs:
                self._procs.remove(proc)
            if proc in self._idle:
                self._idle.remove(proc)
            # a job waiting for a worker starts the dead one's successor
            while self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    break

    def close(self, *, wait: bool) -> None:
        """After a clean run let the workers exit (EOF); after an interrupt stop busy ones at once.

        A session still running would hold an interrupted run open for up to a device deadline.
        """
        _stop_workers(list(self._procs), stop_busy=not wait)
        self._procs.clear()
        self._idle.clear()


def _session_worker_main(sock: socket.socket, name: str, audit_pid: int) -> None:
    worker_setup(audit_pid, name)
    with sock:
        try:
            init, setup, call = _recv_frame(sock)
        except EOFError:
            return
        init(*setup)
        while True:
            try:
                (job,) = _recv_frame(sock)
            except (EOFError, OSError):
                return  # the audit closed its end (finished, interrupted or killed)
            try:
                reply: tuple[Any, ...] = (_JOB, True, call(job))
            except Exception as exc:  # noqa: BLE001 - every failure goes back to the job's device
                reply = (_JOB, False, exc)
            try:
                frame = _frame(reply)
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                bad = reply[2]
                frame = _frame((_JOB, False, CollectError(f"ssh: {type(bad).__name__}: {bad}")))
            try:
                sock.sendall(frame)
            except OSError:
                return


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
