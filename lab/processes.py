"""Background processes the lab starts, each recorded by PID so ``down`` stops exactly those.

A PID file alone is not proof: a PID can be reused after a reboot or crash. Each record also keeps
the process start time from /proc, and a process is only signalled when both match.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from govops.errors import GovopsError


class LabError(GovopsError):
    pass


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) comes after the parenthesised command name, which may hold spaces.
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass
class Peer:
    name: str
    pid: int
    started: str
    cmd: list[str]
    log: str
    ports: list[str] = field(default_factory=list)  # "tcp:127.0.0.1:5000", "udp:[::1]:16100"

    def alive(self) -> bool:
        st = _start_time(self.pid)
        if st is None or st != self.started:
            return False
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"


class ProcessManager:
    def __init__(self, lab_dir: Path) -> None:
        self.lab_dir = lab_dir
        self.pid_dir = lab_dir / "pids"
        self.log_dir = lab_dir / "logs"

    def _record(self, name: str) -> Path:
        return self.pid_dir / f"{name}.json"

    def get(self, name: str) -> Peer | None:
        path = self._record(name)
        try:
            return Peer(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def peers(self, prefix: str = "") -> list[Peer]:
        if not self.pid_dir.is_dir():
            return []
        out = []
        for p in sorted(self.pid_dir.glob(f"{prefix}*.json")):
            peer = self.get(p.stem)
            if peer is not None:
                out.append(peer)
        return out

    def running(self, name: str) -> bool:
        peer = self.get(name)
        return peer is not None and peer.alive()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ports: Sequence[str] = (),
    ) -> Peer:
        """Start ``argv`` in its own session (so its children share one process group)."""
        existing = self.get(name)
        if existing is not None and existing.alive():
            return existing  # idempotent: `lab up` twice never starts twins
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        with open(log, "ab") as fh:
            try:
                proc = subprocess.Popen(
                    list(argv),
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=full_env,
                    cwd=cwd,
                    start_new_session=True,
                )
            except OSError as exc:
                raise LabError(f"cannot start {name} ({argv[0]}): {exc.strerror}") from None
        started = _start_time(proc.pid) or ""
        peer = Peer(name, proc.pid, started, list(argv), str(log), list(ports))
        self._record(name).write_text(json.dumps(asdict(peer)))
        return peer

    def adopt(self, name: str, pid: int, argv: Sequence[str], log: Path, ports: Sequence[str] = ()) -> Peer:
        """Record a daemon that forked itself (e.g. mysqld_safe's child) under our name."""
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        peer = Peer(name, pid, _start_time(pid) or "", list(argv), str(log), list(ports))
        self._record(name).write_text(json.dumps(asdict(peer)))
        return peer

    def stop(self, name: str, timeout: float = 10.0) -> bool:
        """Stop one recorded peer (its whole process group); True if something was stopped."""
        peer = self.get(name)
        if peer is None:
            return False
        stopped = False
        if peer.alive():
            stopped = True
            self._signal(peer, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and peer.alive():
                time.sleep(0.05)
            if peer.alive():
                self._signal(peer, signal.SIGKILL)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and peer.alive():
                    time.sleep(0.05)
        self._reap(peer.pid)
        if stopped:
            self._drain_group(peer, timeout)
        self._record(name).unlink(missing_ok=True)
        return stopped

    @staticmethod
    def _group_alive(pgid: int) -> bool:
        """Does any live (non-zombie) process remain in process group ``pgid``?"""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
        return False

    def _drain_group(self, peer: Peer, timeout: float) -> None:
        """Wait for the rest of the peer's process group (workers exit after their leader); kill stragglers.

        Only a group the lab created is touched: its id is the leader's PID, and the leader was ours.
        """
        if not self._group_alive(peer.pid):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._group_alive(peer.pid):
            time.sleep(0.05)
        if self._group_alive(peer.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(peer.pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self._group_alive(peer.pid):
                time.sleep(0.05)

    @staticmethod
    def _reap(pid: int, timeout: float = 5.0) -> None:
        """Reap the peer if it is our child (started by this process, e.g. in tests).

        A multi-threaded peer shows as a zombie while its other threads still exit, and waitpid
        cannot collect it until they have: poll briefly instead of trying once.
        """
        deadline = time.monotonic() + timeout
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(pid, os.WNOHANG) == (0, 0) and time.monotonic() < deadline:
                time.sleep(0.02)

    @staticmethod
    def _signal(peer: Peer, sig: signal.Signals) -> None:
        try:
            if os.getpgid(peer.pid) == peer.pid:
                os.killpg(peer.pid, sig)  # the group we created with start_new_session
            else:
                os.kill(peer.pid, sig)
        except ProcessLookupError:
            pass

    def stop_together(self, names: Sequence[str], timeout: float = 10.0) -> list[str]:
        """Stop several peers at once: services that shut down gracefully (seconds each) wait side by side."""
        if not names:
            return []
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            stopped = list(pool.map(lambda name: self.stop(name, timeout), names))
        return [name for name, ok in zip(names, stopped, strict=True) if ok]

    def stop_all(self, prefix: str = "", timeout: float = 10.0) -> list[str]:
        # Stop in reverse start order: dependants (APIs) before what they depend on (databases).
        peers = sorted(self.peers(prefix), key=lambda p: p.started, reverse=True)
        return [p.name for p in peers if self.stop(p.name, timeout)]


def wait_tcp(host: str, port: int, timeout: float, peer: Peer | None = None) -> None:
    """Wait until ``host:port`` accepts TCP connections, failing early if the peer died."""
    deadline = time.monotonic() + timeout
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        if peer is not None and not peer.alive():
            raise LabError(f"{peer.name} exited during start-up; see {peer.log}")
        if time.monotonic() > deadline:
            raise LabError(f"{host}:{port} did not open within {timeout:.0f} s" + (f"; see {peer.log}" if peer else ""))
        time.sleep(0.1)


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        return s.connect_ex((host, port)) == 0


def still_listening(peers: Iterable[Peer]) -> list[str]:
    """``"<peer> tcp:ADDR:PORT"`` for each of the peers' TCP ports that still accepts connections."""
    out = []
    for peer in peers:
        for spec in peer.ports:
            kind, _, addr = spec.partition(":")
            host, _, port = addr.rpartition(":")
            if kind == "tcp" and tcp_open(host.strip("[]"), int(port)):
                out.append(f"{peer.name} {spec}")
    return out


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
