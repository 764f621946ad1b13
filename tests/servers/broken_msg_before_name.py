"""Relays messages from unregistered connections under a placeholder name.

The student thinks a connection without a name is "anonymous" rather than not allowed to talk.

Symptom: bob is registered; an unregistered connection sends `MSG hi` and gets no
`ERR not-registered`; bob receives `MSG anonymous hi`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("MSG-1",)


class MsgBeforeNameServer(ChatServer):
    def cmd_msg(self, conn: Connection, text: str) -> None:
        if conn.name is None and text:
            self.broadcast(f"MSG anonymous {text}")  # BUG: must be ERR not-registered
            return
        super().cmd_msg(conn, text)


if __name__ == "__main__":
    main(MsgBeforeNameServer)
