"""Never frees a name: once used, it stays taken for the life of the server.

The student keeps a set of "names ever seen" for the uniqueness check and never removes
from it; the departure itself is announced correctly.

Symptom: alice sends EXIT (or disconnects); bob receives `LEAVE alice exit`; a new connection's
`NAME alice` then gets `ERR name-taken` instead of `WELCOME alice`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("LEAVE-2",)


class NameNeverFreedServer(ChatServer):
    def __init__(self, host: str, port: int, max_clients: int | None, max_output: int) -> None:
        super().__init__(host, port, max_clients, max_output)
        self.names_ever_used: set[str] = set()

    def register(self, conn: Connection, name: str) -> None:
        super().register(conn, name)
        self.names_ever_used.add(self.name_key(name))

    def name_is_taken(self, name: str) -> bool:
        return self.name_key(name) in self.names_ever_used  # BUG: departed names count too


if __name__ == "__main__":
    main(NameNeverFreedServer)
