"""Counts a registered asker twice in END WHO.

The student starts the count at 1 "for the asker" and then counts every registered client,
the asker included.

Symptom: with alice and bob registered, alice's `WHO` gets `USER alice`, `USER bob`,
`END WHO 3` (two USER lines, count 3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("WHO-1",)


class WhoCountWrongServer(ChatServer):
    def who_lines(self, asker: Connection) -> list[str]:
        users = [f"USER {conn.name}" for conn in self.registered.values()]
        count = len(users) + (1 if asker.name is not None else 0)  # BUG: asker counted twice
        return [*users, f"END WHO {count}"]


if __name__ == "__main__":
    main(WhoCountWrongServer)
