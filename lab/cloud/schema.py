"""The migrated-schema template: every service's db sync, run once per machine by ``lab install --cloud``.

A fresh ``lab up`` copies the template's MariaDB datadir instead of re-running eight db syncs (minutes
on a busy 2-core machine). Only what is the same in every lab goes into it: the schemas, the rows the
syncs load themselves (Glance's metadata definitions, Nova's cell mappings written as URL templates)
and the ``os`` account, whose password each lab resets. Each lab's own state (Keystone's keys, admin
user and catalog) is made at ``up`` (``Services.init_keystone``).

A template is keyed by everything that decides its bytes: the pinned OpenStack set, the MariaDB
server's version, the lab's my.cnf, the databases and sync steps (``SCHEMA_VERSION``) and the unix
user that logs in as MariaDB's root. It lives beside the venv it was built with
(``<venv>/share/govops-lab/schema-<key>/``), so every lab that shares the venv shares it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from govops.lab.cloud import configs, pins
from govops.lab.cloud.layout import Layout, Ports, current_user
from govops.lab.processes import ProcessManager

# Bump when the sync steps (services.sync_schemas) or what they put in the databases change.
SCHEMA_VERSION = 1
MARIADBD = "/usr/sbin/mariadbd"
META = "template.json"


def mariadb_version() -> str:
    try:
        out = subprocess.run([MARIADBD, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def template_key(server_version: str, user: str) -> str:
    """Hash of what decides a template's content; the same on every machine with the same inputs."""
    from govops.lab.cloud.services import CELL0_DB, CELL_DB, CELL_MQ, NEUTRON_SCHEMA

    # my.cnf as the lab writes it, for a fixed folder and ports: paths and ports never reach the datadir.
    cnf = configs.mariadb_cnf(Layout(Path("/govops-lab")), Ports())
    doc = {
        "schema_version": SCHEMA_VERSION,
        "pins": pins.digest(),
        "mariadb": server_version,
        "my.cnf": cnf,
        "databases": list(configs.DATABASES),
        "neutron": NEUTRON_SCHEMA,
        "cells": [CELL_DB, CELL0_DB, CELL_MQ],
        "user": user,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Lookup:
    """The template a lab would restore from (``datadir``), or why there is none (``reason``)."""

    key: str
    root: Path
    datadir: Path | None
    reason: str = ""


def templates_root(venv: Path) -> Path:
    return venv / "share" / "govops-lab"


def lookup(venv: Path, key: str | None = None) -> Lookup:
    root = templates_root(venv)
    key = key or template_key(mariadb_version(), current_user())
    target = root / f"schema-{key}"
    if (target / META).is_file() and (target / "data" / "mysql").is_dir():
        return Lookup(key, root, target / "data")
    others = sorted(p.name for p in root.glob("schema-*") if (p / META).is_file())
    if others:
        reason = f"the schema template in {root} ({others[0]}) is stale (another release, MariaDB or config)"
    else:
        reason = f"no schema template in {root}"
    return Lookup(key, root, None, reason)


def build(venv: Path) -> tuple[Path, float]:
    """Make the template for ``venv`` (if missing) in a scratch lab; returns its datadir and the seconds spent.

    Templates of other keys are removed: they can never match again with this venv and MariaDB.
    """
    from govops.lab.cloud.services import Services

    found = lookup(venv)
    if found.datadir is not None:
        return found.datadir, 0.0
    started = time.monotonic()
    root = found.root
    root.mkdir(parents=True, exist_ok=True)
    # The scratch lab lives in the temp dir, not under the venv: MariaDB's socket path must fit in
    # sun_path (108 bytes), which a venv inside a deep checkout already overruns.
    scratch = Path(tempfile.mkdtemp(prefix=f"govops-schema-{found.key[:8]}-"))
    layout = Layout(scratch)
    layout.record_venv(venv)
    ports = layout.ports()
    secrets = layout.secrets()
    processes = ProcessManager(scratch)
    configs.write_all(layout, ports, secrets, hosts=())
    services = Services(layout, ports, processes, secrets)
    try:
        services.start_mariadb()
        services.sync_schemas()
        services.stop_mariadb()
    finally:
        processes.stop_all()
    target = root / f"schema-{found.key}"
    staging = root / f".schema-{found.key}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    shutil.move(layout.mysql / "data", staging / "data")  # the temp dir may be another filesystem
    seconds = round(time.monotonic() - started, 1)
    meta = {
        "key": found.key,
        "release": pins.RELEASE,
        "pins": pins.digest(),
        "mariadb": mariadb_version(),
        "databases": list(configs.DATABASES),
        "seconds": seconds,
        "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (staging / META).write_text(json.dumps(meta, indent=1) + "\n")
    for old in root.glob("schema-*"):
        shutil.rmtree(old, ignore_errors=True)
    try:
        staging.replace(target)
    except OSError:  # another install made the same template meanwhile: keep that one
        shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return target / "data", seconds
