"""Measures the name length in UTF-8 bytes instead of characters.

The student checks `len(name.encode())`, which is the same thing for ASCII names only.

Symptom: a 17-letter Cyrillic name (34 bytes), `NAME ` followed by 17 `я`, gets
`ERR name-invalid` instead of `WELCOME яяя...`; 16 letters (32 bytes) still pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import NAME_MAX, ChatServer, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import NAME_MAX, ChatServer, main

BREAKS = ("NAME-2",)


class NameLengthInBytesServer(ChatServer):
    def name_is_valid(self, name: str) -> bool:
        fits = len(name.encode()) <= NAME_MAX  # BUG: the limit is 32 code points
        return fits and super().name_is_valid(name)


if __name__ == "__main__":
    main(NameLengthInBytesServer)
