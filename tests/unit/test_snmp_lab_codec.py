"""The lab agent's encoder (lab/extranet/snmpcodec.py, written from X.690) and the collector's codec
(network/collectors/ber.py) are two implementations: each VarBind and response the lab sends must
come out alike from both, and decode with the collector's codec to what pyasn1 decodes."""

from __future__ import annotations

from typing import Any

from govops.lab.extranet import snmpcodec
from govops.network.collectors import ber
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder  # type: ignore[import-untyped]
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.proto.api import v2c

ARCS = st.tuples(st.integers(0, 2), st.integers(0, 39)).flatmap(
    lambda head: st.lists(st.integers(0, 2**32 - 1), max_size=20).map(lambda tail: (*head, *tail))
)


def _minimal_like_pyasn1(n: int) -> bool:
    """pyasn1 gives -2**7, -2**15, ... one octet more than X.690's fewest (see the -128 test)."""
    return not (n < 0 and (-n) & (-n - 1) == 0 and (-n).bit_length() % 8 == 0)


VALUES = st.one_of(
    st.integers(-(2**31), 2**31 - 1).filter(_minimal_like_pyasn1).map(rfc1902.Integer32),
    st.integers(0, 2**32 - 1).map(rfc1902.Counter32),
    st.integers(0, 2**32 - 1).map(rfc1902.Gauge32),
    st.integers(0, 2**32 - 1).map(rfc1902.TimeTicks),
    st.integers(0, 2**64 - 1).map(rfc1902.Counter64),
    st.binary(max_size=600).map(rfc1902.OctetString),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: rfc1902.IpAddress(".".join(map(str, t)))),
    ARCS.map(rfc1902.ObjectIdentifier),
)


def _varbind(arcs: tuple[int, ...], value: Any) -> Any:
    return v2c.apiVarBind.set_oid_value(rfc1905.VarBind(), (v2c.ObjectIdentifier(arcs), value))


@settings(max_examples=300, deadline=None)
@given(ARCS, VALUES)
def test_the_lab_and_the_collector_encode_a_varbind_alike(arcs: tuple[int, ...], value: Any) -> None:
    vb = _varbind(arcs, value)
    lab = snmpcodec.encode(vb)
    assert lab == ber.encode(vb) == bytes(encoder.encode(vb))
    decoded, rest = ber.decode(lab, rfc1905.VarBind())
    assert rest == b"" and decoded == decoder.decode(lab, asn1Spec=rfc1905.VarBind())[0]


def test_minus_128_takes_the_fewest_octets_and_still_decodes() -> None:
    """X.690 wants the fewest octets (02 01 80); pyasn1 writes two (02 02 ff 80): the collector reads both."""
    vb = _varbind((1, 3, 6, 1, 2, 1, 1, 3, 0), rfc1902.Integer32(-128))
    lab = snmpcodec.encode(vb)
    assert lab.endswith(b"\x02\x01\x80") and bytes(encoder.encode(vb)).endswith(b"\x02\x02\xff\x80")
    assert int(v2c.apiVarBind.get_oid_value(ber.decode(lab, rfc1905.VarBind())[0])[1]) == -128


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(ARCS, VALUES), max_size=40), st.binary(min_size=1, max_size=40))
def test_a_prebuilt_response_encodes_as_pyasn1_and_decodes_with_the_collector(
    binds: list[tuple[tuple[int, ...], Any]], community: bytes
) -> None:
    pdu = v2c.ResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    bindings = pdu.setComponentByPosition(3).getComponentByPosition(3)
    bindings.clear()
    for idx, (arcs, value) in enumerate(binds):
        bindings.setComponentByPosition(idx, snmpcodec.prebuilt(_varbind(arcs, value)))
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, community)
    v2c.apiMessage.set_pdu(msg, pdu)
    lab = snmpcodec.encode(msg)
    assert lab == bytes(encoder.encode(msg))
    got = ber.plain_varbinds(v2c.apiMessage.get_pdu(ber.decode(lab, v2c.Message())[0]))
    assert got == [(arcs, ber.plain_value(value)) for arcs, value in binds]


def test_the_lab_never_encodes_with_the_collectors_codec() -> None:
    from pathlib import Path

    import govops.lab

    for path in Path(govops.lab.__file__).resolve().parent.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for use in ("ber.encode", "ber.install", "read_only_sequence", "decode_read_only"):
            assert use not in text, (path, use)
