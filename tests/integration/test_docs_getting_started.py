"""docs/getting-started.md's extranet blocks, run as written against the session's extranet lab."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.docblocks import blocks, run
from tests.integration.conftest import ExtranetLabInfo

pytestmark = pytest.mark.integration
PAGE = REPO / "docs" / "getting-started.md"


def test_the_getting_started_extranet_blocks_run_on_the_lab(extranet_lab: ExtranetLabInfo, tmp_path: Path) -> None:
    mine = [b for b in blocks(PAGE) if b.lab == "extranet"]
    assert len(mine) >= 3, "the page lost its tested extranet blocks"
    env = dict(os.environ)
    # the `govops` of this interpreter (a worktree's venv or CI's install) comes first
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for block in mine:
        run(block, extranet_lab.dir, tmp_path, env)
    assert (tmp_path / "audit.md").stat().st_size > 0
