"""The lab's message broker: a private Redis on loopback for ``--executor celery`` and ``govops worker``.

Debian's ``redis-server`` binary with a configuration of the lab's own (loopback only, a free
port, its folder under the lab, no persistence: a lab broker holds only the tasks of the runs in
flight; a random password, handed to govops as ``GOVOPS_BROKER_PASSWORD`` by ``govops lab env``),
started through the lab's ProcessManager so ``govops lab down`` stops exactly that PID.
The package's own service is never used. The lab's govops.yaml gets ``network.broker``; the
results store a scale-out audit shares with its workers is PostgreSQL, which the lab does not run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

from govops.lab.core import ComponentResult, LabContext, PeerStatus
from govops.lab.processes import LabError, free_port, tcp_open, wait_tcp

PEER = "broker-redis"
HOST = "127.0.0.1"
START_TIMEOUT = 20.0


def redis_config(port: int, data_dir: Path, password: str) -> str:
    """redis.conf: loopback, a password, no snapshots, no append-only file, logs on stdout (the peer's log)."""
    return "\n".join(
        [
            f"bind {HOST}",
            f"port {port}",
            f"requirepass {password}",
            "protected-mode yes",
            "daemonize no",
            f"dir {data_dir}",
            'save ""',
            "appendonly no",
            'logfile ""',
            "databases 16",
            "",
        ]
    )


def _previous(conf: Path, key: str) -> str | None:
    try:
        lines = conf.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"{key} "):
            return line.split(maxsplit=1)[1]
    return None


def _previous_port(conf: Path) -> int | None:
    port = _previous(conf, "port")
    return None if port is None or tcp_open(HOST, int(port)) else int(port)


class BrokerLab:
    name = "broker"

    @staticmethod
    def _base(ctx: LabContext) -> Path:
        return ctx.path("broker")

    @staticmethod
    def _port(ctx: LabContext) -> int | None:
        peer = ctx.processes.get(PEER)
        if peer is None:
            return None
        for spec in peer.ports:
            if spec.startswith(f"tcp:{HOST}:"):
                return int(spec.rsplit(":", 1)[1])
        return None

    def install(self, ctx: LabContext) -> None:
        if shutil.which("redis-server"):
            return
        if shutil.which("apt-get") is None:
            raise LabError("redis-server is missing and apt-get is not available")
        ctx.observer.message("apt-get install redis-server …")
        proc = subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "redis-server"],
            capture_output=True,
            text=True,
            check=False,
            env=os.environ | {"DEBIAN_FRONTEND": "noninteractive"},
        )
        if proc.returncode != 0 or not shutil.which("redis-server"):
            tail = " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])
            raise LabError(f"apt-get install redis-server failed: {tail}", hint="run as root after apt-get update")

    def up(self, ctx: LabContext) -> ComponentResult:
        binary = shutil.which("redis-server")
        if binary is None:
            raise LabError("redis-server is not installed", hint="govops lab install --broker")
        port = self._port(ctx) if ctx.processes.running(PEER) else None
        if port is None:
            base = self._base(ctx)
            data = base / "data"
            data.mkdir(parents=True, exist_ok=True)
            conf = base / "redis.conf"
            # the same port again after `lab down --broker`: workers and coordinators reconnect
            port = _previous_port(conf) or free_port(HOST)
            # and the same password: they keep theirs (a production broker has one too, from the env)
            password = _previous(conf, "requirepass") or secrets.token_urlsafe(18)
            conf.touch(mode=0o600)
            conf.write_text(redis_config(port, data, password), encoding="utf-8")
            ctx.observer.message(f"starting redis-server on {HOST}:{port} …")
            peer = ctx.processes.start(PEER, [binary, str(conf)], ports=[f"tcp:{HOST}:{port}"])
            wait_tcp(HOST, port, START_TIMEOUT, peer)
        url = f"redis://{HOST}:{port}/0"
        password = _previous(self._base(ctx) / "redis.conf", "requirepass") or ""
        return ComponentResult(
            config={"network": {"broker": url}},
            env={"GOVOPS_BROKER_PASSWORD": password},
            next_steps=[
                "point store.url at a PostgreSQL database the workers share, then:",
                "govops worker --concurrency 2 &   # one or more, on this or other machines",
                "govops net audit --executor celery",
            ],
        )

    def status(self, ctx: LabContext) -> list[PeerStatus]:
        port = self._port(ctx)
        up = ctx.processes.running(PEER) and port is not None and tcp_open(HOST, port)
        return [PeerStatus(self.name, PEER, up, f"redis://{HOST}:{port}/0" if port else "")]

    def down(self, ctx: LabContext) -> list[str]:
        return [PEER] if ctx.processes.stop(PEER) else []
