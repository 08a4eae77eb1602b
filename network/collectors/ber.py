"""A faster BER decoder for the SNMP messages the collector receives, building pyasn1's very objects.

pyasn1's decoder is generic (streams, tag maps, schema-less guessing, open types) and was about
half of an SNMP worker's CPU, most of it on the responses' variable bindings. SNMP messages use a
small part of BER: definite lengths, low tag numbers, SEQUENCEs without OPTIONAL or DEFAULT
components, SEQUENCE OFs, untagged CHOICEs, and INTEGER, OCTET STRING, OBJECT IDENTIFIER and NULL
types with at most an implicit tag. :func:`decode` reads exactly that, directed by the same
``asn1Spec``, and builds the objects pyasn1's decoder builds: the same classes with the same
attributes, components set by position, every value checked against its type's constraints.
Anything else (an indefinite length, a constructed string, a tag the schema does not expect, a
value a constraint rejects) raises :class:`Unsupported`, and the message goes to pyasn1 unchanged,
so its errors stay pyasn1's.

A response's variable bindings are most of what it holds, and building their pyasn1 objects was
most of the decoding. So a VarBindList is first read straight to plain values (:func:`plain_varbinds`
gives them to the collector); its pyasn1 objects are built only if something asks for its components.
A list holding anything but the usual SMIv2 values is built at once, as before.

:func:`encode` does the same for what the collector sends. :func:`install` puts both under pysnmp's
message processing and security modules, once per process.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SEQUENCE, SEQUENCE_OF, CHOICE, INTEGER, OCTETS, OID, NULL = range(7)


class Unsupported(Exception):
    """Not the subset of BER this decoder reads: pyasn1 decodes the message instead."""


@dataclass(eq=False)
class _Plan:
    """How to decode one spec object: its kind, identifier octet, and the plans of its components."""

    spec: Any
    kind: int
    tag: int = -1  # identifier octet of the type's single tag; -1 for an untagged CHOICE
    children: list[_Plan] = field(default_factory=list)  # SEQUENCE: per component; SEQUENCE OF: one
    alternatives: dict[int, tuple[int, _Plan]] = field(default_factory=dict)  # CHOICE: octet -> (position, plan)
    # the attributes every object of this spec gets from pyasn1 (taken from the first one made):
    # copying them is how :func:`_empty` and :func:`_simple` skip pyasn1's __init__ chain, which
    # was half the cost of building a response's objects
    state: dict[str, Any] = field(default_factory=dict)
    checked: bool = False  # the spec has constraints each value must pass
    fresh: list[str] = field(default_factory=list)  # mutable attributes each object gets a new one of
    width: int = 0  # CHOICE: how many alternatives it has
    # VarBindList: how each value's identifier octet reads as a plain value (see :func:`_plain_forms`)
    plain: dict[int, tuple[int, _Plan]] | None = None


@functools.cache
def _pyasn1() -> Any:
    """pyasn1's type modules (base, tag, univ), imported on first use like every SNMP module here."""
    from pyasn1.type import base, tag, univ  # type: ignore[import-untyped]

    return base, tag, univ


@functools.cache
def _no_value() -> Any:
    return _pyasn1()[0].noValue


@functools.cache
def _containers() -> tuple[type, ...]:
    """The mutable attribute types of pyasn1's constructed objects (pyasn1 imported on first use)."""
    return (list, dict, _pyasn1()[2].Sequence.DynamicNames)


_TOP: dict[tuple[Any, ...], _Plan | None] = {}  # None: a spec left to pyasn1


def plan_for(spec: Any) -> _Plan:
    """The plan of a top-level spec; pysnmp makes a new spec object per message, so it is keyed by structure."""
    key = (
        type(spec),
        spec.tagSet,
        id(getattr(spec, "componentType", None)),
        id(getattr(spec, "subtypeSpec", None)),
        id(getattr(spec, "sizeSpec", None)),
        id(getattr(spec, "namedValues", None)),
    )
    try:
        plan = _TOP[key]
    except KeyError:
        try:
            plan = _make_plan(spec)
        except Unsupported:
            plan = None
        _TOP[key] = plan
    if plan is None:
        raise Unsupported(type(spec).__name__)
    return plan


