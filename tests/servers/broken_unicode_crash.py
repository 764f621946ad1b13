"""Crashes the connection on a line that is not valid UTF-8.

The student decodes with `raw.decode("utf-8")` and never thought the bytes could be bad: the
UnicodeDecodeError escapes and ends the connection's thread, which closes the connection.

Symptom: `\\xff\\xfe\\n` gets no `ERR bad-encoding`: the connection is closed (EOF) instead;
when the client was registered the others receive `LEAVE <name> disconnect`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("FRAME-9",)


class UnicodeCrashServer(ChatServer):
    def decode_line(self, conn: Connection, raw: bytes) -> str | None:
        return raw.decode("utf-8")  # BUG: UnicodeDecodeError is not handled


if __name__ == "__main__":
    main(UnicodeCrashServer)
