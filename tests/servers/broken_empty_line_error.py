"""Answers an empty line with an error.

The student treats an empty line as a command with an empty command word.

Symptom: a bare `\\n` (or `\\r\\n`) gets `ERR syntax` instead of no reply: after `\\n` then
`PING x`, the client receives `ERR syntax` before `PONG x`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("FRAME-7",)


class EmptyLineErrorServer(ChatServer):
    def handle_line(self, conn: Connection, line: str) -> None:
        if line == "":
            self.error(conn, "syntax")  # BUG: an empty line must be ignored
            return
        super().handle_line(conn, line)


if __name__ == "__main__":
    main(EmptyLineErrorServer)
