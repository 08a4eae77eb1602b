"""The architecture's import contracts (pyproject's [tool.importlinter], docs/design/layers.md) hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", LINT], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_import_contracts_are_kept() -> None:
    proc = _lint(REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_no_cli_module_imports_a_command_module() -> None:
    """What the independence contract says, in words a reader can check without the tool: only the
    root (app.py) and a group's own package assemble command modules."""
    commands = {"cloud", "net", "net_remediate", "play", "capacity", "report", "lab", "config_cmd", "doctor", "worker"}
    offenders = []
    for path in (REPO / "cli").rglob("*.py"):
        rel = path.relative_to(REPO / "cli")
        own = rel.parts[0].removesuffix(".py")
        if rel.name == "app.py" and len(rel.parts) == 1:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            for name in commands - {own}:
                if line.strip().startswith((f"from govops.cli.{name} ", f"import govops.cli.{name}")) or (
                    line.strip().startswith("from govops.cli import") and f" {name}" in line.split("import", 1)[1]
                ):
                    offenders.append(f"{rel}: {line.strip()}")
    assert offenders == []


def test_each_port_protocol_is_defined_once() -> None:
    """A protocol defined in two services (StageObserver was, in automation/ and cloud/) drifts apart;
    one definition in core, imported by both, is the same type for every isinstance check."""
    import re

    from govops.automation import play
    from govops.cloud import batch
    from govops.observer import StageObserver

    definitions = [
        str(p.relative_to(REPO))
        for folder in ("core", "cli", "cloud", "network", "capacity", "reports", "automation")
        for p in (REPO / folder).rglob("*.py")
        if re.search(r"^class StageObserver\b", p.read_text(encoding="utf-8"), re.M)
    ]
    assert definitions == ["core/observer.py"]
    assert play.StageObserver is StageObserver and batch.StageObserver is StageObserver
