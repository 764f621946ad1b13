"""Strips the spaces around message text.

The student "cleans up" the text with `str.strip(" ")` before relaying it.

Symptom: `MSG   hi  there ` from alice reaches bob as `MSG alice hi  there` instead of
`MSG alice   hi  there `.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("FRAME-11", "MSG-3")


class ArgumentStrippedServer(ChatServer):
    def cmd_msg(self, conn: Connection, text: str) -> None:
        super().cmd_msg(conn, text.strip(" "))  # BUG: the text must be relayed verbatim


if __name__ == "__main__":
    main(ArgumentStrippedServer)
