"""Where the lab cloud lives on disk, its ports and its generated secrets.

Everything is under ``<lab>/cloud/`` except the venv (``<lab>/openstack-venv`` unless
``GOVOPS_LAB_OPENSTACK_VENV`` points at a shared one), ``<lab>/clouds.yaml`` and
``<lab>/cloud-inventory.json``. Ports are chosen once per lab, away from the services' usual ports
(5000, 8774, 3306, 5672 ... are often taken on a developer's machine), and kept in ``ports.json``.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from govops.lab.processes import tcp_open

VENV_ENV = "GOVOPS_LAB_OPENSTACK_VENV"
PREFIX = "cloud-"
CLOUD_NAME = "govops-lab"
REGION = "RegionOne"


@dataclass(frozen=True)
class Ports:
    keystone: int = 25000
    nova: int = 28774
    cinder: int = 28776
    placement: int = 28778
    glance: int = 29292
    neutron: int = 29696
    mariadb: int = 23306
    rabbitmq: int = 25682
    rabbitmq_dist: int = 25683
    epmd: int = 24369

    def shifted(self, offset: int) -> Ports:
        return Ports(**{f.name: getattr(self, f.name) + offset for f in fields(self)})

    def items(self) -> list[tuple[str, int]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


class Layout:
    def __init__(self, lab_dir: Path) -> None:
        self.lab_dir = lab_dir
        self.root = lab_dir / "cloud"
        self.etc = self.root / "etc"
        self.data = self.root / "data"
        self.log = self.root / "log"
        self.lock = self.root / "lock"
        self.plugins = self.root / "plugins"
        self.mysql = self.root / "mysql"
        self.rabbit = self.root / "rabbit"
        self.clouds_file = lab_dir / "clouds.yaml"
        self.inventory_file = lab_dir / "cloud-inventory.json"
        self.truth_file = lab_dir / "cloud-truth.json"
        self.seeded_file = self.root / "seeded.json"
        self.ports_file = self.root / "ports.json"
        self.secrets_file = self.root / "secrets.json"
        self.venv_file = self.root / "venv-path"

    @property
    def venv(self) -> Path:
        """``$GOVOPS_LAB_OPENSTACK_VENV``, else the venv this lab recorded, else ``<lab>/openstack-venv``.

        The record keeps ``status``, ``down`` and a later ``up`` on the venv the lab was built with,
        whatever the caller's environment holds then.
        """
        override = os.environ.get(VENV_ENV)
        if override:
            return Path(override)
        try:
            recorded = self.venv_file.read_text().strip()
        except OSError:
            recorded = ""
        return Path(recorded) if recorded else self.lab_dir / "openstack-venv"

    def record_venv(self, venv: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.venv_file.write_text(f"{venv.resolve()}\n")

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    @property
    def mysql_socket(self) -> Path:
        return self.mysql / "mysqld.sock"

    def ports(self) -> Ports:
        """The lab's ports: recorded ones, else the first block of free ones."""
        try:
            return Ports(**json.loads(self.ports_file.read_text()))
        except (OSError, ValueError, TypeError):
            pass
        for offset in range(0, 3000, 100):
            candidate = Ports().shifted(offset)
            # Every service binds 127.0.0.1, but two also need their port on ::1, where the extranet lab's
            # SSH devices may listen (it picks its ranges at random): RabbitMQ checks its distribution
            # port on "localhost", and epmd always binds the loopback addresses too (and exits silently,
            # status 0, when ::1's is taken).
            taken = any(tcp_open("127.0.0.1", port, 0.2) for _, port in candidate.items())
            on_ipv6 = any(_listening_on_ipv6_loopback(port) for port in (candidate.rabbitmq_dist, candidate.epmd))
            if not taken and not on_ipv6:
                self.root.mkdir(parents=True, exist_ok=True)
                self.ports_file.write_text(json.dumps(asdict(candidate), indent=1))
                return candidate
        raise OSError("no free block of ports for the lab cloud")

    def secrets(self) -> dict[str, str]:
        """Random per-lab passwords, created once, readable only by the owner."""
        try:
            data: dict[str, str] = json.loads(self.secrets_file.read_text())
            return data
        except (OSError, ValueError):
            pass
        data = {name: secrets.token_urlsafe(18) for name in ("admin", "db", "rabbit")}
        self.root.mkdir(parents=True, exist_ok=True)
        write_private(self.secrets_file, json.dumps(data))
        return data

    def department_passwords(self, codes: list[str]) -> dict[str, str]:
        """One random password per department user, created with the lab and kept with its secrets."""
        data = self.secrets()
        missing = [c for c in codes if f"dept:{c}" not in data]
        if missing:
            data.update({f"dept:{c}": secrets.token_urlsafe(18) for c in missing})
            write_private(self.secrets_file, json.dumps(data))
        return {c: data[f"dept:{c}"] for c in codes}


def write_private(path: Path, text: str) -> None:
    """Write a file that holds secrets: mode 0600 from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def current_user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def current_group() -> str:
    import grp

    return grp.getgrgid(os.getgid()).gr_name


def _listening_on_ipv6_loopback(port: int) -> bool:
    try:
        return tcp_open("::1", port, 0.2)
    except OSError:  # a machine without IPv6 has no ::1
        return False
