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
"""

from __future__ import annotations

import json
import resource
import sys
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


def main() -> int:
    if len(sys.argv) < 2:
        return 2
    with open(sys.argv[1], encoding="utf-8") as fh:
        shard: dict[str, Any] = json.load(fh)
    del sys.argv[1]
    policy: dict[str, dict[str, Any]] = shard["policy"]
    write_recordings(Path(shard["data_dir"]), shard["devices"])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = len(policy) + 4096
    if soft < wanted:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard)
        )

    from pysnmp.entity.rfc3413 import cmdrsp
    from snmpsim.commands import responder
    from snmpsim.datafile import DataFile

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

    responder.GetCommandResponder = Get
    responder.NextCommandResponder = Next
    responder.BulkCommandResponder = Bulk
    responder.SetCommandResponder = Set
    rc: int = responder.main() or 0
    return rc


if __name__ == "__main__":
    sys.exit(main())
