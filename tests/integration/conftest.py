"""Session-wide lab fixtures for integration tests: a small simulated extranet of real SSH/SNMP peers.

``extranet_lab``: 60 devices, seed 7, ``--faults 10%`` (6 devices: one or more of each fault kind).
``extranet_lab_clean``: 30 devices, seed 3, no faults (every device answers correctly).

Both return an ``ExtranetLabInfo``:

- ``dir: Path`` the lab folder (``govops lab up --dir``);
- ``config: Path`` its ``govops.yaml`` (pass as ``--config`` or ``GOVOPS_CONFIG``);
- ``inventory: Path`` the generated inventory folder the config points at;
- ``env: dict[str, str]`` the credential variables (``GOVOPS_CRED_*``): ``monkeypatch.setenv`` each
  before running govops (the autouse ``isolation`` fixture clears ``GOVOPS_*`` for every test);
- ``truth: dict`` ``truth.json`` loaded: ``truth["devices"][hostname]`` holds ``expected_status``
  (ok, unreachable, timeout, auth_failed, error, parse_error), ``fault`` (None or
  ``{"kind": ..., "delay_s": ...}``), ``facts`` (``govops.network.facts.DeviceFacts.to_dict()``),
  ``snmp_facts`` (None unless the SNMP view deliberately differs), ``snmp_view``, ``ipv6_profile``,
  ``access`` (ssh/snmp address and port), ``source`` (plan or snmpd-readback);
  ``truth["lab"]`` holds devices, seed, faults;
- ``credentials: dict[str, dict[str, str]]`` the same secrets by credential name and field, for
  tests that talk to devices directly (netmiko, snmpwalk).

Set ``GOVOPS_TEST_EXTRANET_LAB=/path/to/lab`` (or ``GOVOPS_TEST_EXTRANET_LAB_CLEAN``) to reuse an
already-up lab instead of starting one; a reused lab is never stopped by the tests.
Labs started here are stopped at the end of the session, by recorded PID (``Lab.down``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, need


@dataclass
class ExtranetLabInfo:
    dir: Path
    config: Path
    inventory: Path
    env: dict[str, str]
    truth: dict[str, Any]
    credentials: dict[str, dict[str, str]] = field(default_factory=dict)

    def devices(self, **where: Any) -> list[str]:
        """Hostnames whose truth entry matches, e.g. ``devices(expected_status="ok")``."""
        out = []
        for host, entry in self.truth["devices"].items():
            if all(_get(entry, k) == v for k, v in where.items()):
                out.append(host)
        return out


def _get(entry: dict[str, Any], key: str) -> Any:
    if key == "platform":
        return entry["facts"]["platform"]
    if key == "fault":
        return entry["fault"]["kind"] if entry["fault"] else None
    return entry.get(key)


def load_lab_info(lab_dir: Path) -> ExtranetLabInfo:
    """An ``ExtranetLabInfo`` for a lab folder written by ``govops lab up --extranet``."""
    from govops.lab.extranet.component import read_credentials_env

    env = read_credentials_env(lab_dir / "credentials.env")
    truth = json.loads((lab_dir / "truth.json").read_text())
    creds: dict[str, dict[str, str]] = {}
    for name, fields in truth["credentials"].items():
        creds[name] = {f: env[var] for f, var in fields.items()}
    return ExtranetLabInfo(
        dir=lab_dir,
        config=lab_dir / "govops.yaml",
        inventory=Path(truth["inventory"]),
        env=env,
        truth=truth,
        credentials=creds,
    )


def _lab_fixture(
    tmp_path_factory: pytest.TempPathFactory, reuse_var: str, name: str, devices: int, seed: int, faults: float
) -> Iterator[ExtranetLabInfo]:
    reuse = os.environ.get(reuse_var)
    if reuse:
        yield load_lab_info(Path(reuse).resolve())
        return
    need(module="asyncssh")
    need(module="snmpsim")
    need(binary="snmpd")
    from govops.lab.core import Lab, LabOptions
    from govops.observer import NullObserver

    lab = Lab(tmp_path_factory.mktemp(name), REPO)
    try:
        lab.up(["extranet"], LabOptions(devices=devices, seed=seed, faults=faults), NullObserver())
        yield load_lab_info(lab.dir)
    finally:
        lab.down()


@pytest.fixture(scope="session")
def extranet_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExtranetLabInfo]:
    """60 devices, seed 7, 10 % faults; see the module docstring for the API."""
    yield from _lab_fixture(tmp_path_factory, "GOVOPS_TEST_EXTRANET_LAB", "extranet-lab", 60, 7, 0.10)


@pytest.fixture(scope="session")
def extranet_lab_clean(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExtranetLabInfo]:
    """30 devices, seed 3, no faults; see the module docstring for the API."""
    yield from _lab_fixture(tmp_path_factory, "GOVOPS_TEST_EXTRANET_LAB_CLEAN", "extranet-lab-clean", 30, 3, 0.0)
