"""Closes the connection on EXIT without saying BYE.

The student thinks closing the socket says goodbye well enough.

Symptom: `EXIT` is answered by EOF with no `BYE` line before it (the others still receive
`LEAVE <name> exit`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("EXIT-1",)


class NoByeServer(ChatServer):
    def cmd_exit(self, conn: Connection, _argument: str) -> None:
        conn.exited = True  # BUG: no BYE before the close


if __name__ == "__main__":
    main(NoByeServer)
