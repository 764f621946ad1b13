"""Registers names in lower case.

The student stores and announces the normalised name it uses for the uniqueness check.

Symptom: `NAME Alice` gets `WELCOME alice`; `NAME Алиса` gets `WELCOME алиса`; the others
see `JOIN alice` and `MSG alice ...`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("NAME-1", "NAME-5")


class NameLowercasedServer(ChatServer):
    def cmd_name(self, conn: Connection, name: str) -> None:
        super().cmd_name(conn, name.lower())  # BUG: the name must be kept exactly as sent


if __name__ == "__main__":
    main(NameLowercasedServer)
