"""Echoes any PING token, control characters included.

The student validates message text but thinks a PING token is none of its business.

Symptom: `PING a\\x1b[31mb` gets `PONG a\\x1b[31mb` (an escape sequence sent back to the
client's terminal) instead of `ERR text-invalid`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("PING-3",)


class PingEchoesControlsServer(ChatServer):
    def cmd_ping(self, conn: Connection, token: str) -> None:
        self.send_to(conn, f"PONG {token}" if token else "PONG")  # BUG: token not validated


if __name__ == "__main__":
    main(PingEchoesControlsServer)
