"""snmpsim's command responder with strict per-endpoint device selection.

snmpsim 1.2.2 meant to pick a recording by transport endpoint, but its hook overrides a method name
pysnmp 7 no longer calls (``handleMgmtOperation``), so every endpoint answers from the community's
file. This wrapper installs responders that pick the device by the endpoint the request arrived on
and apply that device's access rules like a real agent does: a community the device does not have,
or SNMPv3 on a device without the user, gets no answer (the manager times out).

Run as ``python -m govops.lab.extranet.snmpagent SHARD.json <snmpsim-command-responder args>``.
SHARD holds ``policy``, which maps each endpoint's transport domain ("1.3.6.1.6.1.1.<n>" for
UDP/IPv4, "1.3.6.1.2.1.100.1.2.<n>" for UDP/IPv6) to {"ctx": data file id, "v2c": [md5 hex of the
allowed communities], "v3": bool}; ``data_dir``; and ``devices`` (data file id -> device state).
The process writes its devices' recordings itself before snmpsim indexes them, so the shards
render in parallel; unchanged files keep their mtime and snmpsim its index.

The recordings are static for the process's life and use none of snmpsim's variation modules or
subtree records, yet snmpsim re-reads and re-parses a record, and formats log lines it then drops,
for every variable it answers: that was most of the lab's SNMP CPU. :class:`StaticRecording`
reads a recording once and answers from memory with snmpsim's own results for it (same values,
same errors, same end of view), each with its response VarBind built once; a recording outside
that static subset keeps snmpsim's own code. What the agent sends is encoded by the lab's own BER
encoder (:mod:`govops.lab.extranet.snmpcodec`), never by the collector's codec, which the lab is
there to test.
"""

from __future__ import annotations

import bisect
import functools
import gc
import itertools
import json
import re
import resource
import sys
import time
from pathlib import Path
from typing import Any, cast


def write_if_changed(path: Path, text: str) -> None:
    """Keeps the mtime of unchanged recordings, so snmpsim reuses its index on the next start."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    path.write_text(text, encoding="utf-8")


def write_recordings(data_dir: Path, devices: dict[str, dict[str, Any]]) -> None:
    from govops.lab.extranet.plan import DeviceState
    from govops.lab.extranet.snmpdata import snmprec

    for name, state in devices.items():
        write_if_changed(data_dir / f"{name}.snmprec", snmprec(DeviceState.from_dict(state)))


BLOCK = 512  # dbm.dumb's value alignment in the .dat file


class BulkDumbWriter(dict[bytes, bytes]):
    """A new dbm.dumb database built in memory and written in one go on ``close``.

    snmpsim indexes every recording through ``dbm``; a Python built without gdbm/ndbm falls back
    to dbm.dumb, which opens two files per key and made indexing the lab's slowest step. The
    files written here are plain dbm.dumb (.dat values on 512-byte blocks, .dir ``'key', (pos,
    size)`` lines), so snmpsim later opens them with the stock dbm module.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def __setitem__(self, key: bytes | str, value: bytes | str) -> None:
        k = key.encode("utf-8") if isinstance(key, str) else key
        super().__setitem__(k, value.encode("utf-8") if isinstance(value, str) else value)

    def close(self) -> None:
        data = bytearray()
        lines = []
        for key, value in self.items():
            data += b"\0" * (-len(data) % BLOCK)
            lines.append(f"{key.decode('Latin-1')!r}, {(len(data), len(value))!r}\n")
            data += value
        Path(self.path + ".dat").write_bytes(bytes(data))
        Path(self.path + ".dir").write_text("".join(lines), encoding="Latin-1")


class MemoryIndex(dict[str, bytes]):
    """A dbm.dumb index read into memory once: dbm.dumb opens and reads its .dat file on every lookup.

    snmpsim looks up an index entry for every varbind it answers, so with dbm.dumb that open/seek/read
    was the agent's largest single cost. Read-only, like snmpsim's use of it.
    """

    @classmethod
    def load(cls, path: str) -> MemoryIndex:
        import ast

        data = Path(path + ".dat").read_bytes()
        index = cls()
        for line in Path(path + ".dir").read_text(encoding="Latin-1").splitlines():
            key, (pos, size) = ast.literal_eval(line)
            index[key] = data[pos : pos + size]
        return index

    def __getitem__(self, key: str | bytes) -> bytes:
        return super().__getitem__(key.decode("Latin-1") if isinstance(key, bytes) else key)

    def close(self) -> None:
        pass


