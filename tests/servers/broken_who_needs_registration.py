"""Refuses WHO before registration.

The student guards WHO with a registration check, like MSG.

Symptom: `WHO` on a fresh, unregistered connection gets `ERR not-registered` instead of the
USER lines and `END WHO <count>`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("WHO-2",)


class WhoNeedsRegistrationServer(ChatServer):
    def cmd_who(self, conn: Connection, argument: str) -> None:
        if conn.name is None:
            self.error(conn, "not-registered")  # BUG: WHO is allowed before NAME
            return
        super().cmd_who(conn, argument)


if __name__ == "__main__":
    main(WhoNeedsRegistrationServer)
