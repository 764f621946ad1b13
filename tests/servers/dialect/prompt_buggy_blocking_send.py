"""Name prompt, bug: a broadcast sends to every client itself, from the sender's thread.

The student's broadcast calls ``conn.sendall()`` for each receiver, in the thread of the
client who spoke, while holding the lock. Once a client that stops reading has its socket
buffers full, sendall() blocks forever: the sender's thread hangs with the lock held, and
every other thread waits for that lock. The whole room freezes.

Must fail: dialect.non-reader (nothing arrives for the timeout). Everything else passes.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers.dialect
    from tests.servers.dialect.prompt_fixed import ChatServer, Client, main
else:  # run as a script, whose directory is on sys.path
    from prompt_fixed import ChatServer, Client, main


class BlockingSendServer(ChatServer):
    def broadcast(self, text: str, exclude: Client | None = None) -> None:
        data = (text + "\n").encode()
        with self.lock:
            for client in list(self.clients):
                if client is exclude:
                    continue
                with contextlib.suppress(OSError):  # it left: its own thread removes it
                    client.conn.sendall(data)  # BUG: blocks while a receiver does not read


if __name__ == "__main__":
    main(BlockingSendServer)
