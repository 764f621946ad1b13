"""Relays every message to its sender too.

The student broadcasts a message "to everyone" and forgets that the sender already knows
what it said.

Symptom: after `MSG hi` from alice, alice herself receives `MSG alice hi`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("MSG-4",)


class EchoToSenderServer(ChatServer):
    def relay(self, sender: Connection, text: str) -> None:
        self.broadcast(f"MSG {sender.name} {text}")  # BUG: no exclude=sender


if __name__ == "__main__":
    main(EchoToSenderServer)
