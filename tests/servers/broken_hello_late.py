"""Sends HELLO only once the client has said something.

The student's connection handler starts with a recv() and greets in reply to the first data.

Symptom: a new connection receives nothing (no HELLO within seconds); after it sends
`PING x` it receives `HELLO linechat/1 chatbase` followed by `PONG x`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, Lines, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, Lines, main

BREAKS = ("GREET-1",)


class HelloLateServer(ChatServer):
    def greet(self, conn: Connection) -> None:
        pass  # BUG: HELLO must go out at once, without waiting for input

    def read_chunks(self, conn: Connection) -> Iterator[Lines]:
        chunks = super().read_chunks(conn)
        first = next(chunks, None)
        if first is None:
            return
        super().greet(conn)
        yield first
        yield from chunks


if __name__ == "__main__":
    main(HelloLateServer)
