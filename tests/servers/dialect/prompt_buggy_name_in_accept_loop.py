"""Name prompt, bug: the name is read in the accept loop, before the client's thread starts.

The student asks for the name right after accept(), in the main loop, and only then starts
the client's thread. While one client sits at the prompt without answering, the main loop
waits for its name and accepts nobody else: every newcomer gets no prompt at all.

Must fail: dialect.silent-at-prompt. Everything else passes (clients that answer at once
are served).
"""

from __future__ import annotations

import codecs
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers.dialect
    from tests.servers.dialect.prompt_fixed import ChatServer, Client, Decoder, main
else:  # run as a script, whose directory is on sys.path
    from prompt_fixed import ChatServer, Client, Decoder, main


class NameInAcceptLoopServer(ChatServer):
    def serve_forever(self) -> None:
        print(f"Сервер запущен на порту {self.server.getsockname()[1]}")
        while True:
            conn, _ = self.server.accept()
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            try:
                client = self.register(conn, decoder)  # BUG: blocks the accept loop
            except OSError:
                client = None
            if client is None:
                conn.close()
                continue
            threading.Thread(target=self.serve_named, args=(client, decoder), daemon=True).start()

    def serve_named(self, client: Client, decoder: Decoder) -> None:
        try:
            self.chat(client, decoder)
        except OSError:
            pass
        finally:
            self.remove(client)


if __name__ == "__main__":
    main(NameInAcceptLoopServer)