def _make_plan(spec: Any) -> _Plan:
    _base, tag, univ = _pyasn1()

    if isinstance(spec, univ.Choice):
        if len(spec.tagSet):
            raise Unsupported("tagged CHOICE")
        alternatives: dict[int, tuple[int, _Plan]] = {}
        for position, named in enumerate(spec.componentType.namedTypes):
            inner = _make_plan(named.asn1Object)
            for octet in inner.alternatives if inner.kind == CHOICE else (inner.tag,):
                if octet in alternatives:
                    raise Unsupported("ambiguous CHOICE")
                alternatives[octet] = (position, inner)
        return _Plan(spec, CHOICE, alternatives=alternatives, width=len(spec.componentType))
    octet = _identifier(spec.tagSet)
    constructed = bool(octet & tag.tagFormatConstructed)
    if isinstance(spec, univ.Sequence) and constructed:
        named_types = spec.componentType
        if named_types.hasOptionalOrDefault or named_types.hasOpenTypes:
            raise Unsupported("SEQUENCE with OPTIONAL, DEFAULT or open types")
        return _Plan(spec, SEQUENCE, octet, [_make_plan(n.asn1Object) for n in named_types.namedTypes])
    if isinstance(spec, univ.SequenceOf) and constructed:
        plan = _Plan(spec, SEQUENCE_OF, octet, [_make_plan(spec.componentType)])
        plan.plain = _plain_forms(plan)
        return plan
    if constructed:
        raise Unsupported(type(spec).__name__)
    # NULL first: pyasn1's Null is an OctetString
    for base, kind in (
        (univ.Null, NULL),
        (univ.Integer, INTEGER),
        (univ.OctetString, OCTETS),
        (univ.ObjectIdentifier, OID),
    ):
        if isinstance(spec, base):
            return _Plan(spec, kind, octet, checked=len(spec.subtypeSpec) > 0)
    raise Unsupported(type(spec).__name__)


def _identifier(tag_set: Any) -> int:
    if len(tag_set) != 1:
        raise Unsupported("untagged or explicitly tagged type")
    t = tag_set[0]
    if t.tagId >= 31:
        raise Unsupported("high tag number")
    return int(t.tagClass | t.tagFormat | t.tagId)


def decode(data: bytes, spec: Any) -> tuple[Any, bytes]:
    """``(value, rest)`` as ``pyasn1.codec.ber.decoder.decode(data, asn1Spec=spec)``; or raises Unsupported."""
    data = bytes(data)
    value, end = _value(data, 0, len(data), plan_for(spec))
    return value, data[end:]


def decode_read_only(data: bytes, spec: Any) -> Any:
    """The value :func:`decode` makes of ``data``, for a user that never changes it: it encodes as
    ``data`` again without walking its components (an agent's prebuilt answers, sent many times)."""
    data = bytes(data)
    value, end = _value(data, 0, len(data), plan_for(spec))
    if end != len(data):
        raise Unsupported("trailing octets")
    value.__dict__["_read_only_octets"] = data
    return value


def read_only_sequence(contents: bytes, spec: Any) -> Any:
    """:func:`decode_read_only` of the SEQUENCE (a VarBind, say) whose encoded components are ``contents``."""
    return decode_read_only(b"\x30" + _length(len(contents)) + contents, spec)


