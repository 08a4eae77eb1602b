"""The lab agent's own BER encoder (ITU-T X.690) for the responses it sends.

The collector decodes SNMP with its own codec (govops.network.collectors.ber). If the lab encoded
its answers with that same code, a mistake in it would be made on both sides and pass every test.
So the agent encodes with this module, written from X.690 and RFC 3416 alone;
tests/unit/test_snmp_lab_codec.py holds the two encoders (and pyasn1) to the same octets. The
requests the agent receives are decoded by the product's decoder (ber.decode, else pyasn1): 0.1 ms
a GETBULK instead of pyasn1's 0.6 ms, and what the collector sends is pyasn1's encoding anyway
with ``network.snmp_codec: pyasn1`` (tests/integration/test_net_audit.py audits both ways).

pyasn1's encoder, which pysnmp calls, takes 3.4 ms to encode a 50-binding response; this one, with
each VarBind's octets made once when the agent builds it (:func:`prebuilt`), about 0.1 ms: the lab
serves thousands of devices from a few processes. What it does not cover (an explicit tag, a type
beyond SNMP's) goes to pyasn1 (:class:`Unsupported`).
"""

from __future__ import annotations

import functools
from typing import Any

# where pysnmp encodes what an agent sends (community and USM security modules) and decodes what
# it receives (message processing models, USM's security parameters and scoped PDUs)
_ENCODING_MODULES = ("pysnmp.proto.secmod.rfc2576", "pysnmp.proto.secmod.rfc3414.service")
_DECODING_MODULES = ("pysnmp.proto.mpmod.rfc3412", "pysnmp.proto.mpmod.rfc2576", "pysnmp.proto.secmod.rfc3414.service")
_OCTETS = "_lab_octets"  # a prebuilt value's encoding, in its __dict__ (pyasn1 objects refuse attributes)


class Unsupported(Exception):
    """Not a value this encoder writes: pyasn1 encodes it."""


@functools.cache
def _univ() -> Any:
    from pyasn1.type import univ  # type: ignore[import-untyped]

    return univ


def length(n: int) -> bytes:
    """X.690 8.1.3: the definite form, short below 128, else the fewest octets."""
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def integer(n: int) -> bytes:
    """X.690 8.3: two's complement in the fewest octets (pyasn1 gives -128 one more: both decode)."""
    size = 1
    while not -(1 << (8 * size - 1)) <= n < (1 << (8 * size - 1)):
        size += 1
    return n.to_bytes(size, "big", signed=True)


def oid(arcs: tuple[int, ...]) -> bytes:
    """X.690 8.19: the first two arcs as one, each arc base 128 with the high bit on all but its last octet."""
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39):
        raise Unsupported(f"OID {arcs}")
    out = bytearray()
    for arc in (arcs[0] * 40 + arcs[1], *arcs[2:]):
        if arc < 0:
            raise Unsupported(f"OID {arcs}")
        septets = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            septets.append(0x80 | (rest & 0x7F))
            rest >>= 7
        out.extend(reversed(septets))
    return bytes(out)


def identifier(value: Any) -> int:
    """The identifier octet of a value with exactly one tag of number below 31 (X.690 8.1.2)."""
    tags = value.tagSet.superTags
    if len(tags) != 1 or tags[0].tagId > 30:
        raise Unsupported(f"tags {tags}")
    tag = tags[0]
    return int(tag.tagClass | tag.tagFormat | tag.tagId)


def encode(value: Any) -> bytes:
    """The BER of a pyasn1 value of SNMP's types; a prebuilt value's octets as they were made."""
    made = value.__dict__.get(_OCTETS)
    if made is not None:
        return bytes(made)
    univ = _univ()
    if isinstance(value, univ.Choice):
        if len(value.tagSet):
            raise Unsupported("a tagged CHOICE")
        return encode(value.getComponent())
    if isinstance(value, univ.Sequence | univ.SequenceOf):
        items = [value.getComponentByPosition(i) for i in range(len(value))]
        if isinstance(value, univ.Sequence) and (
            len(items) != len(value.componentType) or value.componentType.hasOptionalOrDefault
        ):
            raise Unsupported("OPTIONAL components")
        body = b"".join(encode(item) for item in items)
    elif not value.isValue:
        raise Unsupported("a schema, not a value")
    elif isinstance(value, univ.Null):
        body = b""
    elif isinstance(value, univ.Integer):
        body = integer(int(value))
    elif isinstance(value, univ.OctetString):
        body = value.asOctets()
    elif isinstance(value, univ.ObjectIdentifier):
        body = oid(tuple(value))
    else:
        raise Unsupported(type(value).__name__)
    return bytes((identifier(value),)) + length(len(body)) + body


def prebuilt(value: Any) -> Any:
    """``value`` (never changed afterwards) with its encoding made now: responses reuse it."""
    value.__dict__[_OCTETS] = encode(value)
    return value


class _Encoder:
    """Stands in for pyasn1's encoder in pysnmp's security modules: this encoder, else pyasn1's."""

    def __init__(self, pyasn1_encoder: Any) -> None:
        self._pyasn1 = pyasn1_encoder

    def encode(self, value: Any, asn1Spec: Any = None, **options: Any) -> Any:
        if asn1Spec is None and not options:
            try:
                return encode(value)
            except Unsupported:
                pass
        return self._pyasn1.encode(value, asn1Spec=asn1Spec, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pyasn1, name)


class _Decoder:
    """Stands in for pyasn1's decoder in pysnmp's modules: the product's BER decoder, else pyasn1's."""

    def __init__(self, pyasn1_decoder: Any) -> None:
        self._pyasn1 = pyasn1_decoder

    def decode(self, substrate: Any, asn1Spec: Any = None, **options: Any) -> Any:
        from govops.network.collectors import ber

        if asn1Spec is not None and not options:
            try:
                return ber.decode(substrate, asn1Spec)
            except ber.Unsupported:
                pass
        return self._pyasn1.decode(substrate, asn1Spec=asn1Spec, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pyasn1, name)


def install() -> None:
    """In the agent's process: pysnmp encodes what it sends with this module, and decodes what it
    receives with the product's decoder (idempotent)."""
    import importlib

    for name in _ENCODING_MODULES:
        module: Any = importlib.import_module(name)
        if not isinstance(module.encoder, _Encoder):
            module.encoder = _Encoder(module.encoder)
    for name in _DECODING_MODULES:
        module = importlib.import_module(name)
        if not isinstance(module.decoder, _Decoder):
            module.decoder = _Decoder(module.decoder)
