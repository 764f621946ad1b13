"""Frames each recv() on its own: a line split across TCP segments falls apart.

The student splits every recv() result on LF and throws the piece after the last LF away,
believing a recv always ends at a line end. Several lines in one segment work; a line that
arrives in several segments does not. An over-long line arrives in several recv calls too, so
it is never recognised as one (no `ERR line-too-long`).

Symptom: `PI` and then `NG x\\n` sent as two segments (a short pause between them) get
`ERR unknown-command` (for `NG x`) and no `PONG x`. A 5000-byte line gets `ERR
unknown-command` for its tail instead of `ERR line-too-long`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, Lines, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, Lines, main

BREAKS = ("FRAME-4", "FRAME-5")


class RecvBoundaryFramingServer(ChatServer):
    def read_chunks(self, conn: Connection) -> Iterator[Lines]:
        while data := conn.sock.recv(4096):
            # BUG: the piece after the last LF should be kept for the next recv
            yield [self.strip_cr(line) for line in data.split(b"\n")[:-1]]


if __name__ == "__main__":
    main(RecvBoundaryFramingServer)