def use_bulk_index() -> None:
    """With only dbm.dumb: snmpsim writes its indexes through ``BulkDumbWriter`` and reads them from memory."""
    import dbm
    import importlib.util
    from types import SimpleNamespace

    if importlib.util.find_spec("_gdbm") or importlib.util.find_spec("_dbm"):
        return  # a C dbm is fast enough: leave snmpsim alone
    from snmpsim.record.search import database

    def open_db(path: str, flag: str = "r", mode: int = 0o666) -> Any:
        # flag comes from snmpsim as dbm's own flag string; dbm's stub types it as a Literal
        if flag.startswith("n"):
            return BulkDumbWriter(path)
        if flag == "r" and Path(path + ".dir").exists():
            return MemoryIndex.load(path)
        return dbm.open(path, cast(Any, flag), mode)

    database.dbm = SimpleNamespace(open=open_db, whichdb=dbm.whichdb)


class Answer(tuple[Any, Any]):
    """An (OID, value) answer that carries the response VarBind pysnmp would build for it.

    pysnmp builds every response variable binding anew through pyasn1's generic component setters,
    which was half of the agent's CPU once snmpsim answered from memory. An answer is made once per
    record (or per OID an error status answers), and :func:`use_prebuilt_varbinds` puts its VarBind
    into each response as it is.
    """

    varbind: Any

    def __new__(cls, oid: Any, value: Any) -> Answer:
        answer = super().__new__(cls, (oid, value))
        # lean: no VarBind kept (two thirds of an answer's memory); pysnmp builds it per response
        answer.varbind = None if LEAN else varbind(oid, value)
        return answer


@functools.cache
def varbind_spec() -> Any:
    """One VarBind schema for every decode: the codec only reads it, and making one costs as much as decoding."""
    from pysnmp.proto import rfc1905

    return rfc1905.VarBind()


def varbind(oid: Any, value: Any) -> Any:
    """The VarBind pysnmp's ``set_oid_value`` builds, its encoding made once by the lab's own
    encoder (snmpcodec, not the collector's codec: the collector is tested against it); shared
    read-only, each response sends these octets without walking the VarBind again."""
    from govops.lab.extranet import snmpcodec
    from pysnmp.proto import rfc1905
    from pysnmp.proto.api import v2c

    built = v2c.apiVarBind.set_oid_value(rfc1905.VarBind(), (oid, value))
    try:
        return snmpcodec.prebuilt(built)
    except snmpcodec.Unsupported:
        return built


def use_prebuilt_varbinds() -> None:
    """Response PDUs take an :class:`Answer`'s VarBind as it is: what pysnmp would build, shared read-only."""
    from pysnmp.proto.api import v2c

    generic = v2c.apiPDU.set_varbinds

    def set_varbinds(pdu: Any, var_binds: Any) -> None:
        if not all(isinstance(vb, Answer) and vb.varbind is not None for vb in var_binds):
            generic(pdu, var_binds)  # e.g. an error response echoing the request's var-binds
            return
        var_bind_list = pdu.setComponentByPosition(3).getComponentByPosition(3)
        var_bind_list.clear()
        for idx, answer in enumerate(var_binds):
            var_bind_list.setComponentByPosition(idx, answer.varbind)

    v2c.apiPDU.set_varbinds = set_varbinds


# a recording of plain records only: canonical OID (the index key snmpsim looks a requested OID up
# by), a tag without a variation module or subtree marker, any value; each line ending in a newline
PLAIN_RECORDS = re.compile(rb"(?:(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*\|[^|:\n]+\|[^\n]*\n)*")


# The lean mode (``lab up --lean``, for a province's many shards): answers without their prebuilt
# VarBind (two thirds of an answer's memory): a 1,150-device shard took 710 MB instead of about
# 1.4 GB, for more of the agent's CPU per response.
LEAN = False
_SHARED: dict[bytes, Answer | None] = {}  # a record line's answer, for every recording of the process


