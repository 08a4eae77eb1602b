"""The lab cloud picks a block of ports its services and RabbitMQ can all bind."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from govops.lab.cloud import layout


def _listener(host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen()
    return sock


def _free_block(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, taken: set[tuple[str, int]]) -> layout.Ports:
    monkeypatch.setattr(layout, "tcp_open", lambda host, port, timeout=0.5: (host, port) in taken)
    return layout.Layout(tmp_path).ports()


def test_the_cloud_takes_the_first_block_free_on_127_0_0_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first = layout.Ports()
    assert _free_block(monkeypatch, tmp_path / "a", set()) == first
    # Another lab's Keystone on 127.0.0.1: the next block. The same port on ::1 does not matter (every
    # service binds 127.0.0.1), so a random extranet range on ::1 never leaves the cloud without a block.
    assert _free_block(monkeypatch, tmp_path / "b", {("127.0.0.1", first.keystone)}) == first.shifted(100)
    assert _free_block(monkeypatch, tmp_path / "c", {("::1", first.keystone), ("::1", first.nova)}) == first


def test_rabbitmqs_distribution_port_must_be_free_on_ipv6_loopback_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # RabbitMQ checks it on "localhost" (::1 as well) and refuses to start: dist_port_already_used.
    first = layout.Ports()
    assert _free_block(monkeypatch, tmp_path, {("::1", first.rabbitmq_dist)}) == first.shifted(100)


def test_epmds_port_must_be_free_on_ipv6_loopback_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # epmd binds the loopback addresses besides its -address, and exits silently when ::1's is taken.
    first = layout.Ports()
    assert _free_block(monkeypatch, tmp_path, {("::1", first.epmd)}) == first.shifted(100)


def test_a_real_listener_on_ipv6_loopback_is_seen() -> None:
    try:
        sock = _listener("::1")
    except OSError:
        pytest.skip("no ::1 on this machine")
    with sock:
        assert layout._listening_on_ipv6_loopback(sock.getsockname()[1])
