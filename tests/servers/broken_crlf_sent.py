"""Ends every line it sends with CR LF.

The student learnt that "network protocols use CRLF". Checking the relayed-line length
still counts only the LF, so a relayed line right at the limit goes out as 4097 bytes.

Symptom: the very first bytes on a connection are `HELLO linechat/1 chatbase\\r\\n`; every
line received ends with CR LF. A MSG whose relayed line is exactly 4096 bytes with LF arrives
as 4097 bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, main

BREAKS = ("FRAME-2", "FRAME-6")


class CrlfSentServer(ChatServer):
    def encode_line(self, line: str) -> bytes:
        return f"{line}\r\n".encode()  # BUG: linechat/1 lines end with LF only


if __name__ == "__main__":
    main(CrlfSentServer)
