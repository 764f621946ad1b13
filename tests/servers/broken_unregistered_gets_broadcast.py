"""Broadcasts to every connection, registered or not.

The student keeps one list of sockets and broadcasts to all of them.

Symptom: a connection that never sent NAME receives `JOIN alice`, `MSG alice hi` and
`LEAVE alice exit` when alice joins, talks and leaves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if (
    TYPE_CHECKING
):  # mypy sees this file as the module tests.servers.broken_unregistered_gets_broadcast
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("ORDER-6",)


class UnregisteredGetsBroadcastServer(ChatServer):
    def recipients(self) -> list[Connection]:
        return list(self.connections)  # BUG: should be the registered clients only


if __name__ == "__main__":
    main(UnregisteredGetsBroadcastServer)
