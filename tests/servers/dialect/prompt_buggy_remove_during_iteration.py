"""Name prompt, bug: departed clients are removed from the list while it is iterated.

The student marks a client that left as gone and lets the next broadcast clean the list
up: ``for client in self.clients: ... self.clients.remove(client)``. Removing the current
element shifts the next one into its place, and the loop steps over it: the client right
after a departed one misses that message.

Must fail: dialect.close and dialect.reset (alice, dmitry, bob, carol joined in that order;
dmitry leaves; bob misses alice's next message). Everything else passes: the leave notice
itself skips nobody (the leaver is excluded from it before the clean-up), and a guest that
joined last has nobody after it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers.dialect
    from tests.servers.dialect.prompt_fixed import ChatServer, Client, main
else:  # run as a script, whose directory is on sys.path
    from prompt_fixed import ChatServer, Client, main


class RemoveWhileIteratingServer(ChatServer):
    def broadcast(self, text: str, exclude: Client | None = None) -> None:
        with self.lock:
            for client in self.clients:
                if client is exclude:
                    continue
                if client.gone:
                    self.clients.remove(client)  # BUG: the next client is skipped
                    continue
                if not client.send(text):
                    self.drop(client)

    def remove(self, client: Client) -> None:
        client.gone = True  # the next broadcast removes it from the list
        client.finish()
        self.broadcast(f"{client.name} вышел из чата", exclude=client)


if __name__ == "__main__":
    main(RemoveWhileIteratingServer)
