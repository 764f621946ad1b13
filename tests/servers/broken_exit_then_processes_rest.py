"""Handles every line of a received chunk before honouring an EXIT among them.

The student handles all lines of each recv() in a loop and only looks afterwards whether one
of them was EXIT.

Symptom: alice sends `EXIT\\nMSG after\\n` in one segment; she gets `BYE`, but bob receives
`MSG alice after` (before `LEAVE alice exit`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, Lines, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, Lines, main

BREAKS = ("EXIT-3",)


class ExitThenProcessesRestServer(ChatServer):
    def process_chunk(self, conn: Connection, lines: Lines) -> bool:
        results = [self.handle_raw(conn, raw) for raw in lines]  # BUG: no stop at EXIT
        return all(results)


if __name__ == "__main__":
    main(ExitThenProcessesRestServer)
