"""The collector's BER decoder builds exactly what pyasn1's decoder builds, and leaves everything else to it."""

from __future__ import annotations

import pickle
import random
from typing import Any

import pytest
from govops.network.collectors import ber
from pyasn1.codec.ber import decoder as pyasn1_decoder
from pyasn1.codec.ber import encoder
from pyasn1.type import base, univ
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.proto.api import v2c
from pysnmp.proto.mpmod.rfc3412 import ScopedPDU, SNMPv3Message
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters


def _as_built(value: Any) -> tuple[type, dict[str, Any]]:
    """Class and attributes of a decoded object; a deferred VarBindList as it is once its components are read."""
    if isinstance(value, base.Asn1Item) and "_plain" in value.__dict__:
        value._componentValues  # noqa: B018 - reading them builds them
        return type(value).__mro__[1], {k: v for k, v in value.__dict__.items() if k != "_plain"}
    return type(value), getattr(value, "__dict__", {})


def _same(a: Any, b: Any, path: str = "$") -> str | None:
    """Where two decoded objects differ: class, attributes, components, payloads; None when identical."""
    b_type, b_attributes = _as_built(b)
    if type(a) is not b_type:
        return f"{path}: {type(a).__name__} != {b_type.__name__}"
    if isinstance(a, base.NoValue):
        return None
    if isinstance(a, base.Asn1Item) or type(a).__name__ == "DynamicNames":
        if a.__dict__.keys() != b_attributes.keys():
            return f"{path}: attributes {sorted(a.__dict__.keys() ^ b_attributes.keys())}"
        return next((d for k in a.__dict__ if (d := _same(a.__dict__[k], b_attributes[k], f"{path}.{k}"))), None)
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return f"{path}: keys"
        return next((d for k in a if (d := _same(a[k], b[k], f"{path}[{k!r}]"))), None)
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return f"{path}: {len(a)} != {len(b)} items"
        return next((d for i, (x, y) in enumerate(zip(a, b, strict=True)) if (d := _same(x, y, f"{path}[{i}]"))), None)
    return None if a == b else f"{path}: {a!r} != {b!r}"


def _random_value(rng: random.Random) -> Any:
    kind = rng.randrange(12)
    if kind == 0:
        return rfc1902.Integer32(rng.randint(-(2**31), 2**31 - 1))
    if kind == 1:
        return rfc1902.OctetString(bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 5, 40, 200]))))
    if kind == 2:
        return rfc1902.ObjectIdentifier((1, 3, 6, 1, 4, 1, rng.randrange(2**32), rng.randrange(200)))
    if kind == 3:
        return rfc1902.Counter32(rng.choice([0, 127, 128, 2**31, 2**32 - 1]))
    if kind == 4:
        return rfc1902.Gauge32(rng.randrange(2**32))
    if kind == 5:
        return rfc1902.TimeTicks(rng.randrange(2**32))
    if kind == 6:
        return rfc1902.Counter64(rng.choice([0, 2**63, 2**64 - 1]))
    if kind == 7:
        return rfc1902.IpAddress(".".join(str(rng.randrange(256)) for _ in range(4)))
    if kind == 8:
        return rfc1902.Opaque(b"\x9f\x78\x04\x3f\x80\x00\x00")
    return [rfc1905.noSuchObject, rfc1905.noSuchInstance, rfc1905.endOfMibView][kind - 9]


def _pdu(rng: random.Random, pdu_type: Any, binds: int) -> Any:
    pdu = pdu_type()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_error_status(pdu, rng.choice([0, 0, 5]))
    names = [(1, 3, 6, 1, 2, 1, 2, 2, 1, rng.randrange(30), rng.randrange(2**31)) for _ in range(binds)]
    names.append((0, 0) if binds else (2, 999, 3))  # the first-arc forms 0.x and 2.x
    v2c.apiPDU.set_varbinds(pdu, [(rfc1902.ObjectName(n), _random_value(rng)) for n in names])
    return pdu


