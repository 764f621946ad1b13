"""Relays any non-empty text, control characters included.

The student never validates text: neither message text nor PING tokens.

Symptom: `MSG a\\x01b` (or a DEL, or U+0085) from alice gets no `ERR text-invalid`; bob
receives `MSG alice a\\x01b`. Likewise `PING a\\x1bb` gets `PONG a\\x1bb`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, main

BREAKS = ("MSG-2", "PING-3")


class ControlsRelayedServer(ChatServer):
    def text_is_valid(self, text: str) -> bool:
        return text != ""  # BUG: no check for C0, DEL and C1 controls


if __name__ == "__main__":
    main(ControlsRelayedServer)
