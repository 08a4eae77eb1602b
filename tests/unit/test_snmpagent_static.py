"""The lab agent's in-memory recordings answer exactly as snmpsim's DataFile does, byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("snmpsim")

RECORDS = """\
1.3.6.1.2.1.1.1.0|4x|4875617765690d0a5652502028522920736f667477617265
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.2011.2.62.2.38
1.3.6.1.2.1.1.3.0|67|346146500
1.3.6.1.2.1.1.4.0|4|noc@egov.example
1.3.6.1.2.1.1.5.0|4e|line\\tbreak\\x41
1.3.6.1.2.1.1.7.0|2|-78
1.3.6.1.2.1.1.8.0|2|99999999999
1.3.6.1.2.1.2.2.1.2.1|4|GigabitEthernet0/0/0
1.3.6.1.2.1.2.2.1.2.2|4|
1.3.6.1.2.1.2.2.1.5.1|66|1000000000
1.3.6.1.2.1.2.2.1.10.1|65|4294967295
1.3.6.1.2.1.4.20.1.1.10.0.0.1|64|0a000001
1.3.6.1.2.1.4.20.1.2.10.0.0.1|2|1
1.3.6.1.2.1.31.1.1.1.6.1|70|18446744073709551615
1.3.6.1.2.1.31.1.1.1.18.1|4|uplink \\u263a
1.3.6.1.4.1.9.9.1.0|5|
"""


@pytest.fixture()
def recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """(snmpsim's DataFile, the agent's StaticRecording) over the same recording."""
    from govops.lab.extranet.snmpagent import StaticRecording
    from snmpsim import confdir, variation
    from snmpsim.datafile import DataFile

    monkeypatch.setattr(confdir, "cache", str(tmp_path))
    path = tmp_path / "device.snmprec"
    path.write_text(RECORDS, encoding="utf-8")
    parser = variation.RECORD_TYPES["snmprec"]
    data_file = DataFile(str(path), parser, {}).index_text()
    static = StaticRecording.load(str(path), parser)
    assert static is not None
    return data_file, static


def probes() -> list[tuple[int, ...]]:
    """Every record's OID and its neighbours: prefixes, children, siblings, before and after all."""
    found: set[tuple[int, ...]] = {(0, 0), (1, 3), (1, 3, 6, 1, 2, 1, 1, 99, 0), (1, 3, 6, 1, 9), (2, 1), (1, 3, 6, 2)}
    for line in RECORDS.splitlines():
        oid = tuple(int(arc) for arc in line.split("|")[0].split("."))
        found |= {oid, (*oid, 0), oid[:-1], (*oid[:-1], oid[-1] + 1), oid[:-2]}
        if oid[-1]:
            found.add((*oid[:-1], oid[-1] - 1))
    return sorted(found)


def encoded(oid: Any, value: Any) -> bytes:
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import rfc1905
    from pysnmp.proto.api import v2c

    return bytes(encoder.encode(v2c.apiVarBind.set_oid_value(rfc1905.VarBind(), (oid, value))))


@pytest.mark.parametrize("next_flag", [False, True])
def test_answers_match_snmpsim(recording: tuple[Any, Any], next_flag: bool) -> None:
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import rfc1902
    from pysnmp.smi import exval

    data_file, static = recording
    end = exval.endOfMib if next_flag else exval.noSuchInstance
    for oid in probes():
        name = rfc1902.ObjectName(oid)
        request = [(name, rfc1902.Null(""))]
        [(want_oid, want_value)] = data_file.process_var_binds(request, nextFlag=next_flag, setFlag=False)
        answer = static.answer(name, next_flag, end)
        assert tuple(answer[0]) == tuple(want_oid), oid
        assert type(answer[1]) is type(want_value) and answer[1] == want_value, oid
        assert bytes(encoder.encode(answer.varbind)) == encoded(want_oid, want_value), oid
        assert static.answer(name, next_flag, end) is answer  # built once


