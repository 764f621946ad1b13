"""Does not strip the CR of a CRLF line ending.

The student's client sends LF, so CRLF never came up; the CR stays part of the line.

Symptom: `NAME alice\\r\\n` gets `ERR name-invalid` instead of `WELCOME alice`;
`PING tok\\r\\n` and `MSG hi\\r\\n` get `ERR text-invalid` (the CR is a control character in
the token or text) instead of `PONG tok` and a relay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, main

BREAKS = ("FRAME-3",)


class CrNotStrippedServer(ChatServer):
    def strip_cr(self, line: bytes) -> bytes:
        return line  # BUG: the CR before the LF belongs to the line ending


if __name__ == "__main__":
    main(CrNotStrippedServer)
