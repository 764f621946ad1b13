"""Wedges the whole server when a client resets its connection.

The student's departure handler takes the lock with a bare acquire() and logs the client's
address before releasing it. getpeername() raises OSError (ENOTCONN) on a socket the peer has
reset, the exception escapes, and the lock is never released: every other thread waits on it
forever. A client that closes normally (FIN) is handled fine.

Symptom: alice, bob and carol are registered; carol resets her connection (SO_LINGER 0, or
closes with unread input); alice and bob still get `LEAVE carol disconnect`, then nothing:
alice's `PING x` gets no `PONG x`, and a new connection gets no HELLO.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("LEAVE-5",)


class CrashOnResetServer(ChatServer):
    def on_disconnect(self, conn: Connection, reason: str) -> None:
        self.lock.acquire()  # BUG: no try/finally around the critical section
        super().on_disconnect(conn, reason)
        peer = conn.sock.getpeername()  # raises OSError once the peer has reset
        print(f"{peer} left", file=sys.stderr)
        self.lock.release()


if __name__ == "__main__":
    main(CrashOnResetServer)
