"""Compares names case-sensitively.

The student uses the name itself as the registry key instead of its case folding.

Symptom: alice is registered; `NAME ALICE` (or `NAME Alice`) from another connection gets
`WELCOME ALICE` instead of `ERR name-taken`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, main

BREAKS = ("NAME-3",)


class NamesCaseSensitiveServer(ChatServer):
    def name_key(self, name: str) -> str:
        return name  # BUG: should be name.casefold()


if __name__ == "__main__":
    main(NamesCaseSensitiveServer)
