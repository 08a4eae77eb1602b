"""SNMP collector on pysnmp 7's asyncio API.

One SnmpEngine serves every target (an engine per host is measured to be slow), MIB lookup is
off on the hot path (2.8x slower with it), and values come back as plain Python types keyed by
numeric OID so the parsers never depend on pysnmp.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from govops.credentials import Credential
from govops.network.collectors import ber
from govops.network.collectors.base import (
    AuthFailed,
    CollectError,
    SnmpOutput,
    SnmpTarget,
    TimedOut,
)
from govops.network.collectors.ber import END_OF_MIB_VIEW, Missing, PlainValue, plain_varbinds

# varbinds asked for per GETBULK (roots x repetitions): ~6 KB responses, within real agents' limits
MAX_VARBINDS = 120
FIRST_REPETITIONS = 4
# What one more request costs an agent (and this side) beyond its varbinds, in varbinds: measured
# on snmpsim and pysnmp, where a message's decode, USM and encode cost about as much as 24 varbinds
MESSAGE_COST = 24
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"


class RowHistory:
    """Rows each subtree had on the devices polled lately, so a device's first GETBULK asks for about that many.

    Devices of one network are alike (an access switch has five interfaces, a county router forty):
    asking for the rows a subtree usually has walks most devices in one round with little overshoot,
    and a device with more rows just takes another round. The estimate is the upper quartile of the
    last ``size`` devices, so a few large devices do not make every small one pay.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._seen: dict[str, deque[int]] = {}

    def estimate(self, root: str) -> int | None:
        seen = self._seen.get(root)
        if not seen:
            return None
        ordered = sorted(seen)
        return ordered[(3 * (len(ordered) - 1)) // 4]

    def record(self, root: str, rows: int) -> None:
        self._seen.setdefault(root, deque(maxlen=self.size)).append(rows)


def plan_requests(wanted: Sequence[int], max_varbinds: int = MAX_VARBINDS) -> list[tuple[list[int], int]]:
    """Group subtrees into GETBULK requests: (indexes into ``wanted``, max-repetitions) per request.

    ``wanted[i]`` is how many rows subtree ``i`` should get. Every subtree of a request gets the
    request's repetitions, so putting a short subtree beside a long one makes the agent compute rows
    nobody needs; a separate request costs ``MESSAGE_COST``. Groups of equal need start apart and the
    pair whose merge saves the most is merged until no merge saves anything.
    """
    by_reps: dict[int, list[int]] = {}
    for i, reps in enumerate(wanted):
        by_reps.setdefault(max(1, reps), []).append(i)
    groups: list[tuple[list[int], int]] = sorted(((ix, reps) for reps, ix in by_reps.items()), key=lambda g: g[1])

    def cost(cols: int, reps: int) -> int:
        return MESSAGE_COST + cols * reps

    while len(groups) > 1:
        best, saving = -1, 0
        for k in range(len(groups) - 1):
            (a, ra), (b, rb) = groups[k], groups[k + 1]
            if (len(a) + len(b)) * rb > max_varbinds:
                continue
            gain = cost(len(a), ra) + cost(len(b), rb) - cost(len(a) + len(b), rb)
            if gain > saving:
                best, saving = k, gain
        if best < 0:
            break
        (a, _ra), (b, rb) = groups[best], groups[best + 1]
        groups[best : best + 2] = [(a + b, rb)]
    requests: list[tuple[list[int], int]] = []
    for ix, reps in groups:
        # a group too wide for one response gets fewer rows now and the rest in the next round
        for n in range(0, len(ix), max_varbinds):
            part = ix[n : n + max_varbinds]
            requests.append((part, max(1, min(reps, max_varbinds // len(part)))))
    return requests


Binds = Sequence[tuple[tuple[int, ...], PlainValue]]  # a response's (OID arcs, plain value) pairs


Codec = Literal["fast", "pyasn1"]


def use_codec(codec: Codec) -> None:
    """The one switch of the SNMP codec, for this process: ``fast`` puts govops' BER codec
    (network/collectors/ber.py) under pysnmp's message and security modules, ``pyasn1`` leaves
    pysnmp as it is. The codec, once installed, stays for the process (pysnmp's modules are
    shared), so a process audits with one codec: each SNMP worker process chooses its own."""
    if codec == "fast":
        ber.install()
    elif codec != "pyasn1":
        raise ValueError(f"unknown SNMP codec {codec!r}")


class PysnmpCollector:
    def __init__(self, codec: Codec = "fast") -> None:
        from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

        use_codec(codec)
        self.codec = codec
        self.engine = SnmpEngine()
        self.history = RowHistory()
        self.max_varbinds = MAX_VARBINDS
        self._generator = _command_generator()
        self._domains: set[tuple[int, ...]] = set()
        self._auths: dict[tuple[Any, ...], Any] = {}
        self._params: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._admin_string: Any = None

    def _auth(self, target: SnmpTarget, credential: Credential) -> Any:
        from pysnmp.hlapi.v3arch import asyncio as hl

        if target.version == "v2c":
            if credential.community is None:
                raise CollectError(f"credential '{credential.name}' has no community for SNMP v2c")
            # v2c is still what many village devices speak; the baseline rules flag it
            return hl.CommunityData(credential.community.reveal(), mpModel=1)  # noqa: S508
        auth_protocols = {
            "md5": hl.usmHMACMD5AuthProtocol,
            "sha": hl.usmHMACSHAAuthProtocol,
            "sha224": hl.usmHMAC128SHA224AuthProtocol,
            "sha256": hl.usmHMAC192SHA256AuthProtocol,
            "sha384": hl.usmHMAC256SHA384AuthProtocol,
            "sha512": hl.usmHMAC384SHA512AuthProtocol,
        }
        priv_protocols = {
            "des": hl.usmDESPrivProtocol,
            "aes": hl.usmAesCfb128Protocol,
            "aes192": hl.usmAesCfb192Protocol,
            "aes256": hl.usmAesCfb256Protocol,
        }
        if not credential.username or credential.auth_key is None or credential.priv_key is None:
            raise CollectError(f"credential '{credential.name}' needs username, auth_key and priv_key for SNMPv3")
        return hl.UsmUserData(
            credential.username,
            credential.auth_key.reveal(),
            credential.priv_key.reveal(),
            authProtocol=auth_protocols[target.auth_protocol],
            privProtocol=priv_protocols[target.priv_protocol],
        )

    async def collect(
        self, target: SnmpTarget, credential: Credential, gets: Sequence[str], walks: Sequence[str]
    ) -> SnmpOutput:
        agent = await self._agent(target, self._auth(target, credential))
        out = SnmpOutput()
        # Scalars (x.0) ride on the walk's first GETBULK as non-repeaters: a GETNEXT of x answers x.0.
        scalars = [o for o in gets if o.endswith(".0")] if walks else []
        others = [o for o in gets if o not in scalars]
        if others:
            err, status, binds = await self._request(agent, [_arcs(o) for o in others])
            self._check(target, err, status)
            for arcs, value in binds:
                if not isinstance(value, Missing):
                    out.values[_dotted(arcs)] = value
        await self._walk(target, agent, walks, out, scalars)
        return out

    async def _agent(self, target: SnmpTarget, auth: Any) -> _Peer:
        """One agent's transport and security, from entries this engine shares across agents.

        pysnmp's LCD configurator adds a target-address row per agent, and every row added
        invalidates the engine's whole target cache, so each poll re-read the target tables (≈ 11 %
        of an SNMP worker's CPU in py-spy). Transports, users/communities and target parameters are
        registered once per kind and credential here; the address travels with each request.
        """
        from pysnmp.entity import config

        udp, udp6 = _transports()
        transport_cls = udp6 if ":" in target.host else udp
        try:
            transport = await transport_cls.create(
                (target.host, target.port), timeout=target.timeout, retries=target.retries
            )
        except Exception as exc:  # noqa: BLE001 - pysnmp raises its own error types for bad addresses
            raise CollectError(f"snmp: bad transport {target.host}:{target.port}: {exc}") from None
        domain = transport.TRANSPORT_DOMAIN
        if domain not in self._domains:
            if not config.get_transport(self.engine, domain):
                config.add_transport(self.engine, domain, transport.open_client_mode())
            self._domains.add(domain)
        mp_model, security_model, security_name, security_level = self._security(auth)
        # the command generator's own conversion: the target table holds 1/100 s, requests timer ticks
        ticks = int(target.timeout * 100) / 100 / self.engine.transport_dispatcher.get_timer_resolution()
        return _Peer(
            domain,
            transport.PROTO_TRANSPORT.ADDRESS_TYPE(transport.transport_address),
            ticks,
            target.retries,
            mp_model,
            security_model,
            security_name,
            security_level,
            self._context_name(target.context or ""),
        )

    def _context_name(self, name: str) -> Any:
        """The context name as the type pysnmp's command generator casts it to (SnmpAdminString)."""
        if self._admin_string is None:
            (self._admin_string,) = self.engine.get_mib_builder().import_symbols(
                "SNMP-FRAMEWORK-MIB", "SnmpAdminString"
            )
        return self._admin_string(name)

    def _security(self, auth: Any) -> tuple[Any, Any, Any, Any]:
        """Register a community or USM user (once, again if its keys changed) and its target parameters."""
        from pysnmp.entity import config
        from pysnmp.entity.rfc3413 import config as target_config
        from pysnmp.hlapi.v3arch import asyncio as hl

        if isinstance(auth, hl.CommunityData):
            key: tuple[Any, ...] = ("v1", auth.communityIndex)
            if key not in self._auths:
                config.add_v1_system(
                    self.engine,
                    auth.communityIndex,
                    auth.communityName,
                    auth.contextEngineId,
                    auth.context_name,
                    auth.tag,
                    auth.securityName,
                )
        else:
            key = ("usm", auth.userName, auth.securityEngineId)
            known = self._auths.get(key)
            changed = known is not None and _usm_keys(known) != _usm_keys(auth)
            if changed:
                config.delete_v3_user(self.engine, auth.userName, auth.securityEngineId)
            if known is None or changed:
                config.add_v3_user(
                    self.engine,
                    auth.userName,
                    auth.authentication_protocol,
                    auth.authentication_key,
                    auth.privacy_protocol,
                    auth.privacy_key,
                    securityEngineId=auth.securityEngineId,
                    securityName=auth.securityName,
                    authKeyType=auth.authKeyType,
                    privKeyType=auth.privKeyType,
                )
        self._auths[key] = auth
        params_key = (auth.securityName, auth.security_level, auth.message_processing_model)
        params = self._params.get(params_key)
        if params is None:
            name = f"govops-p{len(self._params)}"
            config.add_target_parameters(self.engine, name, *params_key)
            # read back through pysnmp, so the request carries the very types its target table holds
            params = self._params[params_key] = tuple(target_config.get_target_parameters(self.engine, name))
        return params

    async def _request(
        self, agent: _Peer, names: Sequence[tuple[int, ...]], repetitions: int | None = None, non_repeaters: int = 0
    ) -> tuple[Any, Any, Binds]:
        """One GET (or GETBULK with ``repetitions``) of numeric OIDs, below pysnmp's hlapi.

        The hlapi resolves every request OID through a MIB view, which costs as much CPU as the
        rest of a poll together (and compiles the MIB parser on first use); numeric OIDs need none.
        The answer's variable bindings come as plain values, read from the response's octets
        (:func:`ber.plain_varbinds`) without building their pyasn1 objects.
        """
        import asyncio

        from pysnmp.proto.api import v2c

        future: asyncio.Future[tuple[Any, Any, Binds]] = asyncio.get_running_loop().create_future()

        def done(err: Any, pdu: Any) -> None:
            if future.done():
                return
            if pdu is None:
                future.set_result((err, 0, ()))
            else:
                future.set_result((err, v2c.apiPDU.get_error_status(pdu), plain_varbinds(pdu)))

        if repetitions is None:
            pdu = v2c.GetRequestPDU()
            v2c.apiPDU.set_defaults(pdu)
        else:
            pdu = v2c.GetBulkRequestPDU()
            v2c.apiBulkPDU.set_defaults(pdu)
            v2c.apiBulkPDU.set_non_repeaters(pdu, non_repeaters)
            v2c.apiBulkPDU.set_max_repetitions(pdu, repetitions)
        bindings = pdu.setComponentByPosition(3).getComponentByPosition(3)  # as pysnmp's set_varbinds
        bindings.clear()
        fast = self.codec == "fast"
        for idx, name in enumerate(names):
            bindings.setComponentByPosition(idx, _request_varbind(name) if fast else _pyasn1_varbind(name))
        self._generator.send(self.engine, agent, pdu, done)
        return await future

    async def _walk(
        self, target: SnmpTarget, agent: _Peer, roots: Sequence[str], out: SnmpOutput, scalars: Sequence[str]
    ) -> None:
        """Walk every subtree in ``roots`` side by side, in as few rounds and varbinds as the agent allows.

        pysnmp's bulk_walk_cmd walks one subtree per request stream; a device audit walks fifteen
        small ones. Each round here sends a few GETBULKs at once, each carrying the subtrees that
        need about as many rows (:func:`plan_requests`), sized by what this collector saw on recent
        devices (:class:`RowHistory`); a subtree that did not end in a round goes on in the next
        with its rows doubled. ``scalars`` are the non-repeaters of the first round's smallest request.
        """
        walk = _Walk(roots)
        wanted = [(est + 1) if (est := self.history.estimate(r)) is not None else FIRST_REPETITIONS for r in roots]
        active = list(range(len(roots)))
        pending = list(scalars)
        discover = target.version == "v3"
        while active or pending:
            plan = plan_requests([wanted[i] for i in active], self.max_varbinds)
            requests = [([active[k] for k in ix], reps) for ix, reps in plan] or [([], 1)]
            carrier = min(range(len(requests)), key=lambda n: len(requests[n][0]) * requests[n][1]) if pending else -1
            answers = await self._round(agent, walk, requests, carrier, pending, discover)
            discover = False
            finished: set[int] = set()
            for n, ((cols, reps), (err, status, binds)) in enumerate(zip(requests, answers, strict=True)):
                self._check(target, err, status)
                skip = len(pending) if n == carrier else 0
                for (arcs, value), wanted_oid in zip(binds[:skip], pending, strict=False):
                    if not isinstance(value, Missing) and _dotted(arcs) == wanted_oid:
                        out.values[wanted_oid] = value
                repeated = binds[skip:]
                if cols and len(repeated) < len(cols) * reps and not any(v is END_OF_MIB_VIEW for _a, v in repeated):
                    # The agent capped the response (pysnmp-based agents at 64 varbinds): ask no more
                    # than that from now on, so the rows it leaves out need no extra round next time.
                    self.max_varbinds = max(len(cols), min(self.max_varbinds, len(repeated)))
                finished |= walk.take(cols, repeated, out)
            pending = []
            # a root the agent answered nothing new for is finished too (no endless loops)
            active = [i for i in active if i not in finished]
            for i in active:
                wanted[i] = max(FIRST_REPETITIONS, walk.rows[i])
        for root, n in zip(roots, walk.rows, strict=True):
            self.history.record(root, n)

    async def _round(
        self,
        agent: _Peer,
        walk: _Walk,
        requests: Sequence[tuple[list[int], int]],
        carrier: int,
        scalars: Sequence[str],
        discover: bool,
    ) -> list[tuple[Any, Any, Binds]]:
        """Send one round's GETBULKs side by side; answers in the order of ``requests``."""
        import asyncio

        def send(n: int) -> Any:
            cols, reps = requests[n]
            first = [_arcs(o.rsplit(".", 1)[0]) for o in scalars] if n == carrier else []
            return self._request(agent, first + [walk.cursor[i] for i in cols], reps, len(first))

        answers: dict[int, tuple[Any, Any, Binds]] = {}
        if discover:
            # SNMPv3: the first request learns the agent's engine ID and clock; sent side by side,
            # every request would run that discovery again (a REPORT round trip each)
            answers[0] = await send(0)
        rest = [n for n in range(len(requests)) if n not in answers]
        answers.update(zip(rest, await asyncio.gather(*(send(n) for n in rest)), strict=True))
        return [answers[n] for n in range(len(requests))]

    async def answers_community(self, target: SnmpTarget, community: str, timeout: float) -> bool:
        from pysnmp.hlapi.v3arch import asyncio as hl

        probe = hl.CommunityData(community, mpModel=1)  # noqa: S508 - probing for a weak community on purpose
        # An agent sends nothing for a community it does not know, so a lost or late answer reads as "no":
        # one retry keeps a loaded agent from passing the weak-community check (seen once in four full-lab runs).
        once = replace(target, version="v2c", timeout=timeout, retries=1, context=None)
        err, status, _binds = await self._request(await self._agent(once, probe), [_arcs(SYS_OBJECT_ID)])
        return not err and not status

    @staticmethod
    def _check(target: SnmpTarget, err: Any, status: Any) -> None:
        if err:
            text = str(err)
            if "timeout" in text.lower() or "no snmp response" in text.lower():
                raise TimedOut(f"snmp {target.version} {target.host}:{target.port}: no response")
            if any(w in text.lower() for w in ("unknown user", "wrong digest", "decryption", "authentication")):
                raise AuthFailed(f"snmp {target.version}: {text}")
            raise CollectError(f"snmp {target.version}: {text}")
        if status:
            raise CollectError(f"snmp {target.version}: agent error {status.prettyPrint()}")

    def close(self) -> None:
        self.engine.close_dispatcher()


@dataclass(frozen=True)
class _Peer:
    """One agent as pysnmp's command generator sends to it: what its target tables would hold."""

    domain: tuple[int, ...]
    address: Any
    timeout: float  # in the transport dispatcher's timer ticks
    retries: int
    mp_model: Any
    security_model: Any
    security_name: Any
    security_level: Any
    context_name: Any


def _command_generator() -> Any:
    """pysnmp's command generator, sending to a :class:`_Peer` instead of a target-table name.

    Only ``send_pdu``'s target lookup differs; the answers go through pysnmp's own
    ``process_response_pdu``: the retries on timeout, the SNMPv3 discovery and time-window
    retries and the request-id check stay pysnmp's.
    """
    from pysnmp.entity.rfc3413 import cmdgen

    class Generator(cmdgen.CommandGenerator):  # type: ignore[misc]
        def send(self, engine: Any, peer: _Peer, pdu: Any, done: Callable[[Any, Any], None]) -> None:
            def answered(_engine: Any, _handle: Any, err: Any, response: Any, _ctx: Any) -> None:
                done(err, response)

            # What send_pdu is given about the request, and the head of the row it keeps for it.
            request = (
                peer.domain,
                peer.address,
                peer.mp_model,
                peer.security_model,
                peer.security_name,
                peer.security_level,
                None,  # contextEngineId: the agent's own, learnt by discovery (v3)
                peer.context_name,
                1,  # PDU version: SMIv2 (v2c and v3; v1 is not used)
                pdu,
            )
            handle = engine.message_dispatcher.send_pdu(
                engine, *request, True, peer.timeout, self.process_response_pdu, (0, answered, None)
            )
            engine.transport_dispatcher.job_started(id(self))
            # the row pysnmp's send_pdu keeps for process_response_pdu (retries start at 0)
            self._CommandGenerator__pendingReqs[handle] = (*request, peer.timeout, peer.retries, 0, 0)

    return Generator()


def _usm_keys(auth: Any) -> tuple[Any, ...]:
    return (auth.authentication_protocol, auth.authentication_key, auth.privacy_protocol, auth.privacy_key)


@functools.cache
def _varbind_spec() -> Any:
    from pysnmp.proto import rfc1905

    return rfc1905.VarBind()


_REQUEST_VARBINDS: dict[tuple[int, ...], Any] = {}
_REQUEST_VARBINDS_MAX = 4096


def _request_varbind(name: tuple[int, ...]) -> Any:
    """The VarBind ``(name, NULL)`` of a request, shared read-only by every request that asks for ``name``.

    Every device's first GETBULKs ask for the same subtrees, and pysnmp's ``set_varbinds`` built
    each binding anew through pyasn1's generic setters and encoded it again for every message.
    """
    varbind = _REQUEST_VARBINDS.get(name)
    if varbind is None:
        if len(_REQUEST_VARBINDS) >= _REQUEST_VARBINDS_MAX:
            _REQUEST_VARBINDS.clear()  # walk cursors of past devices: seldom asked for again
        varbind = ber.read_only_sequence(ber.encode(_name(name)) + b"\x05\x00", _varbind_spec())  # name, NULL
        _REQUEST_VARBINDS[name] = varbind
    return varbind


def _pyasn1_varbind(name: tuple[int, ...]) -> Any:
    """The VarBind ``(name, NULL)`` built by pysnmp and pyasn1 themselves (the ``pyasn1`` codec)."""
    from pysnmp.proto.api import v2c

    varbind = v2c.VarBind()
    v2c.apiVarBind.set_oid_value(varbind, (v2c.ObjectIdentifier(name), v2c.null))
    return varbind


class _Walk:
    """Where each subtree's walk stands: the last OID seen (the next request starts there) and rows taken."""

    def __init__(self, prefixes: Sequence[str]) -> None:
        self.prefixes = [_arcs(p) for p in prefixes]
        self.cursor = list(self.prefixes)
        self.rows = [0] * len(prefixes)

    def take(self, cols: Sequence[int], binds: Binds, out: SnmpOutput) -> set[int]:
        """One GETBULK's repetitions (row-major: a varbind per column and row); the columns that ended."""
        if not cols:
            return set()
        done: set[int] = set()
        progressed: set[int] = set()
        for j, (arcs, value) in enumerate(binds):
            col = cols[j % len(cols)]
            if col in done:
                continue
            prefix = self.prefixes[col]
            if isinstance(value, Missing) or arcs[: len(prefix)] != prefix or arcs <= self.cursor[col]:
                done.add(col)
                continue
            out.values[_dotted(arcs)] = value
            self.cursor[col] = arcs
            self.rows[col] += 1
            progressed.add(col)
        return done | {c for c in cols if c not in progressed}


@functools.cache
def _transports() -> tuple[Any, Any]:
    """pysnmp's UDP transport targets, minus a resolver thread hop for addresses that are already IPs.

    ``create`` resolves every address through the event loop's executor, even a literal one; per
    device that was 4 % of a poll's CPU (thread hand-offs under the GIL). Names still resolve.
    """
    from pysnmp.hlapi.v3arch import asyncio as hl

    class Literal:
        async def _resolve_address(self, address: tuple[Any, ...]) -> tuple[Any, ...]:
            host, port = address[0], address[1]
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:  # a name, or a scoped link-local address: let pysnmp resolve it
                resolved: tuple[Any, ...] = await super()._resolve_address(address)  # type: ignore[misc]
                return resolved
            return (str(ip), port) if ip.version == 4 else (str(ip), port, 0, 0)

    class Udp(Literal, hl.UdpTransportTarget):  # type: ignore[misc]
        pass

    class Udp6(Literal, hl.Udp6TransportTarget):  # type: ignore[misc]
        pass

    return Udp, Udp6


def _name(oid: tuple[int, ...]) -> Any:
    from pysnmp.proto.rfc1902 import ObjectName

    return ObjectName(oid)


def _arcs(oid: str) -> tuple[int, ...]:
    return tuple(int(arc) for arc in oid.strip(".").split("."))


def _dotted(arcs: tuple[int, ...]) -> str:
    return ".".join(map(str, arcs))
