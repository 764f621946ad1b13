"""Name prompt, bug: every recv(1024) is taken for one whole message, and decoded at once.

The student reads ``conn.recv(1024).decode()`` and relays it as one message. It works for
everything typed by hand. A 5000-byte message arrives as five reads, and the others get
five messages, each with the name in front; a Cyrillic one is cut inside a letter at byte
1024, ``decode()`` raises UnicodeDecodeError, and the client's thread dies (its traceback on
stderr) while the client stays connected, silently ignored.

Must fail: dialect.long-message (split: "alice: " inserted 4 times; the Cyrillic one lost,
with a UnicodeDecodeError traceback). Everything else passes.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers.dialect
    from tests.servers.dialect.prompt_fixed import ChatServer, Decoder, main
else:  # run as a script, whose directory is on sys.path
    from prompt_fixed import ChatServer, Decoder, main


class RecvChunksServer(ChatServer):
    def read_message(self, conn: socket.socket, decoder: Decoder) -> str | None:
        data = conn.recv(1024)  # BUG: one recv is not one message, and may end inside a letter
        if not data:
            return None
        return data.decode()


if __name__ == "__main__":
    main(RecvChunksServer)
