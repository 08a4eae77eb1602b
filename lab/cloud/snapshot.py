"""The seeded-cloud snapshot: a seeded lab cloud as ``lab down`` leaves it, made once by ``lab install --cloud``.

Seeding creates every server through the real APIs, which costs the lab's own services about 1-1.5
CPU-s per server (a port and its binding in Neutron, the scheduler, the conductor's object saves,
the build): minutes at full size on two cores. A fresh ``lab up --cloud`` whose plan (departments,
servers, seed) matches a snapshot starts from it instead, the way a seeded lab restarts after
``lab down``: the fake hypervisors adopt the servers the database puts on them (``osplugin``).

A snapshot holds MariaDB's datadir (shut down cleanly) and the services' files (Glance's image), and
no password: what is each lab's own is made anew at restore.

- Passwords: the lab's own secrets. MariaDB's account is reset as for the schema template, Keystone's
  admin by ``keystone-manage bootstrap`` and each department user's through Keystone's API.
- Ports and paths: Keystone's catalog (bootstrap and ``seed.register_catalog`` rewrite the endpoints),
  Glance's image locations (one SQL update). Nova's cell mappings are URL templates already.
- Keystone's fernet and credential keys are made anew (the snapshot has no stored credentials).
- RabbitMQ keeps no state across a restart anyway.

A snapshot is keyed by the schema template it was restored from, the plan and the code that seeds
and serves it (``seed``, ``plan``, ``osplugin``), and lives beside the template in the venv.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from govops.lab.cloud import schema
from govops.lab.cloud.layout import Layout, current_user
from govops.lab.cloud.plan import CloudPlan
from govops.lab.processes import LabError

# Bump when what a seeded lab holds changes in a way the sources below do not show.
SNAPSHOT_VERSION = 1
META = "snapshot.json"
_SOURCES = ("seed.py", "plan.py", "osplugin.py", "configs.py")


def code_digest() -> str:
    """What seeds and serves a snapshot's cloud: another digest, and no snapshot made before can match."""
    code = resources.files("govops.lab.cloud")
    doc = {name: hashlib.sha256(code.joinpath(name).read_bytes()).hexdigest() for name in _SOURCES}
    return hashlib.sha256(json.dumps([SNAPSHOT_VERSION, doc], sort_keys=True).encode()).hexdigest()[:16]


def snapshot_key(cloud_plan: CloudPlan, template_key: str) -> str:
    from govops.lab.cloud.component import truth_document

    doc = {"template": template_key, "plan": truth_document(cloud_plan), "code": code_digest()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Snapshot:
    key: str
    path: Path

    @property
    def datadir(self) -> Path:
        return self.path / "mysql"

    @property
    def files(self) -> Path:
        return self.path / "files"

    def meta(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / META).read_text())
        return data


def _root(venv: Path) -> Path:
    return schema.templates_root(venv)


def lookup(venv: Path, cloud_plan: CloudPlan) -> Snapshot | None:
    """The snapshot of ``cloud_plan`` for this venv and MariaDB, if one was made."""
    key = snapshot_key(cloud_plan, schema.template_key(schema.mariadb_version(), current_user()))
    path = _root(venv) / f"cloud-{key}"
    if (path / META).is_file() and (path / "mysql" / "mysql").is_dir():
        return Snapshot(key, path)
    return None


def build(venv: Path, project_root: Path, servers: int, seed: int) -> tuple[Snapshot, float]:
    """Seed a scratch lab with this plan, stop it and keep what it left; returns the snapshot and seconds spent.

    Needs the schema template (``schema.build``). Snapshots made with another template or seeding code
    can never be restored again and are removed.
    """
    from govops.lab.cloud.component import CloudLab
    from govops.lab.core import LabContext, LabOptions
    from govops.lab.processes import ProcessManager

    started = time.monotonic()
    template = schema.template_key(schema.mariadb_version(), current_user())
    # As for the schema template: MariaDB's socket path must fit in sun_path, so not under the venv.
    scratch = Path(tempfile.mkdtemp(prefix="govops-cloudsnap-"))
    try:
        layout = Layout(scratch)
        layout.record_venv(venv)
        ctx = LabContext(scratch, project_root, LabOptions(servers=servers, seed=seed), ProcessManager(scratch))
        lab = CloudLab()
        try:
            lab.up(ctx)
            record = json.loads(layout.seeded_file.read_text())
        finally:
            lab.down(ctx)
            ctx.processes.stop_all()
        if "restored_from" in record:  # another install made this snapshot meanwhile, and up restored it
            found = lookup(venv, lab.plan_of(ctx, layout))
            if found is not None:
                return found, 0.0
        key = snapshot_key(lab.plan_of(ctx, layout), template)
        root = _root(venv)
        staging = root / f".cloud-{key}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        shutil.move(layout.mysql / "data", staging / "mysql")  # the temp dir may be another filesystem
        shutil.copytree(layout.data, staging / "files", symlinks=True)
        seconds = round(time.monotonic() - started, 1)
        meta = {
            "key": key,
            "template": template,
            "code": code_digest(),
            "servers": servers,
            "seed": seed,
            "data_root": str(layout.data),  # Glance's image locations name it: rewritten at restore
            "seeded": {k: v for k, v in record.items() if k in ("seconds", "timings", "servers", "hypervisors")},
            "seconds": seconds,
            "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (staging / META).write_text(json.dumps(meta, indent=1) + "\n")
        # Snapshots of other plans stay; those of another template or code can never match again.
        for old in root.glob("cloud-*"):
            try:
                made = json.loads((old / META).read_text())
            except (OSError, ValueError):
                made = {}
            if (made.get("template"), made.get("code")) != (template, meta["code"]):
                shutil.rmtree(old, ignore_errors=True)
        target = root / f"cloud-{key}"
        shutil.rmtree(target, ignore_errors=True)
        try:
            staging.replace(target)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise LabError(f"could not keep the cloud snapshot in {target}: {exc}") from None
        return Snapshot(key, target), seconds
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def build_if_missing(venv: Path, project_root: Path, servers: int, seed: int) -> tuple[Snapshot, float]:
    """The snapshot of this plan (and the schema template it needs), made now if missing; seconds spent."""
    from govops.lab.cloud.component import CloudLab

    found = lookup(venv, CloudLab.plan_for(project_root, servers, seed))
    if found is not None:
        return found, 0.0
    if schema.lookup(venv).datadir is None:
        schema.build(venv)
    return build(venv, project_root, servers, seed)


def glance_locations_sql(old_root: str, new_root: str) -> str:
    """Point Glance's image locations at this lab's files (they are absolute ``file://`` URLs)."""

    def literal(text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"

    old, new = literal(f"file://{old_root}/"), literal(f"file://{new_root}/")
    return f"UPDATE glance.image_locations SET value = REPLACE(value, {old}, {new});"  # noqa: S608 - quoted above
