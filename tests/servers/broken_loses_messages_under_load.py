"""Loses messages: every 50th message of each sender is never relayed.

This stands for a server that drops messages under load (say, a bounded queue that silently
discards what does not fit), made deterministic so that a check never passes by luck.

Symptom: alice sends `MSG 1` ... `MSG 100`; bob receives 98 of them: `MSG alice 50` and
`MSG alice 100` are missing, alice gets no error.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if (
    TYPE_CHECKING
):  # mypy sees this file as the module tests.servers.broken_loses_messages_under_load
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("ORDER-2",)
DROP_EVERY = 50


class LosesMessagesUnderLoadServer(ChatServer):
    def __init__(self, host: str, port: int, max_clients: int | None, max_output: int) -> None:
        super().__init__(host, port, max_clients, max_output)
        self.sent_by: Counter[Connection] = Counter()

    def relay(self, sender: Connection, text: str) -> None:
        with self.lock:
            self.sent_by[sender] += 1
            if self.sent_by[sender] % DROP_EVERY == 0:
                return  # BUG: the message is silently lost
            super().relay(sender, text)


if __name__ == "__main__":
    main(LosesMessagesUnderLoadServer)