class StaticRecording:
    """One device's recording in memory, answering variables as snmpsim's ``DataFile`` does.

    For a recording whose lines are all plain ``oid|tag|value`` records (no comments, no variation
    module or subtree tags) with canonical OIDs in strictly ascending order, snmpsim's index lookup
    is an exact OID match and its in-file binary search finds the first record after the OID, so
    a dict and ``bisect`` give the same record. Each record's value is evaluated once, by snmpsim's
    own parser, on first use.
    """

    def __init__(self, parser: Any, lines: list[bytes], oids: list[tuple[int, ...]]) -> None:
        self._parser = parser
        self._lines = lines
        self._oids = oids
        self._position = {oid: i for i, oid in enumerate(oids)}
        self._records: dict[int, Answer | None] = {}  # by position, once evaluated; None: a data error
        self._errors: dict[tuple[tuple[int, ...], Any], Answer] = {}  # (requested OID, error status)

    @classmethod
    def load(cls, path: str, parser: Any) -> StaticRecording | None:
        """The recording, or None when it is not in the subset this class answers exactly like snmpsim."""
        from snmpsim.record.snmprec import SnmprecRecord

        if not isinstance(parser, SnmprecRecord) or parser.ext != SnmprecRecord.ext:
            return None  # another format, or the bz2 variant (a subclass)
        with open(path, "rb") as fh:
            data = fh.read()
        if not PLAIN_RECORDS.fullmatch(data):
            return None  # comments, blank lines, variation or subtree tags: snmpsim's own code
        lines = data.split(b"\n")[:-1]  # as snmpsim's readline() splits them; its parser strips the newline
        oids = [tuple(map(int, line[: line.index(b"|")].split(b"."))) for line in lines]
        if any(a >= b for a, b in itertools.pairwise(oids)):
            return None  # out of order or repeated: snmpsim's binary search and index disagree
        return cls(parser, lines, oids)

    def answer(self, oid: Any, next_flag: bool, end: Any) -> Answer:
        """snmpsim's answer to one requested OID; ``end`` is its error status for the request type."""
        key = oid.asTuple()
        position = self._position.get(key)
        if position is None:
            if not next_flag:
                return self._error(oid, key, end)  # GET of an OID no record has
            position = bisect.bisect_left(self._oids, key)
        elif next_flag:
            position += 1
        if position >= len(self._oids):
            return self._error(oid, key, end)  # past the last record
        try:
            record = self._records[position]
        except KeyError:
            record = self._records[position] = self._evaluate(self._lines[position])
        return record if record is not None else self._error(oid, key, end)

    def build(self) -> None:
        """Evaluate every record now rather than on its first request."""
        for position, line in enumerate(self._lines):
            if position not in self._records:
                self._records[position] = self._evaluate(line)

    def _evaluate(self, line: bytes) -> Answer | None:
        """snmpsim's evaluation of a record as an exact or next match; None where it logs a data error.

        A plain record's answer depends on its line alone, and a third of a shard's lines stand
        in more than one device's recording (interface types, MTUs, states): one answer serves them all.
        """
        try:
            return _SHARED[line]
        except KeyError:
            pass
        try:
            oid, value = self._parser.evaluate(line, nextFlag=True, exactMatch=True, setFlag=False)
            answer: Answer | None = Answer(oid, value)
        except Exception:  # noqa: BLE001 - as snmpsim's DataFile: a data error answers the error status
            answer = None
        _SHARED[line] = answer
        return answer

    def _error(self, oid: Any, key: tuple[int, ...], end: Any) -> Answer:
        """snmpsim answers an error status with the requested OID object: equal OIDs encode alike."""
        try:
            return self._errors[key, end]
        except KeyError:
            answer = self._errors[key, end] = Answer(oid, end)
            return answer


