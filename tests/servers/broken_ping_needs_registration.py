"""Refuses PING before registration.

The student guards every command but NAME with a registration check.

Symptom: `PING x` on a fresh, unregistered connection gets `ERR not-registered` instead of
`PONG x` (after NAME it works).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("PING-2",)


class PingNeedsRegistrationServer(ChatServer):
    def cmd_ping(self, conn: Connection, token: str) -> None:
        if conn.name is None:
            self.error(conn, "not-registered")  # BUG: PING is allowed in every state
            return
        super().cmd_ping(conn, token)


if __name__ == "__main__":
    main(PingNeedsRegistrationServer)
