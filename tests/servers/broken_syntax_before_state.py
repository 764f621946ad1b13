"""Checks a MSG's argument before the connection's state.

The student validates the syntax first, then whether the client may send at all.

Symptom: on an unregistered connection, a bare `MSG` gets `ERR syntax` instead of
`ERR not-registered`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("CMD-3",)


class SyntaxBeforeStateServer(ChatServer):
    def cmd_msg(self, conn: Connection, text: str) -> None:
        if not text:
            self.error(conn, "syntax")  # BUG: not-registered must win
            return
        super().cmd_msg(conn, text)


if __name__ == "__main__":
    main(SyntaxBeforeStateServer)
