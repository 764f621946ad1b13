"""Recognises command words only in upper case.

The student compares the command word with "MSG", "NAME", ... as it is, without folding its
case.

Symptom: `ping x` (or `Msg hi`) gets `ERR unknown-command` instead of `PONG x`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, main

BREAKS = ("FRAME-10",)


class CaseSensitiveCommandsServer(ChatServer):
    def command_key(self, word: str) -> str:
        return word  # BUG: command words are case-insensitive


if __name__ == "__main__":
    main(CaseSensitiveCommandsServer)