def _scoped(pdu: Any) -> Any:
    scoped = ScopedPDU()
    scoped.setComponentByPosition(0, b"\x80\x00\x1f\x88\x04lab")
    scoped.setComponentByPosition(1, b"")
    scoped.setComponentByPosition(2).getComponentByPosition(2).setComponentByType(
        pdu.tagSet, pdu, verifyConstraints=False, matchTags=False, matchConstraints=False
    )
    return scoped


def _messages() -> list[tuple[bytes, Any]]:
    """Encoded messages as agents send them, with the spec pysnmp decodes each with."""
    rng = random.Random(6)
    out: list[tuple[bytes, Any]] = []
    for binds in (0, 1, 3, 60, 130):  # 130 varbinds: long-form lengths of two octets
        for pdu_type in (v2c.ResponsePDU, v2c.ReportPDU):
            pdu = _pdu(rng, pdu_type, binds)
            out.append((encoder.encode(_scoped(pdu)), ScopedPDU()))
            message = v2c.Message()
            v2c.apiMessage.set_defaults(message)
            v2c.apiMessage.set_community(message, "public")
            v2c.apiMessage.set_pdu(message, pdu)
            out.append((encoder.encode(message), v2c.Message()))
    v3 = SNMPv3Message()
    v3.setComponentByPosition(0, 3)
    header = v3.setComponentByPosition(1).getComponentByPosition(1)
    for i, value in enumerate((123456, 65507, b"\x03", 3)):
        header.setComponentByPosition(i, value)
    params = UsmSecurityParameters()
    for i, value in enumerate((b"\x80\x00\x1f\x88\x04lab", 1, 4321, b"user", b"\x00" * 12, b"\x01" * 8)):
        params.setComponentByPosition(i, value)
    v3.setComponentByPosition(2, encoder.encode(params))
    v3.setComponentByPosition(3).getComponentByPosition(3).setComponentByPosition(1, b"\xde\xad" * 40)
    out.append((encoder.encode(v3), SNMPv3Message()))
    out.append((encoder.encode(params), UsmSecurityParameters()))
    return out


@pytest.mark.parametrize("index", range(len(_messages())))
def test_decodes_to_the_objects_pyasn1_builds(index: int) -> None:
    data, spec = _messages()[index]
    for trailing in (b"", b"\x00\x00\x00"):  # DES pads the scoped PDU
        expected, expected_rest = pyasn1_decoder.decode(data + trailing, asn1Spec=spec)
        got, rest = ber.decode(data + trailing, spec.clone())
        assert _same(expected, got) is None
        assert rest == expected_rest == trailing
        assert encoder.encode(got) == data


def _pdu_of(message: Any) -> Any:
    """The PDU of a decoded v1/v2c message or scoped PDU (both hold it in a CHOICE at position 2)."""
    return message.getComponentByPosition(2).getComponent()


@pytest.mark.parametrize(
    "index", [i for i, (_d, spec) in enumerate(_messages()) if isinstance(spec, ScopedPDU | v2c.Message)]
)
def test_reads_the_variable_bindings_as_plain_values_without_building_them(index: int) -> None:
    data, spec = _messages()[index]
    expected = _pdu_of(pyasn1_decoder.decode(data, asn1Spec=spec)[0])
    got = _pdu_of(ber.decode(data, spec.clone())[0])
    bindings = got.getComponentByPosition(3)
    want = [(name.asTuple(), ber.plain_value(value)) for name, value in v2c.apiPDU.get_varbinds(expected)]
    readable = not any(isinstance(value, rfc1902.Opaque) for _n, value in v2c.apiPDU.get_varbinds(expected))
    # a list with an Opaque value is built at once, as before; every other one waits to be read
    assert ("_componentValues" not in bindings.__dict__) == readable
    assert ber.plain_varbinds(got) == want
    assert ("_componentValues" not in bindings.__dict__) == readable
    assert _same(expected, got) is None  # reading the components builds pyasn1's objects
    assert ber.plain_varbinds(got) == want  # now from those objects


