"""The SNMP codec switch: ``network.snmp_codec`` (fast, pyasn1) through ``snmp.use_codec`` only.

Installing the fast codec changes pysnmp's modules for the whole process, so each case runs in a
process of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from govops.config import load_config

PROBE = """
import pysnmp.proto.mpmod.rfc3412 as mp, pysnmp.proto.secmod.rfc3414.service as usm
from govops.network.collectors.snmp import PysnmpCollector
PysnmpCollector({codec!r})
print(type(mp.decoder).__name__, type(usm.encoder).__name__)
"""


def _codecs_in_pysnmp(codec: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(codec=codec)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_fast_codec_is_installed_under_pysnmp() -> None:
    assert _codecs_in_pysnmp("fast") == "_Decoder _Encoder"


def test_pyasn1_codec_leaves_pysnmp_untouched() -> None:
    assert "_Decoder" not in _codecs_in_pysnmp("pyasn1") and "_Encoder" not in _codecs_in_pysnmp("pyasn1")


def test_request_varbinds_encode_alike_both_ways() -> None:
    from govops.network.collectors import ber
    from govops.network.collectors.snmp import _pyasn1_varbind, _request_varbind
    from pyasn1.codec.ber import encoder  # type: ignore[import-untyped]

    for name in ((1, 3, 6, 1, 2, 1, 1, 1, 0), (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1, 100000)):
        assert encoder.encode(_pyasn1_varbind(name)) == encoder.encode(_request_varbind(name))
        assert ber.encode(_request_varbind(name)) == encoder.encode(_pyasn1_varbind(name))


def test_config_key_defaults_to_fast_and_refuses_others(tmp_path: Path) -> None:
    from govops.errors import GovopsError

    cfg = tmp_path / "govops.yaml"
    cfg.write_text("network:\n  snmp_codec: pyasn1\n", encoding="utf-8")
    assert load_config(cfg).config.network.snmp_codec == "pyasn1"
    cfg.write_text("network: {}\n", encoding="utf-8")
    assert load_config(cfg).config.network.snmp_codec == "fast"
    cfg.write_text("network:\n  snmp_codec: asn1c\n", encoding="utf-8")
    with pytest.raises(GovopsError):
        load_config(cfg)


def test_audit_engine_workers_get_the_configured_codec(tmp_path: Path) -> None:
    import pickle

    from govops.cli.application import Application
    from govops.observer import NullObserver

    cfg = tmp_path / "govops.yaml"
    cfg.write_text("network:\n  snmp_codec: pyasn1\n", encoding="utf-8")
    app = Application(config_path=cfg)
    engine = app.audit_engine(NullObserver())
    factory = pickle.loads(pickle.dumps(engine.snmp_factory))  # as the worker processes get it
    assert factory.args == ("pyasn1",)
    app.close()
