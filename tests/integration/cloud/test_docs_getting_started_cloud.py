"""docs/getting-started.md's cloud blocks, run as written against the session's cloud lab.

The page creates and deletes one m1.tiny VM, ``first-vm`` in department gaj; it is deleted again
here if a failed run left it behind, so the shared lab keeps its servers and quotas.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.docblocks import blocks, run
from tests.integration.cloud.conftest import CloudLabInfo

pytestmark = pytest.mark.integration
PAGE = REPO / "docs" / "getting-started.md"


def test_the_getting_started_cloud_blocks_run_on_the_lab(cloud_lab: CloudLabInfo, tmp_path: Path) -> None:
    mine = [b for b in blocks(PAGE) if b.lab == "cloud"]
    assert len(mine) >= 3, "the page lost its tested cloud blocks"
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    try:
        for block in mine:
            run(block, cloud_lab.dir, tmp_path, env, timeout=900)
    finally:
        subprocess.run(
            ["govops", "cloud", "vm", "delete", "first-vm", "--dept", "gaj", "--yes"],
            env={**env, **cloud_lab.env()},
            cwd=tmp_path,
            capture_output=True,
            timeout=300,
        )
    assert "<html" in (tmp_path / "capacity.html").read_text(encoding="utf-8").lower()
