"""Shared fixtures: an isolated environment for every test (hatch's pattern) and a CLI runner."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# A CI job started in the background (``cmd &``, nohup) ignores SIGINT, and an ignored signal stays
# ignored across exec: every govops the tests start would ignore the Ctrl-C they send it. A handler
# in this process is reset to the default in each child instead.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(binary: str | None = None, module: str | None = None) -> None:
    """Skip when a peer's package is absent on a developer machine; in CI that is a failure."""
    missing = None
    if binary is not None and shutil.which(binary) is None:
        missing = f"{binary} not installed"
    if module is not None:
        import importlib.util

        if importlib.util.find_spec(module) is None:
            missing = f"python module {module} not installed"
    if missing:
        if IN_CI:
            pytest.fail(f"{missing}: CI must install it (.ci/run)")
        pytest.skip(missing)


@pytest.fixture(autouse=True)
def isolation(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test runs with its own HOME, XDG dirs and cwd, and none of the caller's govops/OS env."""
    home = tmp_path_factory.mktemp("home")
    for var in list(os.environ):
        if var.startswith(("GOVOPS_", "OS_")) or var in ("NO_COLOR", "LANG", "LC_ALL", "LC_MESSAGES"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("COLUMNS", "200")
    # keyring would probe D-Bus on a desktop; tests use the env and vault sources
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.chdir(home)
    yield home


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def ports():  # type: ignore[no-untyped-def]
    """The adapters ``cli`` runs with: a test puts its fakes here (``ports.cloud = FakeCloud()``);
    what it leaves None is built from the config, as in production."""
    from govops.cli.application import Ports

    return Ports()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], ports):  # type: ignore[no-untyped-def]
    """Run ``govops ARGS`` in-process through ``main`` (the real error handling and exit codes),
    with the ``ports`` fixture's fakes."""
    from govops.cli.app import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args), ports=ports)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's data folders (departments, sample inventory) to break at will."""
    dest = tmp_path / "project"
    shutil.copytree(REPO / "inventories", dest / "inventories")
    (dest / "playbooks").mkdir()
    return dest


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the namespace-hosts lab's tests after every other lab test.

    Its hosts change the machine's interfaces and routes while they run (veth pairs, local routes),
    and the shared extranet lab's net-snmp device reads the machine's interfaces back: in CI, the
    facts and remediation tests that came after it failed, while each passes on its own.
    """
    last = [i for i in items if i.nodeid.startswith("tests/integration/test_lab_hosts.py")]
    if not last:
        return
    rest = [i for i in items if i not in last]
    at = next((k for k, i in enumerate(rest) if i.nodeid.startswith("tests/unit/")), len(rest))
    items[:] = rest[:at] + last + rest[at:]
