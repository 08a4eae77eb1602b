"""``net audit -o json`` is a published format (govops.net.audit/1): its bytes must not change.

The audit runs on fake collectors that answer with real-format device outputs and the real
analyzer and rules; run IDs, times, durations and temporary paths are normalised, everything
else is compared byte for byte with the golden file. Regenerate it (only for an intended change
of the output, with a new schema version) with ``UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from govops.credentials import Credential
from govops.network.analysis import DefaultAnalyzer
from govops.network.audit import AuditEngine, AuditSettings
from govops.network.collectors.base import SnmpOutput, SnmpTarget, SshOutput, SshTarget, TimedOut, Unreachable
from govops.network.generate import generate_inventory

from tests.fakes import FakeSnmp
from tests.unit.test_analysis import outputs
from tests.unit.test_audit_engine import ENV

GOLDEN = Path(__file__).parent / "golden" / "net_audit.json"
OUTPUTS = {"huawei_vrp": "s5720-acc", "hp_comware": "s5130-agg"}


class GoldenSsh:
    """Real-format outputs per platform; one device is unreachable."""

    def collect(self, target: SshTarget, credential: Credential, commands: Sequence[str], deadline: float) -> SshOutput:
        if target.platform not in OUTPUTS or target.hostname == "gx-dist1":
            raise Unreachable("ssh: connection refused")
        outs = outputs(target.platform, OUTPUTS[target.platform])
        return SshOutput({c: outs[c] for c in commands if c in outs}, ("ssh-ed25519", "SHA256:abc"))

    def probe(self, host: str, port: int, timeout: float) -> bool:
        return True


class GoldenSnmp(FakeSnmp):
    async def collect(
        self, target: SnmpTarget, credential: Credential, gets: Sequence[str], walks: Sequence[str]
    ) -> SnmpOutput:
        if target.hostname == "lg-dist1":
            raise TimedOut("snmp: no response")
        return SnmpOutput({"1.3.6.1.2.1.1.5.0": target.hostname.encode(), "1.3.6.1.2.1.1.1.0": b"Huawei VRP"})


def normalised(text: str, tmp: Path) -> str:
    """The output with what differs between runs (IDs, times, durations, paths) replaced."""
    text = text.replace(str(tmp), "<tmp>")
    text = re.sub(r'"id": "[^"]+"', '"id": "<run>"', text)
    text = re.sub(r'"\d{4}-\d\d-\d\dT[0-9:.]+(\+00:00|Z)?"', '"<time>"', text)
    return re.sub(r'"duration_s": [0-9.e-]+', '"duration_s": 0', text)


@pytest.fixture
def golden_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli, ports):  # type: ignore[no-untyped-def]
    generate_inventory(sites=40, seed=3).write(tmp_path / "inv")
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)

    def build(ctx, observer, **_):  # type: ignore[no-untyped-def]
        return AuditEngine(
            ssh=GoldenSsh(),
            snmp_factory=lambda: GoldenSnmp({}, communities={}),
            analyzer=DefaultAnalyzer(),
            credentials=ctx.credentials,
            store=ctx.store,
            settings=AuditSettings(ssh_workers=1, snmp_concurrency=1, retries=0),
            observer=observer,
        )

    ports.audit_engine = build
    return lambda *args: cli(*args, "net", "audit", "-i", str(tmp_path / "inv"), "--limit", "12")


def test_audit_json_is_byte_identical_to_the_golden_file(golden_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = golden_cli("-o", "json")
    assert r.code == 3, r.err
    got = normalised(r.out, tmp_path)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(got, encoding="utf-8")
    assert got == GOLDEN.read_text(encoding="utf-8")
