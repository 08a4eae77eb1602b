"""A lab Prometheus of its own for one test module: backfilled, served on loopback, stopped after."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from govops.lab.core import Lab, LabOptions
from govops.observer import NullObserver

from tests.conftest import REPO, need


@contextlib.contextmanager
def prometheus_lab(lab_dir: Path, options: LabOptions) -> Iterator[tuple[Lab, str, dict[str, Any]]]:
    """(lab, Prometheus URL, the history's ground truth); skips without the peer's packages."""
    need(binary="prometheus")
    need(binary="promtool")
    need(module="prometheus_api_client")
    lab = Lab(lab_dir, REPO)
    try:
        results = lab.up(["prometheus"], options, NullObserver())
        url = results["prometheus"].config["prometheus"]["url"]
        yield lab, url, json.loads((lab.dir / "prometheus-truth.json").read_text())
    finally:
        lab.down()