def _value(data: bytes, pos: int, end: int, plan: _Plan) -> tuple[Any, int]:
    kind = plan.kind
    if kind == CHOICE:
        if pos >= end:
            raise Unsupported("truncated")
        alternative = plan.alternatives.get(data[pos])
        if alternative is None:
            raise Unsupported("unexpected tag")
        position, inner = alternative
        component, stop = _value(data, pos, end, inner)
        choice = _empty(plan)
        # what setComponentByPosition leaves in a fresh CHOICE: one slot per alternative, one set
        slots = [_no_value()] * plan.width
        slots[position] = component
        choice.__dict__["_componentValues"] = slots
        choice.__dict__["_currentIdx"] = position
        return choice, stop
    start, stop = _header(data, pos, end, plan.tag)
    if kind == SEQUENCE:
        value = _empty(plan)
        at = start
        components = []
        for child in plan.children:
            component, at = _value(data, at, stop, child)
            components.append(component)
        if at != stop:
            raise Unsupported("extra components")
        value.__dict__["_componentValues"] = components  # as setComponentByPosition leaves them, in order
        return value, stop
    if kind == SEQUENCE_OF:
        if plan.plain is not None:
            try:
                plain = _read_plain(data, start, stop, plan.plain)
            except Unsupported:
                pass  # built now, so whatever is wrong with it goes to pyasn1 with the message
            else:
                return _deferred(plan, data[start:stop], plain), stop
        value = _empty(plan)
        child = plan.children[0]
        at = start
        items: dict[int, Any] = {}  # SEQUENCE OF keeps its components by position in a dict
        while at < stop:
            items[len(items)], at = _value(data, at, stop, child)
        if items:
            value.__dict__["_componentValues"] = items
        return value, stop
    if kind == INTEGER:
        if start == stop:
            raise Unsupported("empty INTEGER")
        payload: Any = int.from_bytes(data[start:stop], "big", signed=True)
    elif kind == OCTETS:
        payload = data[start:stop]
    elif kind == OID:
        payload = _oid(data, start, stop)
    else:
        if start != stop:
            raise Unsupported("NULL with contents")
        payload = b""
    return _simple(plan, payload), stop


def _empty(plan: _Plan) -> Any:
    """An empty constructed value as pyasn1's decoder starts it: ``spec.clone()``, then ``clear()``
    for a SEQUENCE (OF); each object gets its own component container and name map."""
    if not plan.state:
        value = plan.spec.clone()
        if plan.kind != CHOICE:
            value.clear()
        plan.state = dict(value.__dict__)
        plan.fresh = [k for k, v in plan.state.items() if k != "_readOnly" and type(v) in _containers()]
        return value
    value = object.__new__(type(plan.spec))
    attributes = value.__dict__
    attributes.update(plan.state)
    for name in plan.fresh:
        attributes[name] = type(plan.state[name])()
    return value


def _simple(plan: _Plan, payload: Any) -> Any:
    """``spec.clone(payload)``: the payload is already what pyasn1's prettyIn returns for it."""
    state = plan.state
    if not state:
        try:
            value = plan.spec.clone(payload)
        except Exception as exc:
            raise Unsupported("value rejected") from exc
        plan.state = {k: v for k, v in value.__dict__.items() if k != "_value"}
        return value
    if plan.checked:
        try:
            plan.spec.subtypeSpec(payload)
        except Exception as exc:
            raise Unsupported("value rejected") from exc
    value = object.__new__(type(plan.spec))
    attributes = value.__dict__
    attributes.update(state)
    attributes["_value"] = payload
    return value


def _header(data: bytes, pos: int, end: int, expected: int) -> tuple[int, int]:
    """Check the identifier octet and read a definite length: (contents start, contents end)."""
    if pos + 2 > end or data[pos] != expected:
        raise Unsupported("unexpected tag or truncated")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or pos + size > end:
            raise Unsupported("indefinite or oversized length")
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    if pos + length > end:
        raise Unsupported("truncated")
    return pos, pos + length


