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
from typing import Any


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
