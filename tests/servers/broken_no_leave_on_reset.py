"""Announces only polite departures: a client that just disconnects vanishes silently.

The student sends LEAVE from the EXIT handler only; a connection that ends by EOF or by a
reset is cleaned up (its name is freed) but nobody is told.

Symptom: alice and bob are registered; alice closes her socket (or resets it) without EXIT;
bob never receives `LEAVE alice disconnect` (his later `PING x` gets `PONG x` with nothing
before it, and WHO no longer lists alice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("LEAVE-1",)


class NoLeaveOnResetServer(ChatServer):
    def on_disconnect(self, conn: Connection, reason: str) -> None:
        if reason != "disconnect":
            super().on_disconnect(conn, reason)
            return
        with self.lock:  # BUG: cleans up without the LEAVE line
            if conn.name is not None:
                self.unregister(conn)
            self.connections.remove(conn)
            self.close_output(conn)


if __name__ == "__main__":
    main(NoLeaveOnResetServer)
