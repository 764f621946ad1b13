"""Announces a newcomer to the newcomer as well.

The student broadcasts JOIN to every registered client, and the newcomer is already one.

Symptom: `NAME alice` gets `WELCOME alice` followed by `JOIN alice` on alice's own connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("ORDER-8",)


class JoinToSelfTooServer(ChatServer):
    def announce_join(self, newcomer: Connection) -> None:
        self.broadcast(f"JOIN {newcomer.name}")  # BUG: no exclude=newcomer


if __name__ == "__main__":
    main(JoinToSelfTooServer)
