"""Has no line length limit at all, neither on input nor on relayed lines.

The student reads lines of any length ("memory is cheap") and relays them as they are.

Symptom: `PING ` followed by 5000 `x` and LF gets a 5006-byte `PONG xxx...` instead of
`ERR line-too-long`; a 5000-byte `MSG` from alice is relayed to bob as a 5011-byte line and
alice gets no error.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, main

BREAKS = ("FRAME-5", "MSG-5", "FRAME-6")


class NoLineLimitServer(ChatServer):
    MAX_LINE = sys.maxsize  # BUG: a line is at most 4096 bytes, LF included


if __name__ == "__main__":
    main(NoLineLimitServer)
