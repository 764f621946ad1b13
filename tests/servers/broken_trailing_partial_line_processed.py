"""Handles the bytes after the last LF as a line when the connection ends.

The student "flushes" the input buffer at EOF so that nothing gets lost.

Symptom: alice sends `MSG tail` without LF and closes; bob receives `MSG alice tail` before
`LEAVE alice disconnect`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if (
    TYPE_CHECKING
):  # mypy sees this file as the module tests.servers.broken_trailing_partial_line_processed
    from tests.servers._chatbase import ChatServer, Connection, Lines, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, Lines, main

BREAKS = ("FRAME-8",)


class TrailingPartialLineProcessedServer(ChatServer):
    def read_chunks(self, conn: Connection) -> Iterator[Lines]:
        yield from super().read_chunks(conn)
        if conn.inbuf:
            yield [bytes(conn.inbuf)]  # BUG: an unterminated tail is not a line


if __name__ == "__main__":
    main(TrailingPartialLineProcessedServer)
