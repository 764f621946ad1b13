"""Writes to every client with a blocking sendall, in the sender's thread, under the lock.

The student's broadcast loop calls `sock.sendall` for each receiver while holding the one
global lock. Once a client that does not read has filled its socket buffers, sendall blocks,
and with it the lock: nobody gets anything until that client reads or goes away.

Symptom: carol stops reading; alice sends messages of 4000 bytes until several MB have gone
out; from then on bob's `PING x` gets no `PONG x` (and alice's messages no longer reach bob)
for as long as carol does not read.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("LOAD-3",)


class SlowReaderStallsAllServer(ChatServer):
    def send_to(self, conn: Connection, line: str) -> None:
        with self.lock:  # BUG: a blocking send while holding the lock everyone needs
            if conn.closing:
                return
            with contextlib.suppress(OSError):  # the reader notices a dead connection
                conn.sock.sendall(self.encode_line(line))


if __name__ == "__main__":
    main(SlowReaderStallsAllServer)