def test_plain_values_keep_their_types() -> None:
    pdu = v2c.ResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    values = [
        (rfc1902.Integer32(-(2**31)), -(2**31)),
        (rfc1902.Counter64(2**64 - 1), 2**64 - 1),
        (rfc1902.TimeTicks(0), 0),
        (rfc1902.OctetString("以太网接口".encode()), "以太网接口".encode()),
        (rfc1902.IpAddress("192.0.2.255"), "192.0.2.255"),
        (rfc1902.ObjectIdentifier("1.3.6.1.4.1.2011.2.23.600"), "1.3.6.1.4.1.2011.2.23.600"),
        (rfc1905.noSuchObject, ber.NO_SUCH_OBJECT),
        (rfc1905.noSuchInstance, ber.NO_SUCH_INSTANCE),
        (rfc1905.endOfMibView, ber.END_OF_MIB_VIEW),
    ]
    name = (1, 3, 6, 1, 2, 1, 4, 34, 1, 3, 2, 16, 254, 128, 0, 0, 0, 0, 0, 0, 2, 255, 128, 255, 254, 128, 4, 200)
    v2c.apiPDU.set_varbinds(pdu, [(rfc1902.ObjectName(name), value) for value, _plain in values])
    got, _rest = ber.decode(encoder.encode(pdu), v2c.ResponsePDU())
    assert ber.plain_varbinds(got) == [(name, plain) for _value, plain in values]
    copied = pickle.loads(pickle.dumps(got))  # as a worker process would send it: built, same octets
    assert "_componentValues" in copied.getComponentByPosition(3).__dict__
    assert encoder.encode(copied) == encoder.encode(pdu)
    assert ber.plain_varbinds(copied) == ber.plain_varbinds(got)
    assert pickle.loads(pickle.dumps(ber.END_OF_MIB_VIEW)) is ber.END_OF_MIB_VIEW


def test_each_object_gets_its_own_components() -> None:
    data, spec = _messages()[4]
    first, _ = ber.decode(data, spec)
    second, _ = ber.decode(data, spec)
    first["data"]["response"]["variable-bindings"][0]["name"] = rfc1902.ObjectName("1.2.3")
    assert str(second["data"]["response"]["variable-bindings"][0]["name"]) != "1.2.3"


def _response_with(value: bytes) -> bytes:
    """A response PDU's encoding with one varbind whose value is the raw TLV ``value``."""
    name = encoder.encode(rfc1902.ObjectName("1.3.6.1.2.1.1.1.0"))
    varbind = b"\x30" + bytes([len(name) + len(value)]) + name + value
    varbinds = b"\x30" + bytes([len(varbind)]) + varbind
    body = encoder.encode(univ.Integer(7)) + b"\x02\x01\x00\x02\x01\x00" + varbinds
    pdu = b"\xa2" + bytes([len(body)]) + body
    head = encoder.encode(univ.OctetString(b"e")) + encoder.encode(univ.OctetString(b""))
    return b"\x30" + bytes([len(head) + len(pdu)]) + head + pdu


@pytest.mark.parametrize(
    "value",
    [
        b"\x40\x05\x01\x02\x03\x04\x05",  # an IpAddress of 5 octets: the constraint rejects it
        b"\x02\x05\x01\x00\x00\x00\x00",  # an Integer32 beyond 32 bits
        b"\x06\x03\x2b\x80\x01",  # a sub-identifier with a leading 0x80 octet
        b"\x02\x00",  # an empty INTEGER
        b"\x24\x03\x04\x01\x41",  # a constructed OCTET STRING
        b"\x05\x01\x00",  # a NULL with contents
        b"\x9f\x01\x00",  # a tag the schema does not have
    ],
)
def test_what_it_does_not_read_goes_to_pyasn1_with_pyasn1s_outcome(value: bytes) -> None:
    data = _response_with(value)
    with pytest.raises(ber.Unsupported):
        ber.decode(data, ScopedPDU())
    stand_in = ber._Decoder(pyasn1_decoder)
    try:
        expected: Any = pyasn1_decoder.decode(data, asn1Spec=ScopedPDU())
    except Exception as exc:
        with pytest.raises(type(exc)):
            stand_in.decode(data, asn1Spec=ScopedPDU())
    else:
        got = stand_in.decode(data, asn1Spec=ScopedPDU())
        assert _same(expected[0], got[0]) is None