def _oid(data: bytes, start: int, stop: int) -> tuple[int, ...]:
    if start == stop:
        raise Unsupported("empty OBJECT IDENTIFIER")
    chunk = data[start:stop]
    if max(chunk) < 0x80:  # every sub-identifier one octet, as in most OIDs an agent sends
        arcs: Sequence[int] = chunk
    else:
        # IPv6-indexed rows have a few sub-identifiers of two octets among many of one: hop
        # between them in C (bytes.find) rather than decode every octet in Python
        marks = chunk.translate(_CONTINUED)
        arcs = []
        at = 0
        while (first_octet := marks.find(1, at)) >= 0:
            arcs.extend(chunk[at:first_octet])
            last_octet = marks.find(0, first_octet)
            if last_octet < 0:
                raise Unsupported("truncated sub-identifier")
            arcs.append(_sub_identifier(chunk[first_octet : last_octet + 1]))
            at = last_octet + 1
        arcs.extend(chunk[at:])
    first = arcs[0]  # the first sub-identifier holds the first two arcs
    head = (0, first) if first < 40 else (1, first - 40) if first < 80 else (2, first - 80)
    return head + tuple(arcs[1:])


_CONTINUED = bytes(octet >> 7 for octet in range(256))  # 1 for an octet with the continuation bit


def _sub_identifier(octets: bytes) -> int:
    """A sub-identifier of several octets: base 128, most significant first, continuation bit on all but the last."""
    if octets[0] == 0x80:
        raise Unsupported("non-minimal sub-identifier")  # pyasn1 rejects it
    sub = 0
    for octet in octets:
        sub = (sub << 7) | (octet & 0x7F)
    return sub