def test_response_pdus_match_pysnmp(recording: tuple[Any, Any]) -> None:
    """A response built from answers encodes as pysnmp's own set_varbinds builds it."""
    from govops.lab.extranet.snmpagent import use_prebuilt_varbinds
    from govops.network.collectors import ber
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import rfc1902
    from pysnmp.proto.api import v2c
    from pysnmp.smi import exval

    _data_file, static = recording
    answers = [static.answer(rfc1902.ObjectName(oid), True, exval.endOfMib) for oid in probes()]
    reference = v2c.GetResponsePDU()
    v2c.apiPDU.set_defaults(reference)
    v2c.apiPDU.set_request_id(reference, 7)
    v2c.apiPDU.set_varbinds(reference, [(a[0], a[1]) for a in answers])
    generic = v2c.apiPDU.set_varbinds
    try:
        use_prebuilt_varbinds()
        for _ in range(2):  # reused PDUs and shared VarBinds encode alike
            pdu = v2c.GetResponsePDU()
            v2c.apiPDU.set_defaults(pdu)
            v2c.apiPDU.set_request_id(pdu, 7)
            v2c.apiPDU.set_varbinds(pdu, answers)
            assert encoder.encode(pdu) == encoder.encode(reference)
            assert ber.encode(pdu) == encoder.encode(reference)  # the agent's codec: stored octets
        v2c.apiPDU.set_varbinds(pdu, [(a[0], a[1]) for a in answers[:3]])  # plain tuples: pysnmp's code
        v2c.apiPDU.set_varbinds(reference, [(a[0], a[1]) for a in answers[:3]])
        assert encoder.encode(pdu) == encoder.encode(reference)
    finally:
        v2c.apiPDU.set_varbinds = generic


def test_lean_answers_keep_no_varbind_and_respond_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recording: tuple[Any, Any]
) -> None:
    """``lab up --lean``: no prebuilt VarBind kept, and the response encodes as pysnmp's own."""
    from govops.lab.extranet import snmpagent
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import rfc1902
    from pysnmp.proto.api import v2c
    from pysnmp.smi import exval

    monkeypatch.setattr(snmpagent, "LEAN", True)
    monkeypatch.setattr(snmpagent, "_SHARED", {})  # answers made by the other tests are not lean
    _data_file, static = recording
    answers = [static.answer(rfc1902.ObjectName(oid), True, exval.endOfMib) for oid in probes()]
    assert all(a.varbind is None for a in answers)
    reference = v2c.GetResponsePDU()
    v2c.apiPDU.set_defaults(reference)
    v2c.apiPDU.set_request_id(reference, 7)
    v2c.apiPDU.set_varbinds(reference, [(a[0], a[1]) for a in answers])
    generic = v2c.apiPDU.set_varbinds
    try:
        snmpagent.use_prebuilt_varbinds()
        pdu = v2c.GetResponsePDU()
        v2c.apiPDU.set_defaults(pdu)
        v2c.apiPDU.set_request_id(pdu, 7)
        v2c.apiPDU.set_varbinds(pdu, answers)  # falls back to pysnmp's own building
        assert encoder.encode(pdu) == encoder.encode(reference)
    finally:
        v2c.apiPDU.set_varbinds = generic


@pytest.mark.parametrize("size", [0, 100, 127, 128, 200, 255, 256, 5000])
def test_a_prebuilt_varbind_encodes_as_pyasn1_encodes_it(size: int) -> None:
    """Short and long form lengths alike: the stored octets are the ones pyasn1 would send."""
    from govops.lab.extranet.snmpagent import varbind
    from govops.network.collectors import ber
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import rfc1902, rfc1905
    from pysnmp.proto.api import v2c

    name, value = rfc1902.ObjectName("1.3.6.1.2.1.1.1.0"), rfc1902.OctetString(b"d" * size)
    reference = v2c.apiVarBind.set_oid_value(rfc1905.VarBind(), (name, value))
    assert ber.encode(varbind(name, value)) == encoder.encode(reference)


@pytest.mark.parametrize(
    "text",
    [
        "# a comment\n1.3.6.1.2.1.1.5.0|4|x\n",
        "1.3.6.1.2.1.1.5.0|4|x\n\n1.3.6.1.2.1.1.6.0|4|y\n",
        "1.3.6.1.2.1.1.5.0|4:numeric|x\n",
        "1.3.6.1.2.1.1|:snmprec|x\n",
        "1.3.6.1.2.1.1.05.0|4|x\n",
        " 1.3.6.1.2.1.1.5.0|4|x\n",
        "1.3.6.1.2.1.1.6.0|4|x\n1.3.6.1.2.1.1.5.0|4|y\n",
        "1.3.6.1.2.1.1.5.0|4|x\n1.3.6.1.2.1.1.5.0|4|y\n",
        "1.3.6.1.2.1.1.5.0|4|x",
        "1.3.6.1.2.1.1.5.0|4\n",
    ],
)
def test_other_recordings_keep_snmpsims_code(tmp_path: Path, text: str) -> None:
    from govops.lab.extranet.snmpagent import StaticRecording
    from snmpsim import variation

    path = tmp_path / "device.snmprec"
    path.write_text(text, encoding="utf-8")
    assert StaticRecording.load(str(path), variation.RECORD_TYPES["snmprec"]) is None
