"""Swaps consecutive messages of a sender.

The student "batches" messages to save system calls: a message is held until the sender's
next one, then the pair is relayed newest first. A held message is released on its own after
0.2 s, or as soon as its sender sends anything else, so single messages still arrive.

Symptom: alice sends `MSG 1` and `MSG 2` back to back; bob receives `MSG alice 2` before
`MSG alice 1`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("ORDER-3",)
HOLD_SECONDS = 0.2


class ReordersMessagesServer(ChatServer):
    def __init__(self, host: str, port: int, max_clients: int | None, max_output: int) -> None:
        super().__init__(host, port, max_clients, max_output)
        self.held: dict[Connection, str] = {}

    def relay(self, sender: Connection, text: str) -> None:
        with self.lock:
            earlier = self.held.pop(sender, None)
            if earlier is None:
                self.held[sender] = text
                timer = threading.Timer(HOLD_SECONDS, self.release, (sender,))
                timer.daemon = True
                timer.start()
            else:
                super().relay(sender, text)  # BUG: the pair goes out newest first
                super().relay(sender, earlier)

    def release(self, sender: Connection) -> None:
        with self.lock:
            if (text := self.held.pop(sender, None)) is not None:
                super().relay(sender, text)

    def handle_line(self, conn: Connection, line: str) -> None:
        if not line.upper().startswith("MSG "):
            self.release(conn)
        super().handle_line(conn, line)

    def on_disconnect(self, conn: Connection, reason: str) -> None:
        self.release(conn)
        super().on_disconnect(conn, reason)


if __name__ == "__main__":
    main(ReordersMessagesServer)