# -- variable bindings as plain values ----------------------------------------------------------
class Missing:
    """An SNMPv2 exception in place of a variable's value (RFC 3416: noSuchObject, noSuchInstance, endOfMibView)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self) -> str:
        return _MISSING_NAMES[self.name]


NO_SUCH_OBJECT = Missing("noSuchObject")
NO_SUCH_INSTANCE = Missing("noSuchInstance")
END_OF_MIB_VIEW = Missing("endOfMibView")
_MISSING_NAMES = {
    "noSuchObject": "NO_SUCH_OBJECT",
    "noSuchInstance": "NO_SUCH_INSTANCE",
    "endOfMibView": "END_OF_MIB_VIEW",
}
# RFC 3416's implicit tags of the three exceptions ([0], [1], [2] IMPLICIT NULL)
_MISSING = {0x80: NO_SUCH_OBJECT, 0x81: NO_SUCH_INSTANCE, 0x82: END_OF_MIB_VIEW}

PlainValue = int | bytes | str | Missing
# how a value reads: INTEGER and its application types -> int, OCTET STRING -> bytes,
# IpAddress -> "a.b.c.d", OBJECT IDENTIFIER -> "1.3.6...", an exception -> its Missing
_AS_INT, _AS_BYTES, _AS_ADDRESS, _AS_DOTTED, _AS_MISSING = range(5)


def plain_value(value: Any) -> PlainValue:
    """A decoded pyasn1 value as :func:`plain_varbinds` reads it from the octets."""
    from pysnmp.proto import rfc1902, rfc1905

    for exception, missing in (
        (rfc1905.NoSuchObject, NO_SUCH_OBJECT),
        (rfc1905.NoSuchInstance, NO_SUCH_INSTANCE),
        (rfc1905.EndOfMibView, END_OF_MIB_VIEW),
    ):
        if isinstance(value, exception):
            return missing
    if isinstance(value, rfc1902.ObjectIdentifier):
        return str(value)
    if isinstance(value, rfc1902.IpAddress):
        return ".".join(str(b) for b in value.asOctets())
    if isinstance(value, rfc1902.OctetString):
        return bytes(value.asOctets())
    try:
        return int(value)
    except (TypeError, ValueError):
        return str(value)


def plain_varbinds(pdu: Any) -> list[tuple[tuple[int, ...], PlainValue]]:
    """A PDU's variable bindings as ``(OID arcs, plain value)``: as read from the octets when this
    decoder deferred them and nothing has touched the list since, from its pyasn1 objects otherwise."""
    from pysnmp.proto.api import v2c

    attributes = pdu.getComponentByPosition(3).__dict__
    if "_plain" in attributes and "_componentValues" not in attributes:
        plain: list[tuple[tuple[int, ...], PlainValue]] = attributes["_plain"]
        return plain
    return [(name.asTuple(), plain_value(value)) for name, value in v2c.apiPDU.get_varbinds(pdu)]


def _plain_forms(plan: _Plan) -> dict[int, tuple[int, _Plan]] | None:
    """For a VarBindList (SEQUENCE OF SEQUENCE {OID, CHOICE}): each value octet's form and the plan
    of the type it decodes to; None for any other SEQUENCE OF. Types read another way (Opaque,
    unSpecified NULL, a type of a later SMI) are left out: a list holding one is built as before."""
    item = plan.children[0]
    if item.kind != SEQUENCE or len(item.children) != 2:
        return None
    name, value = item.children
    if name.kind != OID or name.checked or value.kind != CHOICE:
        return None
    from pysnmp.proto import rfc1902

    forms: dict[int, tuple[int, _Plan]] = {}
    for octet, (_position, alternative) in value.alternatives.items():
        leaf = alternative
        while leaf.kind == CHOICE:  # ObjectSyntax nests CHOICEs: down to the type the octet decodes to
            leaf = leaf.alternatives[octet][1]
        spec = leaf.spec
        if leaf.kind == NULL and octet in _MISSING:
            forms[octet] = (_AS_MISSING, leaf)
        elif leaf.kind == INTEGER:
            forms[octet] = (_AS_INT, leaf)
        elif leaf.kind == OID:
            forms[octet] = (_AS_DOTTED, leaf)
        elif leaf.kind == OCTETS and isinstance(spec, rfc1902.IpAddress):
            forms[octet] = (_AS_ADDRESS, leaf)
        elif leaf.kind == OCTETS and isinstance(spec, rfc1902.OctetString):
            forms[octet] = (_AS_BYTES, leaf)
    return forms or None


def _read_plain(
    data: bytes, pos: int, end: int, forms: dict[int, tuple[int, _Plan]]
) -> list[tuple[tuple[int, ...], PlainValue]]:
    """A VarBindList's contents as plain values, with the checks :func:`_value` makes (its constraints too)."""
    out: list[tuple[tuple[int, ...], PlainValue]] = []
    while pos < end:
        start, stop = _header(data, pos, end, 0x30)
        name_start, name_stop = _header(data, start, stop, 0x06)
        if name_stop >= stop:
            raise Unsupported("no value")
        octet = data[name_stop]
        form = forms.get(octet)
        if form is None:
            raise Unsupported("a value read another way")
        value_start, value_stop = _header(data, name_stop, stop, octet)
        if value_stop != stop:
            raise Unsupported("extra components")
        how, leaf = form
        payload: Any  # what _value would give pyasn1, checked the same way
        if how == _AS_INT:
            if value_start == value_stop:
                raise Unsupported("empty INTEGER")
            payload = int.from_bytes(data[value_start:value_stop], "big", signed=True)
        elif how == _AS_DOTTED:
            payload = _oid(data, value_start, value_stop)
        elif how == _AS_MISSING:
            if value_start != value_stop:
                raise Unsupported("NULL with contents")
            payload = b""
        else:
            payload = data[value_start:value_stop]
        if leaf.checked:
            try:
                leaf.spec.subtypeSpec(payload)
            except Exception as exc:
                raise Unsupported("value rejected") from exc
        value: PlainValue
        if how == _AS_MISSING:
            value = _MISSING[octet]
        elif how in (_AS_DOTTED, _AS_ADDRESS):
            value = ".".join(map(str, payload))
        else:
            value = payload
        out.append((_oid(data, name_start, name_stop), value))
        pos = stop
    return out