def test_truncated_and_indefinite_length_messages_go_to_pyasn1() -> None:
    data, _spec = _messages()[4]
    for broken in (data[:-1], data[:1], b"\x30\x80" + data[2:] + b"\x00\x00", data[:1] + b"\x85" + data[2:]):
        with pytest.raises(ber.Unsupported):
            ber.decode(broken, ScopedPDU())


def test_install_puts_it_under_pysnmps_codecs_once() -> None:
    import importlib

    ber.install()
    ber.install()
    for name, codecs in ber._MODULES.items():
        module = importlib.import_module(name)
        for codec, stand_in in (("decoder", ber._Decoder), ("encoder", ber._Encoder)):
            if codec in codecs:
                installed = getattr(module, codec)
                assert isinstance(installed, stand_in)
                assert not isinstance(installed._pyasn1, stand_in)


def _requests() -> list[Any]:
    """Requests as the collector builds them (GET and GETBULK of numeric OIDs with NULL values)."""
    get = v2c.GetRequestPDU()
    v2c.apiPDU.set_defaults(get)
    v2c.apiPDU.set_varbinds(get, [(rfc1902.ObjectName("1.3.6.1.2.1.1.2.0"), rfc1902.Null(""))])
    bulk = v2c.GetBulkRequestPDU()
    v2c.apiBulkPDU.set_defaults(bulk)
    v2c.apiBulkPDU.set_non_repeaters(bulk, 3)
    v2c.apiBulkPDU.set_max_repetitions(bulk, 40)
    names = ["1.3.6.1.2.1.1.1", "1.3.6.1.2.1.4.34.1.3", "1.3.6.1.2.1.4.24.7.1.7.2.16", "2.999.1", "0.39.200000"]
    v2c.apiBulkPDU.set_varbinds(bulk, [(rfc1902.ObjectName(n), rfc1902.Null("")) for n in names])
    return [get, bulk, _scoped(bulk)]


def test_encodes_the_bytes_pyasn1_encodes() -> None:
    values = [decoded for data, spec in _messages() for decoded in [pyasn1_decoder.decode(data, asn1Spec=spec)[0]]]
    for value in [*values, *_requests()]:
        assert ber.encode(value) == encoder.encode(value)


@pytest.mark.parametrize("number", [0, 1, 127, 128, 255, 256, -1, -127, -128, -129, -256, 2**31 - 1, -(2**31), 2**63])
def test_integers_take_pyasn1s_octets(number: int) -> None:
    assert ber.encode(univ.Integer(number)) == encoder.encode(univ.Integer(number))


def test_what_it_does_not_encode_goes_to_pyasn1() -> None:
    schema = rfc1905.VarBind()  # no components set: pyasn1 decides what that means
    with pytest.raises(ber.Unsupported):
        ber.encode(schema)
    with pytest.raises(ber.Unsupported):
        ber.encode(univ.Integer())
    stand_in = ber._Encoder(encoder)
    assert stand_in.encode(rfc1902.OctetString(b"x")) == encoder.encode(rfc1902.OctetString(b"x"))


def test_a_read_only_value_encodes_as_the_octets_it_was_decoded_from() -> None:
    name = encoder.encode(rfc1902.ObjectName("1.3.6.1.2.1.2.2.1.2.7"))
    value = encoder.encode(rfc1902.OctetString(b"GigabitEthernet0/0/7"))
    data = b"\x30" + bytes([len(name) + len(value)]) + name + value
    shared = ber.decode_read_only(data, rfc1905.VarBind())
    expected = pyasn1_decoder.decode(data, asn1Spec=rfc1905.VarBind())[0]
    assert v2c.apiVarBind.get_oid_value(shared) == v2c.apiVarBind.get_oid_value(expected)
    assert ber.encode(shared) == data == encoder.encode(shared)
    pdu = v2c.ResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    pdu.setComponentByPosition(3).getComponentByPosition(3).setComponentByPosition(0, shared)
    assert ber.encode(pdu) == encoder.encode(pdu)  # inside a response, as an agent sends it
    with pytest.raises(ber.Unsupported):
        ber.decode_read_only(data + b"\x00", rfc1905.VarBind())
