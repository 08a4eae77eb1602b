"""The IPv6 side of a lab host: its county's devices' ``[::1]`` ports, relayed into its namespace.

The lab's devices share the machine's IPv6 loopback ``::1`` (told apart by port), and IPv6 never
routes ``::1`` off ``lo``, so a worker in a network namespace (``lab up --hosts``) could reach
none of them, while the audit polls SNMP over IPv6 first. This relay, one per host, listens on
the namespace's own ``[::1]`` on exactly the ports of its county's devices (SSH over TCP, SNMP
over UDP) and forwards to the machine's ``[::1]`` on the same port. No other port is relayed, so
the host still reaches no other county's device.

Run as ``python -m govops.lab.extranet.nsrelay CONFIG.json`` in the machine's namespace;
CONFIG holds ``namespace`` (its name under /run/netns), ``tcp`` and ``udp`` (port lists). The
listening sockets are made inside the namespace (``setns``), the forwarding ones outside.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import socket
import sys
from typing import Any

CLONE_NEWNET = 0x40000000
UDP_IDLE_S = 120.0


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def listeners(namespace: str, tcp: list[int], udp: list[int]) -> tuple[list[socket.socket], list[socket.socket]]:
    """Sockets bound to ``[::1]`` inside ``namespace``; this thread is back in its own namespace after."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            t_socks, u_socks = [], []
            for port in tcp:
                s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("::1", port))
                s.listen(64)
                s.setblocking(False)
                t_socks.append(s)
            for port in udp:
                s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                s.bind(("::1", port))
                s.setblocking(False)
                u_socks.append(s)
        finally:
            _setns(home)
    finally:
        os.close(home)
        os.close(target)
    return t_socks, u_socks


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def _serve_tcp(sock: socket.socket) -> None:
    port = sock.getsockname()[1]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("::1", port)
        except OSError:
            writer.close()  # the device has no listener (an unreachable one): refused, as it would be
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, sock=sock)
    await server.serve_forever()


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, down: asyncio.DatagramTransport, client: Any) -> None:
        self.down, self.client = down, client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.down.sendto(data, self.client)


class _Down(asyncio.DatagramProtocol):
    """One upstream socket per client address, so each reply finds its way back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.transport: asyncio.DatagramTransport | None = None
        self.clients: dict[Any, asyncio.DatagramTransport] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        up = self.clients.get(addr)
        if up is not None:
            up.sendto(data)
            return
        asyncio.get_running_loop().create_task(self._open(data, addr))

    async def _open(self, data: bytes, addr: Any) -> None:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Upstream(self.transport, addr),  # type: ignore[arg-type]
            remote_addr=("::1", self.port),
        )
        self.clients[addr] = transport
        transport.sendto(data)
        loop.call_later(UDP_IDLE_S, self._close, addr)

    def _close(self, addr: Any) -> None:
        up = self.clients.pop(addr, None)
        if up is not None:
            up.close()


async def serve(tcp: list[socket.socket], udp: list[socket.socket]) -> None:
    loop = asyncio.get_running_loop()
    tasks = [asyncio.ensure_future(_serve_tcp(s)) for s in tcp]
    for s in udp:
        port = s.getsockname()[1]
        await loop.create_datagram_endpoint(lambda port=port: _Down(port), sock=s)  # type: ignore[misc]
    sys.stdout.write(f"relaying {len(tcp)} TCP and {len(udp)} UDP ports on [::1]\n")
    sys.stdout.flush()
    await asyncio.gather(*tasks) if tasks else await asyncio.Event().wait()


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as fh:
        conf = json.load(fh)
    tcp, udp = listeners(conf["namespace"], list(conf["tcp"]), list(conf["udp"]))
    asyncio.run(serve(tcp, udp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