def _deferred(plan: _Plan, contents: bytes, plain: list[tuple[tuple[int, ...], PlainValue]]) -> Any:
    """A VarBindList whose pyasn1 components are built from ``contents`` on first use."""
    value = _empty(plan)
    attributes = value.__dict__
    attributes.pop("_componentValues", None)
    object.__setattr__(value, "__class__", _deferred_class(value.__class__))  # pyasn1's __setattr__ would store it
    attributes["_plain"] = plain
    attributes["_contents"] = (plan, contents)
    return value


@functools.cache
def _deferred_class(cls: Any) -> type:
    """``cls`` whose ``_componentValues`` (what every pyasn1 method of a SEQUENCE OF reads) is built on first read."""

    def components(self: Any) -> Any:
        attributes = self.__dict__
        try:
            return attributes["_componentValues"]
        except KeyError:
            pass
        plan, contents = attributes.pop("_contents")
        items: dict[int, Any] = {}
        at, end = 0, len(contents)
        while at < end:
            # the plain read passed the same checks, so this cannot meet what it does not read
            items[len(items)], at = _value(contents, at, end, plan.children[0])
        attributes["_componentValues"] = items if items else type(plan.state["_componentValues"])()
        return attributes["_componentValues"]

    def set_components(self: Any, items: Any) -> None:  # pyasn1's own __setattr__ writes __dict__ directly
        self.__dict__.pop("_contents", None)
        self.__dict__["_componentValues"] = items

    def reduce(self: Any, _protocol: int) -> tuple[Any, ...]:
        components(self)
        state = {k: v for k, v in self.__dict__.items() if k != "_plain"}
        return (_rebuilt, (cls, state))

    return type(
        cls.__name__,
        (cls,),
        {
            "_componentValues": property(components, set_components),
            "__reduce_ex__": reduce,
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
        },
    )


def _rebuilt(cls: type, state: dict[str, Any]) -> Any:
    value: Any = object.__new__(cls)
    value.__dict__.update(state)
    return value


# -- encoding -----------------------------------------------------------------------------------
def encode(value: Any) -> bytes:
    """``pyasn1.codec.ber.encoder.encode(value)`` for the same subset of types; or raises Unsupported.

    pysnmp encodes each request 4 to 5 times (scoped PDU, security parameters, whole message, and
    again with the authentication digest); pyasn1's encoder dispatches per component like its decoder.
    """
    return _encoded(value)


_KINDS: dict[type, int] = {}


def _kind_of(cls: type) -> int:
    kind = _KINDS.get(cls)
    if kind is None:
        kind = _KINDS[cls] = _classify(cls)
    return kind


def _classify(cls: type) -> int:
    _base, _tag, univ = _pyasn1()
    for base, kind in (
        (univ.Choice, CHOICE),  # before SEQUENCE: pyasn1's Choice is a Set, not a Sequence
        (univ.Sequence, SEQUENCE),
        (univ.SequenceOf, SEQUENCE_OF),
        (univ.Null, NULL),  # before OCTETS: pyasn1's Null is an OctetString
        (univ.Integer, INTEGER),
        (univ.OctetString, OCTETS),
        (univ.ObjectIdentifier, OID),
    ):
        if issubclass(cls, base):
            return kind
    return -1


