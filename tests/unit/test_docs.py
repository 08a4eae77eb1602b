from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_readme_command_reference_matches_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "gen_cli_docs.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr


def test_readme_opens_with_the_two_fresh_machine_commands() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    head = text[: text.index("## ", text.index("\n") + 1) if "## " in text else 2000]
    assert "make demo" in head and "make test" in head
    makefile = (REPO / "Makefile").read_text()
    assert "demo:" in makefile and "test:" in makefile
    assert "make test" in (REPO / ".ci" / "run").read_text()
