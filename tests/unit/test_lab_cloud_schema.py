"""The lab cloud's schema template: its key, how a lab finds it, and the fallback when it cannot."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest
from govops.lab.cloud import configs, pins, schema
from govops.lab.cloud.component import CloudLab
from govops.lab.cloud.layout import VENV_ENV, Layout, Ports
from govops.lab.cloud.services import CELL0_DB, CELL_DB, CELL_MQ
from govops.lab.core import LabContext, LabOptions
from govops.lab.processes import ProcessManager
from govops.observer import RecordingObserver

SERVER = "mariadbd  Ver 10.11.19-MariaDB-0+deb12u1"


def test_the_key_is_stable_and_follows_what_decides_the_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    key = schema.template_key(SERVER, "root")
    assert key == schema.template_key(SERVER, "root")
    assert key != schema.template_key("mariadbd  Ver 11.4.2-MariaDB", "root")
    assert key != schema.template_key(SERVER, "alice")  # MariaDB's root logs in by this unix user
    monkeypatch.setattr(pins, "REQUIREMENTS", (*pins.REQUIREMENTS, "nova==35.0.0"))
    assert schema.template_key(SERVER, "root") != key
    monkeypatch.undo()
    cnf = configs.mariadb_cnf
    monkeypatch.setattr(configs, "mariadb_cnf", lambda layout, ports: cnf(layout, ports) + "innodb_page_size = 8k\n")
    assert schema.template_key(SERVER, "root") != key


def _template(venv: Path, key: str) -> Path:
    target = schema.templates_root(venv) / f"schema-{key}"
    (target / "data" / "mysql").mkdir(parents=True)
    (target / schema.META).write_text(json.dumps({"key": key}))
    return target


def test_lookup_finds_the_template_or_says_why_not(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    missing = schema.lookup(venv, "k1")
    assert missing.datadir is None and missing.reason.startswith("no schema template in ")
    _template(venv, "k0")
    stale = schema.lookup(venv, "k1")
    assert stale.datadir is None and "schema-k0" in stale.reason and "stale" in stale.reason
    target = _template(venv, "k1")
    assert schema.lookup(venv, "k1").datadir == target / "data"
    # a template whose build stopped half-way (no metadata) is not one
    (target / schema.META).unlink()
    assert schema.lookup(venv, "k1").datadir is None


def _ctx(lab: Path, monkeypatch: pytest.MonkeyPatch, venv: Path) -> tuple[LabContext, RecordingObserver]:
    monkeypatch.setenv(VENV_ENV, str(venv))
    obs = RecordingObserver()
    return LabContext(lab, lab, LabOptions(), ProcessManager(lab), obs), obs


def test_a_fresh_lab_restores_from_the_template_else_says_it_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = tmp_path / "venv"
    ctx, obs = _ctx(tmp_path / "lab", monkeypatch, venv)
    layout = Layout(ctx.dir)
    assert CloudLab._schema_template(ctx, layout) is None
    assert "db sync instead" in obs.events[-1][1] and "govops lab install --cloud" in obs.events[-1][1]

    target = _template(venv, schema.lookup(venv).key)
    assert CloudLab._schema_template(ctx, layout) == target / "data"
    assert obs.events[-1][1].startswith("restoring the OpenStack schemas from the install-time template")

    # a datadir left by an interrupted first up is finished by db sync, never overwritten
    (layout.mysql / "data" / "mysql").mkdir(parents=True)
    assert CloudLab._schema_template(ctx, layout) is None


def _nova_format(template: str, default: str) -> str:
    """What Nova does with a cell mapping's URL template (nova.objects.cell_mapping._format_url)."""
    u = urllib.parse.urlparse(default)
    subs = {"username": u.username, "password": u.password, "hostname": u.hostname, "port": u.port}
    subs |= {"scheme": u.scheme, "query": u.query, "fragment": u.fragment, "path": u.path.lstrip("/")}
    return template.format(**subs)


def test_cell_mappings_resolve_to_each_labs_own_databases_and_broker() -> None:
    ports = Ports().shifted(300)
    nova = configs.db_url(ports, "pw-1", "nova")
    assert _nova_format(CELL_DB, nova) == nova
    assert _nova_format(CELL0_DB, nova) == configs.db_url(ports, "pw-1", "nova_cell0")
    rabbit = configs.rabbit_url(ports, "pw-2")
    assert _nova_format(CELL_MQ, rabbit) == rabbit
