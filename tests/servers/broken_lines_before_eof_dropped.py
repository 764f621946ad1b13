"""Throws away the last messages of a client that hangs up right after sending them.

The student does not want to relay "messages from ghosts": after receiving a chunk with a
MSG in it, the reader waits a moment to see whether the client is still there, and when the
connection has already ended (EOF or reset) it drops the chunk instead of handling it.

Symptom: alice sends `MSG bye\\n` and closes at once; bob receives `LEAVE alice disconnect`
without the `MSG alice bye` that should come before it. (A client that stays connected sees
its messages relayed, up to 0.2 s late.)
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, Lines, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, Lines, main

BREAKS = ("ORDER-7",)
GHOST_CHECK_SECONDS = 0.2


def has_message(lines: Lines) -> bool:
    return any(line is not None and line[:4].upper() == b"MSG " for line in lines)


def has_hung_up(sock: socket.socket) -> bool:
    """True when the peer has closed or reset within GHOST_CHECK_SECONDS."""
    readable, _, _ = select.select([sock], [], [], GHOST_CHECK_SECONDS)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class LinesBeforeEofDroppedServer(ChatServer):
    def read_chunks(self, conn: Connection) -> Iterator[Lines]:
        for lines in super().read_chunks(conn):
            if has_message(lines) and has_hung_up(conn.sock):
                return  # BUG: lines received before the EOF must still be handled
            yield lines


if __name__ == "__main__":
    main(LinesBeforeEofDroppedServer)
