from __future__ import annotations

import os
import sys
from pathlib import Path

from govops.lab.processes import Peer, ProcessManager, still_listening, tcp_open, wait_tcp

SERVER = "import socket,time\ns=socket.socket(); s.bind(('127.0.0.1', int(__import__('sys').argv[1]))); s.listen()\ntime.sleep(600)"


def test_start_is_idempotent_and_stop_kills_the_group(tmp_path: Path) -> None:
    from govops.lab.processes import free_port

    pm = ProcessManager(tmp_path)
    port = free_port()
    peer = pm.start("srv", [sys.executable, "-c", SERVER, str(port)], ports=[f"tcp:127.0.0.1:{port}"])
    wait_tcp("127.0.0.1", port, 10, peer)
    again = pm.start("srv", [sys.executable, "-c", SERVER, str(port)])
    assert again.pid == peer.pid  # no twin
    assert pm.running("srv") and [p.name for p in pm.peers()] == ["srv"]
    assert pm.stop("srv") is True
    assert not tcp_open("127.0.0.1", port)
    assert not Path(f"/proc/{peer.pid}").exists() or not peer.alive()
    assert pm.peers() == []


def test_a_reused_pid_is_never_signalled(tmp_path: Path) -> None:
    pm = ProcessManager(tmp_path)
    pm.adopt("mine", os.getpid(), ["me"], tmp_path / "x.log")
    rec = pm._record("mine")
    rec.write_text(rec.read_text().replace(pm.get("mine").started, "1"))  # type: ignore[union-attr]
    assert pm.running("mine") is False
    assert pm.stop("mine") is False  # this test process is still alive: it was not signalled
    assert Path(f"/proc/{os.getpid()}").exists()


def test_failed_start_is_a_lab_error(tmp_path: Path) -> None:
    import pytest
    from govops.lab.processes import LabError

    with pytest.raises(LabError, match="cannot start"):
        ProcessManager(tmp_path).start("x", ["/nonexistent/binary"])


def test_stop_together_stops_each_named_peer_and_only_those(tmp_path: Path) -> None:
    from govops.lab.processes import free_port

    pm = ProcessManager(tmp_path)
    ports = {name: free_port() for name in ("a", "b", "keep")}
    peers = {
        name: pm.start(name, [sys.executable, "-c", SERVER, str(port)], ports=[f"tcp:127.0.0.1:{port}"])
        for name, port in ports.items()
    }
    for name, port in ports.items():
        wait_tcp("127.0.0.1", port, 10, peers[name])
    assert sorted(pm.stop_together(["a", "b", "never-started"])) == ["a", "b"]
    assert not tcp_open("127.0.0.1", ports["a"]) and not tcp_open("127.0.0.1", ports["b"])
    assert [p.name for p in pm.peers()] == ["keep"] and pm.running("keep")
    assert pm.stop_together([]) == []
    pm.stop("keep")


def test_still_listening_names_only_open_tcp_ports(tmp_path: Path) -> None:
    import socket

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        open_port = srv.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]  # bound, never listening
            peer = Peer(
                "p", 1, "0", ["true"], str(tmp_path / "p.log"),
                ports=[f"tcp:127.0.0.1:{open_port}", f"tcp:127.0.0.1:{closed_port}", f"udp:127.0.0.1:{open_port}"],
            )  # fmt: skip
            assert still_listening([peer]) == [f"p tcp:127.0.0.1:{open_port}"]
