"""Handles Ctrl-C but not SIGTERM.

The student only ever stopped the server with Ctrl-C (SIGINT), which says BYE to everyone.
SIGTERM keeps Python's default action: the process is killed on the spot.

Symptom: after SIGTERM, connected clients get EOF (or a reset) with no `BYE`, and the exit
status is -15 (killed by SIGTERM) instead of 0. SIGINT still works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, main

BREAKS = ("LIFE-1",)


class SigtermNoByeServer(ChatServer):
    def handle_signals(self) -> None:
        pass  # BUG: SIGTERM must stop the server as cleanly as SIGINT


if __name__ == "__main__":
    main(SigtermNoByeServer)
