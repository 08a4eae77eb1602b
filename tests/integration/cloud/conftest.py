"""The session's lab cloud: a real OpenStack and its Prometheus, for every test in tests/integration/cloud.

``cloud_lab`` (session scope) returns a ``CloudLabInfo``:

- ``dir: Path`` the lab folder (``govops lab up --cloud --dir``);
- ``clouds_file: Path`` its ``clouds.yaml`` (admin cloud and one cloud per department user);
- ``cloud: str`` the admin cloud's name in it (``govops-lab``);
- ``dept_cloud(code) -> str`` the cloud of a department's own user (``govops-lab-<code>``), scoped to
  its project with the ``member`` role, so Nova applies the department's quotas;
- ``config: Path`` the lab's ``govops.yaml`` (``cloud.name``/``cloud.clouds_file``, ``prometheus.url``);
- ``env() -> dict[str, str]`` ``GOVOPS_CONFIG``, ``OS_CLIENT_CONFIG_FILE``, ``OS_CLOUD``: ``monkeypatch.setenv``
  each before running govops or ``openstack`` (the autouse ``isolation`` fixture clears ``GOVOPS_*`` and
  ``OS_*`` for every test);
- ``connect(code=None)`` an openstacksdk ``Connection`` as admin, or as department ``code``'s user;
- ``prometheus_url: str`` the lab's Prometheus (``http://127.0.0.1:<port>``);
- ``truth: dict`` with three documents:
  ``truth["cloud"]`` (``cloud-truth.json``: ``near_quota`` department code, filled to its instances
  quota; ``departments[code]`` -> ``project``, ``user``, ``cloud``, ``quotas`` {cores, ram_mb,
  instances, gigabytes, volumes, floating_ips, ports} as set, ``servers`` [{name, flavor, stopped,
  oversized, volume_gb, ...}]; ``hypervisors``; ``flavors``),
  ``truth["inventory"]`` (``cloud-inventory.json``: the cloud read back from its APIs after seeding:
  ``servers`` with real ids, hosts, statuses; ``projects``; ``hypervisors``) and
  ``truth["prometheus"]`` (``prometheus-truth.json``: ``window``, per-``departments`` figures,
  ``near_quota`` for volumes, ``stopped_vms``, ``idle_vms``, ``hypervisors``, ``metrics``);
- ``venv: Path`` the lab's OpenStack venv; ``openstack_cli: Path | None`` its ``openstack`` command;
- ``owned: bool`` True when this session started the lab (and will stop it).

Servers and quotas are shared by every test: a test that creates something deletes it, and none
changes a seeded quota. Set ``GOVOPS_TEST_CLOUD_LAB=/path/to/lab`` to reuse a lab that is already up
(e.g. ``/work/devlab``); a reused lab is never stopped. Otherwise a small lab (64 servers, 30 days of
history at 1 h) is started in a temporary folder, with the OpenStack venv from
``$GOVOPS_LAB_OPENSTACK_VENV`` or the one ``govops lab install --cloud`` put in ``.govops-lab/``, and
stopped by recorded PID at the end of the session. It is restored from a seeded-cloud snapshot of its
plan, made first if the venv has none (see ``_seeded_snapshot``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, REPO, need

# Read at import: the autouse isolation fixture removes GOVOPS_* from each test's environment.
REUSE = os.environ.get("GOVOPS_TEST_CLOUD_LAB", "")
VENV = os.environ.get("GOVOPS_LAB_OPENSTACK_VENV", "")
SERVERS, SEED, HISTORY_DAYS, STEP = 64, 5, 30, 3600


@dataclass(frozen=True)
class CloudLabInfo:
    dir: Path
    clouds_file: Path
    cloud: str
    config: Path
    prometheus_url: str
    truth: dict[str, Any]
    venv: Path
    owned: bool

    def dept_cloud(self, code: str) -> str:
        from govops.lab.cloud.seed import department_cloud

        return department_cloud(code)

    def env(self) -> dict[str, str]:
        return {
            "GOVOPS_CONFIG": str(self.config),
            "OS_CLIENT_CONFIG_FILE": str(self.clouds_file),
            "OS_CLOUD": self.cloud,
        }

    def connect(self, code: str | None = None) -> Any:
        import openstack.config
        from openstack import connection

        name = self.cloud if code is None else self.dept_cloud(code)
        region = openstack.config.OpenStackConfig(config_files=[str(self.clouds_file)]).get_one(cloud=name)
        return connection.Connection(config=region)

    @property
    def openstack_cli(self) -> Path | None:
        path = self.venv / "bin" / "openstack"
        return path if path.exists() else None


def load_cloud_lab(lab_dir: Path, owned: bool = False) -> CloudLabInfo:
    """A ``CloudLabInfo`` for a folder where ``govops lab up --cloud`` finished."""
    from govops.lab.cloud.layout import CLOUD_NAME, Layout

    state = json.loads((lab_dir / "lab.json").read_text())
    url = state["components"]["prometheus"]["config"]["prometheus"]["url"]
    layout = Layout(lab_dir)
    return CloudLabInfo(
        dir=lab_dir,
        clouds_file=layout.clouds_file,
        cloud=CLOUD_NAME,
        config=lab_dir / "govops.yaml",
        prometheus_url=url,
        truth={
            "cloud": json.loads(layout.truth_file.read_text()),
            "inventory": json.loads(layout.inventory_file.read_text()),
            "prometheus": json.loads((lab_dir / "prometheus-truth.json").read_text()),
        },
        venv=layout.venv,
        owned=owned,
    )


def _openstack_venv() -> Path:
    from govops.lab.cloud.layout import Layout

    venv = Path(VENV) if VENV else Layout(REPO / ".govops-lab").venv
    if not (venv / "bin" / "nova-compute").exists():
        missing = f"no OpenStack venv at {venv} (govops lab install --cloud, or set GOVOPS_LAB_OPENSTACK_VENV)"
        if IN_CI:
            pytest.fail(missing)
        pytest.skip(missing)
    return venv


def _seeded_snapshot(venv: Path) -> None:
    """The session lab's plan as a seeded-cloud snapshot, made once per venv (seeding runs then, for real).

    The lab then comes up by restoring it, so a session exercises both: the seeding through the APIs
    (when the snapshot is made) and the restore (``test_lab_cloud``); later sessions only restore.
    """
    from govops.lab.cloud import snapshot

    snapshot.build_if_missing(venv, REPO, SERVERS, SEED)


@pytest.fixture(scope="session")
def cloud_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudLabInfo]:
    """A real OpenStack + Prometheus lab; see the module docstring for the API."""
    if REUSE:
        yield load_cloud_lab(Path(REUSE).resolve())
        return
    need(binary="prometheus")
    need(binary="promtool")
    need(module="openstack")
    for daemon in ("/usr/sbin/mariadbd", "/usr/lib/rabbitmq/bin/rabbitmq-server"):
        if not Path(daemon).exists():
            if IN_CI:
                pytest.fail(f"{daemon} missing: CI must install it (.ci/run)")
            pytest.skip(f"{daemon} not installed")
    venv = _openstack_venv()
    from govops.lab.cloud.layout import Layout
    from govops.lab.core import Lab, LabOptions
    from govops.observer import NullObserver

    lab = Lab(tmp_path_factory.mktemp("cloud-lab"), REPO)
    Layout(lab.dir).record_venv(venv)
    options = LabOptions(seed=SEED, history_days=HISTORY_DAYS, step_seconds=STEP, servers=SERVERS)
    _seeded_snapshot(venv)
    try:
        lab.up(["cloud", "prometheus"], options, NullObserver())
        yield load_cloud_lab(lab.dir, owned=True)
    finally:
        lab.down()
