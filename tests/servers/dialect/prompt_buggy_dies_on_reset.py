"""Name prompt, bug: the client's thread dies when its connection is reset.

The student handles the end of a conversation (recv() returns nothing, or "exit") but not
a reset: recv() raises ConnectionResetError, the thread dies with a traceback on stderr,
and the clean-up after the loop never runs. The others are still served (each client has
its own writer), so the room looks fine, but nobody is told that the client left, and the
dead client stays in the list.

Must fail: dialect.leave-on-reset. dialect.reset, dialect.churn and the others pass, but
their reports show the ConnectionResetError traceback of the thread that died.
"""

from __future__ import annotations

import codecs
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers.dialect
    from tests.servers.dialect.prompt_fixed import ChatServer, main
else:  # run as a script, whose directory is on sys.path
    from prompt_fixed import ChatServer, main


class DiesOnResetServer(ChatServer):
    def handle_client(self, conn: socket.socket) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        client = self.register(conn, decoder)
        if client is None:
            conn.close()
            return
        self.chat(client, decoder)  # BUG: a reset raises here and the thread dies
        self.remove(client)


if __name__ == "__main__":
    main(DiesOnResetServer)
