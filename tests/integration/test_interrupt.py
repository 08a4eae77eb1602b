"""Ctrl-C and SIGTERM during `govops net audit` against the lab: the run is marked interrupted, its
ID and the `--resume` command are printed, the exit code is 130, and `--resume` finishes it.

Typer used to turn Ctrl-C into a silent exit 130 (no run ID) and SIGTERM killed the process with the
run left ``running`` (issue 18, item 13).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.integration.conftest import ExtranetLabInfo
from tests.integration.test_net_audit import _count, _results, _rows, govops

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_marks_the_run_interrupted_and_prints_how_to_resume(
    extranet_lab: ExtranetLabInfo, tmp_path: Path, sig: signal.Signals
) -> None:
    store = tmp_path / "store.db"
    total = len(extranet_lab.truth["devices"])
    proc = govops(
        extranet_lab, store, "--lang", "en", "net", "audit", "--workers", "2", "--snmp-concurrency", "2", wait=False
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and _count(store) < 3:
        time.sleep(0.1)
    assert proc.poll() is None, "the audit finished before the signal"
    os.kill(proc.pid, sig)
    _out, err = proc.communicate(timeout=120)

    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "internal error" not in err, err[-2000:]
    (run_id,) = {r[0] for r in _results(store)}
    assert f"run {run_id}" in err and sig.name in err, err[-2000:]
    assert f"govops net audit --resume {run_id}" in err, err[-2000:]
    status = _rows(store, "SELECT status FROM runs WHERE id = ?", (run_id,))[0][0]
    assert status == "interrupted"
    before = len(_results(store))
    assert 0 < before < total

    resumed = govops(extranet_lab, store, "-o", "json", "net", "audit", "--resume", run_id)
    assert resumed.code == 3, resumed.err[-2000:]  # the faults lab always has findings
    doc = json.loads(resumed.out)
    assert doc["run"]["id"] == run_id and doc["run"]["status"] == "finished"
    assert len(doc["devices"]) == total
    hosts = [r[1] for r in _results(store)]
    assert sorted(hosts) == sorted(extranet_lab.truth["devices"])
