"""SNMP collector on pysnmp 7's asyncio API.

One SnmpEngine serves every target (an engine per host is measured to be slow), MIB lookup is
off on the hot path (2.8x slower with it), and values come back as plain Python types keyed by
numeric OID so the parsers never depend on pysnmp.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from govops.credentials import Credential
from govops.network.collectors.base import (
    AuthFailed,
    CollectError,
    SnmpOutput,
    SnmpTarget,
    SnmpValue,
    TimedOut,
)

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


def _plain(value: Any) -> SnmpValue:
    """pysnmp value -> int (numbers), str (OIDs, IP addresses) or bytes (octet strings)."""
    from pysnmp.proto import rfc1902

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


class PysnmpCollector:
    def __init__(self) -> None:
        from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

        self.engine = SnmpEngine()
        self.history = RowHistory()
        self.max_varbinds = MAX_VARBINDS

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
            err, status, binds = await self._request(agent, [_name(o) for o in others])
            self._check(target, err, status)
            for oid, value in binds:
                if value.tagSet not in _ABSENT:
                    out.values[str(oid)] = _plain(value)
        await self._walk(target, agent, walks, out, scalars)
        return out

    async def _agent(self, target: SnmpTarget, auth: Any) -> tuple[Any, Any]:
        """pysnmp's (target name, context) for one agent, configured once per poll, not per request."""
        from pysnmp.hlapi.v3arch import asyncio as hl
        from pysnmp.hlapi.v3arch.asyncio.cmdgen import LCD

        udp, udp6 = _transports()
        transport_cls = udp6 if ":" in target.host else udp
        try:
            transport = await transport_cls.create(
                (target.host, target.port), timeout=target.timeout, retries=target.retries
            )
        except Exception as exc:  # noqa: BLE001 - pysnmp raises its own error types for bad addresses
            raise CollectError(f"snmp: bad transport {target.host}:{target.port}: {exc}") from None
        ctx = hl.ContextData(contextName=target.context or "")
        addr, _params = LCD.configure(self.engine, auth, transport, ctx.contextName)
        return addr, ctx

    async def _request(
        self, agent: tuple[Any, Any], names: Sequence[Any], repetitions: int | None = None, non_repeaters: int = 0
    ) -> tuple[Any, Any, Sequence[tuple[Any, Any]]]:
        """One GET (or GETBULK with ``repetitions``) of numeric OIDs, below pysnmp's hlapi.

        The hlapi resolves every request OID through a MIB view, which costs as much CPU as the
        rest of a poll together (and compiles the MIB parser on first use); numeric OIDs need none.
        """
        import asyncio

        from pysnmp.entity.rfc3413 import cmdgen
        from pysnmp.proto.rfc1902 import Null

        addr, ctx = agent
        future: asyncio.Future[tuple[Any, Any, Sequence[tuple[Any, Any]]]] = asyncio.get_running_loop().create_future()

        def done(_engine: Any, _handle: Any, err: Any, status: Any, _index: Any, binds: Any, _ctx: Any) -> None:
            if not future.done():
                future.set_result((err, status, binds or ()))

        varbinds = [(n, Null("")) for n in names]
        if repetitions is None:
            cmdgen.GetCommandGenerator().send_varbinds(
                self.engine, addr, ctx.contextEngineId, ctx.contextName, varbinds, done
            )
        else:
            cmdgen.BulkCommandGenerator().send_varbinds(
                self.engine, addr, ctx.contextEngineId, ctx.contextName, non_repeaters, repetitions, varbinds, done
            )
        return await future

    async def _walk(
        self, target: SnmpTarget, agent: tuple[Any, Any], roots: Sequence[str], out: SnmpOutput, scalars: Sequence[str]
    ) -> None:
        """Walk every subtree in ``roots`` side by side, in as few rounds and varbinds as the agent allows.

        pysnmp's bulk_walk_cmd walks one subtree per request stream; a device audit walks fifteen
        small ones. Each round here sends a few GETBULKs at once, each carrying the subtrees that
        need about as many rows (:func:`plan_requests`), sized by what this collector saw on recent
        devices (:class:`RowHistory`); a subtree that did not end in a round goes on in the next
        with its rows doubled. ``scalars`` are the non-repeaters of the first round's smallest request.
        """
        walk = _Walk([_name(r) for r in roots])
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
                for (oid, value), wanted_oid in zip(binds[:skip], pending, strict=False):
                    if value.tagSet not in _ABSENT and str(oid) == wanted_oid:
                        out.values[wanted_oid] = _plain(value)
                repeated = binds[skip:]
                if cols and len(repeated) < len(cols) * reps and not any(v.tagSet in _END for _o, v in repeated):
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
        agent: tuple[Any, Any],
        walk: _Walk,
        requests: Sequence[tuple[list[int], int]],
        carrier: int,
        scalars: Sequence[str],
        discover: bool,
    ) -> list[tuple[Any, Any, Sequence[tuple[Any, Any]]]]:
        """Send one round's GETBULKs side by side; answers in the order of ``requests``."""
        import asyncio

        def send(n: int) -> Any:
            cols, reps = requests[n]
            first = [_name(o.rsplit(".", 1)[0]) for o in scalars] if n == carrier else []
            return self._request(agent, first + [walk.cursor[i] for i in cols], reps, len(first))

        answers: dict[int, tuple[Any, Any, Sequence[tuple[Any, Any]]]] = {}
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
        once = replace(target, version="v2c", timeout=timeout, retries=0, context=None)
        err, status, _binds = await self._request(await self._agent(once, probe), [_name(SYS_OBJECT_ID)])
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


class _Walk:
    """Where each subtree's walk stands: the last OID seen (the next request starts there) and rows taken."""

    def __init__(self, prefixes: Sequence[Any]) -> None:
        self.prefixes = list(prefixes)
        self.cursor = list(prefixes)
        self.rows = [0] * len(prefixes)

    def take(self, cols: Sequence[int], binds: Sequence[tuple[Any, Any]], out: SnmpOutput) -> set[int]:
        """One GETBULK's repetitions (row-major: a varbind per column and row); the columns that ended."""
        if not cols:
            return set()
        done: set[int] = set()
        progressed: set[int] = set()
        for j, (oid, value) in enumerate(binds):
            col = cols[j % len(cols)]
            if col in done:
                continue
            if value.tagSet in _ABSENT or not self.prefixes[col].isPrefixOf(oid) or oid <= self.cursor[col]:
                done.add(col)
                continue
            out.values[str(oid)] = _plain(value)
            self.cursor[col] = oid
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


def _name(oid: str) -> Any:
    from pysnmp.proto.rfc1902 import ObjectName

    return ObjectName(oid)


class _LazyTags(set[Any]):
    """pysnmp's tags of the named rfc1905 types, looked up on first membership test (keeps pysnmp import lazy)."""

    def __init__(self, *names: str) -> None:
        super().__init__()
        self.names = names

    def __contains__(self, item: object) -> bool:
        if not len(self):
            from pysnmp.proto import rfc1905

            self.update(getattr(rfc1905, name).tagSet for name in self.names)
        return super().__contains__(item)


_ABSENT = _LazyTags("NoSuchObject", "NoSuchInstance", "EndOfMibView")
_END = _LazyTags("EndOfMibView")
