"""A private PostgreSQL server for the store's contract tests: Debian's binaries, a tmp cluster, loopback only.

PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` system user.
The server is stopped by its own PID (``pg_ctl stop`` reads the postmaster.pid it wrote).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@contextmanager
def postgres_server(allow: Sequence[str] = ()) -> Iterator[str]:
    """Yield a ``postgresql://`` URL (with a generated password) of a fresh server on 127.0.0.1.

    ``allow``: more client networks (CIDR) it accepts passwords from, besides 127.0.0.1 and ::1
    (the lab's hosts connect from 127.2.A.K over their veths).

    The cluster lives in its own folder under /tmp: pytest's tmp folders are private to root, and
    the ``postgres`` user must reach it.
    """
    bindir = pg_bindir()
    assert bindir is not None
    workdir = Path(tempfile.mkdtemp(prefix="govops-pg-"))
    data = workdir / "pgdata"
    data.mkdir(parents=True)
    pwfile = workdir / "pw"
    password = secrets.token_urlsafe(12)
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(data, "postgres")
        shutil.chown(pwfile, "postgres")
    port = _free_port()
    subprocess.run(
        _as_owner(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "govops",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                f"--pwfile={pwfile}",
                "-A",
                "scram-sha-256",
            ]
        ),
        check=True,
        capture_output=True,
    )
    if allow:
        with open(data / "pg_hba.conf", "a", encoding="utf-8") as hba:
            hba.writelines(f"host all all {cidr} scram-sha-256\n" for cidr in allow)
    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={workdir} -c fsync=off"
    subprocess.run(
        _as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(workdir / "log"), "-w", "start"]),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://govops:{password}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(workdir, ignore_errors=True)