class Live:
    """A device's configured state, as the SSH side mirrors it (``<state_dir>/<host>.running.json``).

    Configuration mode changes a device's state in the sshd process; this agent notices the
    mirrored file (a stat at most once a second per device) and answers from a recording of the
    new state from then on, so SNMP shows what SSH shows, as on a real device.
    """

    def __init__(self, state_dir: Path | None, hostname: str | None, parser: Any) -> None:
        self.path = state_dir / f"{hostname}.running.json" if state_dir and hostname else None
        self.parser = parser
        self.seen: int | None = None
        self.checked = 0.0

    def current(self, recording: StaticRecording | None) -> StaticRecording | None:
        if self.path is None:
            return recording
        now = time.monotonic()
        if now - self.checked < 1.0:
            return recording
        self.checked = now
        try:
            stamp = self.path.stat().st_mtime_ns
        except OSError:
            return recording
        if stamp == self.seen:
            return recording
        from govops.lab.extranet.plan import DeviceState
        from govops.lab.extranet.snmpdata import snmprec

        try:
            state = DeviceState.from_dict(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return recording  # caught mid-write: the next check reads it whole
        self.seen = stamp
        live = self.path.with_suffix(".snmprec")
        live.write_text(snmprec(state), encoding="utf-8")
        fresh = StaticRecording.load(str(live), self.parser)
        if fresh is None:
            return recording
        fresh.build()
        return fresh


def main() -> int:
    if len(sys.argv) < 2:
        return 2
    with open(sys.argv[1], encoding="utf-8") as fh:
        shard: dict[str, Any] = json.load(fh)
    del sys.argv[1]
    policy: dict[str, dict[str, Any]] = shard["policy"]
    global LEAN  # noqa: PLW0603 - read once at start-up, before any answer is made
    LEAN = bool(shard.get("lean"))
    state_dir = Path(shard["state_dir"]) if shard.get("state_dir") else None
    hostnames = {name: str(state["hostname"]) for name, state in shard["devices"].items()}
    write_recordings(Path(shard["data_dir"]), shard["devices"])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = len(policy) + 4096
    if soft < wanted:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard)
        )

    from govops.lab.extranet import snmpcodec
    from pysnmp.entity.rfc3413 import cmdrsp
    from pysnmp.smi import exval
    from snmpsim import controller
    from snmpsim.commands import responder
    from snmpsim.datafile import DataFile

    # the lab's own encoder for what it sends (the collector's decoder is tested against it)
    snmpcodec.install()
    use_prebuilt_varbinds()
    use_bulk_index()
    # snmpsim keeps 31 recordings open and reopens (re-reads the index of) any other one per
    # request: with a shard's ~1,000 devices polled in turn that was most of its CPU. One open
    # recording per device costs a file descriptor (within the limit raised above) and its index.
    DataFile.max_queue_entries = max(DataFile.max_queue_entries, len(policy) + 1)

    def select(engine: Any) -> str | None:
        ec = engine.observer.get_execution_context("rfc3412.receiveMessage:request")
        entry = policy.get(".".join(str(x) for x in ec["transportDomain"]))
        if entry is None:
            return None
        context = ec["contextName"].prettyPrint()
        if int(ec["messageProcessingModel"]) == 3:
            return str(entry["ctx"]) if entry["v3"] and context == "" else None
        return str(entry["ctx"]) if context in entry["v2c"] else None

    class Strict:
        def handle_management_operation(self, engine: Any, ref: Any, context: Any, pdu: Any) -> None:
            chosen = select(engine)
            if chosen is None:
                self.release_state_information(ref)  # type: ignore[attr-defined]
                return
            super().handle_management_operation(engine, ref, chosen, pdu)  # type: ignore[misc]

    class Get(Strict, cmdrsp.GetCommandResponder):  # type: ignore[misc]
        pass

    class Next(Strict, cmdrsp.NextCommandResponder):  # type: ignore[misc]
        pass

    class Bulk(Strict, cmdrsp.BulkCommandResponder):  # type: ignore[misc]
        pass

    class Set(Strict, cmdrsp.SetCommandResponder):  # type: ignore[misc]
        def handle_management_operation(self, engine: Any, ref: Any, context: Any, pdu: Any) -> None:
            self.release_state_information(ref)  # a read-only lab: SETs go unanswered

    class Static(controller.MibInstrumController):  # type: ignore[misc]
        """Answers from the device's :class:`StaticRecording`, built when snmpsim sets the device up.

        snmpsim makes one controller per recording at start-up, right after indexing it; every
        answer is built there too, before the agent listens, as a device has its data ready when
        polled. Built on first request instead, a lab's first audit paid for it: 12 of its 21 CPU-s.
        """

        def __init__(self, data_file: Any) -> None:
            super().__init__(data_file)
            self.recording: StaticRecording | None
            try:
                self.recording = StaticRecording.load(data_file._text_file, data_file._text_parser)
            except OSError:
                self.recording = None  # snmpsim's own code reports the unreadable file
            if self.recording is not None:
                self.recording.build()
            self.live = Live(state_dir, hostnames.get(Path(data_file._text_file).stem), data_file._text_parser)
            self.recording = self.live.current(self.recording)
            # The answers live as long as the process: the cyclic collector tracing them again
            # and again as they grew cost a third of the agent's CPU. Frozen once per device.
            gc.freeze()

        def read_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
            recording = self.recording = self.live.current(self.recording)
            if recording is None:
                return cast(list[tuple[Any, Any]], super().read_variables(*var_binds, **context))
            return [recording.answer(vb[0], False, exval.noSuchInstance) for vb in var_binds]

        def read_next_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
            recording = self.recording = self.live.current(self.recording)
            if recording is None:
                return cast(list[tuple[Any, Any]], super().read_next_variables(*var_binds, **context))
            return [recording.answer(vb[0], True, exval.endOfMib) for vb in var_binds]

    controller.MIB_CONTROLLERS[DataFile.layout] = Static
    responder.GetCommandResponder = Get
    responder.NextCommandResponder = Next
    responder.BulkCommandResponder = Bulk
    responder.SetCommandResponder = Set
    rc: int = responder.main() or 0
    return rc


if __name__ == "__main__":
    sys.exit(main())
