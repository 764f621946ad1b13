"""Announces a kicked slow reader as an ordinary disconnect.

The student kicks clients that do not read but reuses the disconnect path unchanged.

Symptom: started with `--max-output 65536`, carol stops reading and alice sends messages of
4000 bytes until the server drops carol; the others receive `LEAVE carol disconnect` instead
of `LEAVE carol kicked`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("LEAVE-4", "LOAD-4")


class KickReasonDisconnectServer(ChatServer):
    def departure_reason(self, conn: Connection) -> str:
        return "exit" if conn.exited else "disconnect"  # BUG: forgets "kicked"


if __name__ == "__main__":
    main(KickReasonDisconnectServer)
