"""Name prompt, bug: a bare ``except: pass`` around the client loop hides why it ended.

The student wrapped the whole conversation in ``try: ... except: pass`` "so that the
server does not crash", and left the clean-up (removal, leave notice) after the loop. When
a client's connection is reset, recv() raises, the except swallows it without a word, and
the clean-up never runs: the client stays in the list and nobody is told it left. Nothing
on stderr shows what happened.

Must fail: dialect.leave-on-reset (no leave notice), with no traceback reported. Everything
else passes.
"""

from __future__ import annotations

import codecs
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers.dialect
    from tests.servers.dialect.prompt_fixed import ChatServer, main
else:  # run as a script, whose directory is on sys.path
    from prompt_fixed import ChatServer, main


class BareExceptServer(ChatServer):
    def handle_client(self, conn: socket.socket) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            client = self.register(conn, decoder)
            if client is None:
                conn.close()
                return
            self.chat(client, decoder)
            self.remove(client)
        except:  # noqa: E722 # BUG: hides the reset, and skips the clean-up above
            pass


if __name__ == "__main__":
    main(BareExceptServer)
