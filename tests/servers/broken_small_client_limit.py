"""Serves at most 10 connections, whatever --max-clients says.

The student hard-coded a small limit while testing and forgot it.

Symptom: the 11th concurrent connection gets `ERR server-full` instead of HELLO.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, main

BREAKS = ("LOAD-1",)
HARD_LIMIT = 10


class SmallClientLimitServer(ChatServer):
    def is_full(self) -> bool:
        return len(self.connections) >= HARD_LIMIT or super().is_full()  # BUG: far below 100


if __name__ == "__main__":
    main(SmallClientLimitServer)
