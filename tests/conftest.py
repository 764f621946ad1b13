"""Fixtures shared by the reference's tests: an in-process server and raw peers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from linechat.server import ChatServer, running_server
from tests.peer import Peer


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with running_server() as srv:
        yield srv


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    """Peers appended here are closed at teardown, whatever the test did."""
    opened: list[Peer] = []
    yield opened
    for peer in opened:
        peer.close()


@pytest.fixture
def connect(server: ChatServer) -> Iterator[Callable[..., Peer]]:
    """Open raw peers to ``server``; all are closed at teardown."""
    peers: list[Peer] = []

    def open_peer(name: str | None = None, *, hello: bool = True) -> Peer:
        peer = Peer(server.host, server.port, hello=hello)
        peers.append(peer)
        if name is not None:
            peer.register(name)
        return peer

    yield open_peer
    for peer in peers:
        peer.close()


@pytest.fixture
def room(connect: Callable[..., Peer]) -> Callable[..., list[Peer]]:
    """Register several peers; each earlier one has consumed the later ones' JOIN lines."""

    def make(*names: str) -> list[Peer]:
        peers: list[Peer] = []
        for name in names:
            newcomer = connect(name)
            for old in peers:
                old.expect(f"JOIN {name}")
            peers.append(newcomer)
        return peers

    return make
