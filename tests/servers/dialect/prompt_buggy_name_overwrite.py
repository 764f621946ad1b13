"""Name prompt, bug: clients are kept in a dict keyed by name, and names are not checked.

The student stores ``self.by_name[name] = client`` and broadcasts over the dict. A second
client that asks for a name already in use replaces the first one's entry: messages for
"alice" now go to the newcomer, the first alice receives nothing more, and when the
newcomer leaves, the entry is deleted and the first alice is out of the room for good.

Must fail: dialect.duplicate-name. Everything else passes (all other checks use distinct
names).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers.dialect
    from tests.servers.dialect.prompt_fixed import ChatServer, Client, main
else:  # run as a script, whose directory is on sys.path
    from prompt_fixed import ChatServer, Client, main


class NameOverwriteServer(ChatServer):
    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.by_name: dict[str, Client] = {}

    def add(self, conn: socket.socket, name: str) -> Client | None:
        with self.lock:
            client = Client(conn, name)
            client.send(f"Добро пожаловать, {name}!")
            self.by_name[name] = client  # BUG: replaces another client with the same name
            return client

    def broadcast(self, text: str, exclude: Client | None = None) -> None:
        with self.lock:
            receivers = [client for client in self.by_name.values() if client is not exclude]
        for client in receivers:
            if not client.send(text):
                self.drop(client)

    def remove(self, client: Client) -> None:
        with self.lock:
            self.by_name.pop(client.name, None)  # may remove the other client of that name
        client.finish()
        self.broadcast(f"{client.name} вышел из чата")


if __name__ == "__main__":
    main(NameOverwriteServer)
