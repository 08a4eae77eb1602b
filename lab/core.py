"""The lab as a whole: a folder, its components (extranet, cloud, prometheus) and their peers.

Each component implements ``LabComponent``; ``up`` starts its peers through the shared
``ProcessManager`` and returns the config fragment and shell exports that point govops at it.
The lab folder then holds a ready-to-use ``govops.yaml`` merged from those fragments.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from govops.lab.processes import LabError, ProcessManager
from govops.observer import NullObserver, Observer

COMPONENTS: dict[str, str] = {
    "extranet": "govops.lab.extranet.component:ExtranetLab",
    "cloud": "govops.lab.cloud.component:CloudLab",
    "prometheus": "govops.lab.prometheus.component:PrometheusLab",
    "broker": "govops.lab.broker:BrokerLab",
    "hosts": "govops.lab.extranet.hosts:HostsLab",
}
# Start order: Prometheus' history is generated for the cloud's servers, so the cloud comes first.
ORDER = ("extranet", "cloud", "prometheus", "broker", "hosts")  # hosts: workers need the broker


@dataclass
class LabOptions:
    devices: int = 2297  # extranet: devices per city
    cities: int = 1  # extranet: more than 1 is a province of that many cities (the scale model)
    lean: bool = False  # extranet: SNMP agents keep about half the memory, for more CPU per response
    hosts: tuple[str, ...] = ()  # hosts: a worker in a network namespace per county/city/group code
    store: str | None = None  # hosts: the PostgreSQL results store the workers and the coordinator share
    seed: int = 1
    faults: float = 0.0  # share of extranet devices given a fault (unreachable, slow, bad creds, ...)
    config_faults: bool = False  # extranet: two devices reject a configuration line / drop mid-push
    history_days: int = 90
    step_seconds: int = 300
    servers: int | None = None  # cloud: how many servers to seed (None: component default)
    snapshot: bool = True  # cloud: install makes the seeded-cloud snapshot of this plan, up restores it


@dataclass
class PeerStatus:
    component: str
    name: str
    up: bool
    detail: str = ""


@dataclass
class ComponentResult:
    """What a component's ``up`` hands back to be merged into the lab's govops.yaml and env."""

    config: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    next_steps: list[str] = field(default_factory=list)


@dataclass
class LabContext:
    dir: Path
    project_root: Path
    options: LabOptions
    processes: ProcessManager
    observer: Observer = field(default_factory=NullObserver)

    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)


class LabComponent(Protocol):
    name: str

    def install(self, ctx: LabContext) -> None:
        """Install what this component needs (apt packages, a private venv under ctx.dir); idempotent."""

    def up(self, ctx: LabContext) -> ComponentResult:
        """Start (or keep) this component's peers; idempotent."""

    def status(self, ctx: LabContext) -> list[PeerStatus]: ...

    def down(self, ctx: LabContext) -> list[str]:
        """Stop every peer this component started; returns their names."""


def load_component(name: str) -> LabComponent:
    target = COMPONENTS.get(name)
    if target is None:
        raise LabError(f"unknown lab component '{name}' (one of: {', '.join(COMPONENTS)})")
    module, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        raise LabError(
            f"lab component '{name}' is not available: {exc.name} is missing",
            hint="pip install 'govops[lab]'",
        ) from None
    component: LabComponent = cls()
    return component


class Lab:
    def __init__(self, lab_dir: Path, project_root: Path) -> None:
        self.dir = lab_dir
        self.project_root = project_root
        self.processes = ProcessManager(lab_dir)
        self.state_file = lab_dir / "lab.json"

    def state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.state_file.read_text())
            return data
        except (OSError, ValueError):
            return {"components": {}}

    def _save(self, state: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        # Components' env (credential variables for `lab env`) is kept here: owner-only.
        fd = os.open(self.state_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(state, indent=2, ensure_ascii=False))
        os.chmod(self.state_file, 0o600)

    def context(self, options: LabOptions, observer: Observer) -> LabContext:
        return LabContext(self.dir, self.project_root, options, self.processes, observer)

    def up(self, names: Iterable[str], options: LabOptions, observer: Observer) -> dict[str, ComponentResult]:
        self.dir.mkdir(parents=True, exist_ok=True)
        gitignore = self.dir / ".gitignore"
        if not gitignore.exists():
            gitignore.write_text("*\n")  # the lab folder holds generated secrets: never commit it
        state = self.state()
        results: dict[str, ComponentResult] = {}
        ctx = self.context(options, observer)
        for name in sorted(set(names), key=ORDER.index):
            component = load_component(name)
            result = component.up(ctx)
            results[name] = result
            state["components"][name] = {
                "options": asdict(options),
                "config": result.config,
                "env": result.env,
                "next_steps": result.next_steps,
            }
            self._save(state)
            self.write_config(state)
        return results

    def down(self, names: Iterable[str] | None = None) -> list[str]:
        state = self.state()
        wanted = list(names) if names is not None else list(state["components"]) or list(COMPONENTS)
        stopped: list[str] = []
        ctx = self.context(LabOptions(), NullObserver())
        for name in sorted(set(wanted), key=ORDER.index, reverse=True):
            try:
                component = load_component(name)
            except LabError:
                continue
            stopped.extend(component.down(ctx))
            state["components"].pop(name, None)
        # Anything still recorded (a component that crashed half-way) is stopped by PID too.
        stopped.extend(self.processes.stop_all())
        self._save(state)
        self.write_config(state)
        return stopped

    def status(self) -> list[PeerStatus]:
        state = self.state()
        ctx = self.context(LabOptions(), NullObserver())
        out: list[PeerStatus] = []
        for name in sorted(state["components"], key=ORDER.index):
            out.extend(load_component(name).status(ctx))
        return out

    def env(self) -> dict[str, str]:
        state = self.state()
        env = {"GOVOPS_CONFIG": str(self.dir / "govops.yaml")}
        for comp in state["components"].values():
            env.update(comp.get("env", {}))
        return env

    def write_config(self, state: dict[str, Any]) -> Path:
        """govops.yaml for the lab: store in the lab folder, departments from the project."""
        cfg: dict[str, Any] = {
            "version": 1,
            "departments": str(self.project_root / "inventories" / "departments.yaml"),
            "playbooks": str(self.project_root / "playbooks"),
            "store": {"url": f"sqlite:///{self.dir / 'store.db'}"},
            # the sample city's reports show local time
            "report": {"timezone": "Asia/Shanghai"},
        }
        for name in sorted(state["components"], key=ORDER.index):
            _merge(cfg, state["components"][name].get("config", {}))
        from govops.yamlio import dump

        path = self.dir / "govops.yaml"
        path.write_text("# Written by `govops lab up`; points govops at the local lab.\n" + dump(cfg))
        return path


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for k, v in other.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def apt_install(ctx: LabContext, packages: Sequence[str], installed: Callable[[], bool]) -> None:
    """``apt-get install`` the packages unless ``installed()`` already holds; a ``LabError`` with
    apt's last lines when they are still missing after it."""
    if installed():
        return
    names = " ".join(packages)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise LabError(f"not installed: {names}", hint=f"as root: apt-get install -y --no-install-recommends {names}")
    ctx.observer.message(f"apt-get install {names} …")
    proc = subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"DEBIAN_FRONTEND": "noninteractive"},
    )
    # A package's postinst cannot start its system service in a container: that is fine, the lab
    # runs its own processes; what counts is whether the programs are there now.
    if not installed():
        tail = " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])
        raise LabError(f"apt-get install {names} failed: {tail}", hint="as root, after apt-get update")
