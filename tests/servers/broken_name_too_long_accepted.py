"""Accepts names longer than 32 characters.

The student validates only the first 32 characters of a name.

Symptom: `NAME ` followed by 33 (or 100) `a` gets `WELCOME aaa...` instead of
`ERR name-invalid`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import NAME_MAX, ChatServer, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import NAME_MAX, ChatServer, main

BREAKS = ("NAME-2",)


class NameTooLongAcceptedServer(ChatServer):
    def name_is_valid(self, name: str) -> bool:
        return super().name_is_valid(name[:NAME_MAX])  # BUG: the rest is never looked at


if __name__ == "__main__":
    main(NameTooLongAcceptedServer)