def _encoded(value: Any) -> bytes:
    attributes = value.__dict__
    octets: bytes | None = attributes.get("_read_only_octets")
    if octets is not None:
        return octets
    kind = _kind_of(type(value))
    if kind == CHOICE:
        position = attributes.get("_currentIdx")
        if len(value.tagSet) or position is None:
            raise Unsupported("tagged or empty CHOICE")
        return _encoded(attributes["_componentValues"][position])
    if kind < 0:
        raise Unsupported(type(value).__name__)
    octet = _identifier(value.tagSet)
    no_value = _no_value()
    if kind == SEQUENCE:
        components = attributes["_componentValues"]
        named_types = value.componentType
        if components is no_value or len(components) != len(named_types) or named_types.hasOptionalOrDefault:
            raise Unsupported("incomplete SEQUENCE or OPTIONAL components")
        body = b"".join(_encoded(c) for c in components)
    elif kind == SEQUENCE_OF:
        components = value._componentValues  # an attribute read: a deferred VarBindList builds them
        if components is no_value:
            components = {}
        if list(components) != list(range(len(components))):
            raise Unsupported("SEQUENCE OF with holes")
        body = b"".join(_encoded(components[i]) for i in range(len(components)))
    else:
        payload = attributes.get("_value", no_value)
        if payload is no_value:
            raise Unsupported("schema object")
        if kind == INTEGER:
            number = int(payload)
            # pyasn1's length rule, not the minimal one: it gives -128 two octets (ff 80)
            bits = number.bit_length()
            bits += bits % 8 == 0
            body = number.to_bytes(bits // 8 + (bits % 8 > 0), "big", signed=True)
        elif kind == OCTETS:
            body = bytes(payload)
        elif kind == OID:
            body = _oid_octets(tuple(payload))
        else:
            body = b""
    return bytes((octet,)) + _length(len(body)) + body


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    size = (n.bit_length() + 7) // 8
    return bytes((0x80 | size,)) + n.to_bytes(size, "big")


def _oid_octets(arcs: tuple[int, ...]) -> bytes:
    """pyasn1's encoding of an OBJECT IDENTIFIER, its checks included (as Unsupported: pyasn1 reports them)."""
    if len(arcs) < 2:
        raise Unsupported("short OID")
    first, second = arcs[0], arcs[1]
    if first not in (0, 1, 2) or (second > 39 and first != 2) or second < 0:
        raise Unsupported("impossible first arcs")
    out = bytearray()
    for arc in (first * 40 + second, *arcs[2:]):
        if arc < 0:
            raise Unsupported("negative arc")
        if arc < 0x80:
            out.append(arc)
            continue
        chunk = [arc & 0x7F]  # base 128, most significant first, continuation bit on all but the last
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


class _Encoder:
    """Stands in for ``pyasn1.codec.ber.encoder`` in pysnmp's modules: this encoder first, pyasn1's otherwise."""

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
    """Stands in for ``pyasn1.codec.ber.decoder`` in pysnmp's modules: this decoder first, pyasn1's otherwise."""

    def __init__(self, pyasn1_decoder: Any) -> None:
        self._pyasn1 = pyasn1_decoder

    def decode(self, substrate: Any, asn1Spec: Any = None, **options: Any) -> Any:
        if asn1Spec is not None and not options:
            try:
                return decode(substrate, asn1Spec)
            except Unsupported:
                pass
        return self._pyasn1.decode(substrate, asn1Spec=asn1Spec, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pyasn1, name)


# pysnmp's modules that decode what an SNMP manager receives (whole v1/v2c and v3 messages, USM's
# security parameters and decrypted scoped PDUs) and that encode what it sends (USM, community)
_MODULES = {
    "pysnmp.proto.mpmod.rfc3412": ("decoder",),
    "pysnmp.proto.mpmod.rfc2576": ("decoder",),
    "pysnmp.proto.secmod.rfc3414.service": ("decoder", "encoder"),
    "pysnmp.proto.secmod.rfc2576": ("encoder",),
}


def install() -> None:
    """Put this codec under pysnmp's message processing and security modules (idempotent)."""
    import importlib

    for name, codecs in _MODULES.items():
        module = importlib.import_module(name)
        for codec in codecs:
            current = getattr(module, codec)
            stand_in = _Decoder if codec == "decoder" else _Encoder
            if not isinstance(current, stand_in):
                setattr(module, codec, stand_in(current))
