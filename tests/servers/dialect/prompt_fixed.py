"""A name-prompt chat server, the course assignment done right.

The assignment: "the server accepts several clients; what one sends, the others receive".
It asks each client for a name ("Введите своё имя: "), welcomes it ("Добро пожаловать,
alice!"), tells the others "alice вошёл в чат", relays every message as "alice: text",
treats "exit" as leaving and tells the others "alice вышел из чата". A client sends each
message without a newline, one send() per message.

What makes it right, against the typical bug of each prompt_buggy_*.py next to it:
- every client gets its own thread at once, and the name is read there, never in the
  accept loop (prompt_buggy_name_in_accept_loop.py);
- a message is what one recv(65536) returned, decoded by an incremental decoder: a
  5000-byte message stays one message, and a letter cut between two reads is no error
  (prompt_buggy_recv_chunks.py);
- the clients are a list guarded by a lock; a broadcast iterates over a copy
  (prompt_buggy_remove_during_iteration.py); a name in use is refused
  (prompt_buggy_name_overwrite.py);
- every send goes to the receiver's own queue, emptied by its own writer thread; a
  receiver that stops reading is dropped once 1 MB waits for it (prompt_buggy_blocking_send.py);
- a reset connection is an ordinary departure, announced like any other
  (prompt_buggy_dies_on_reset.py, prompt_buggy_bare_except.py).

Every check of ``chat-conform --profile name-prompt`` passes.

Run: python prompt_fixed.py [--port N]   (default 8080, or the environment variable PORT)
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import os
import queue
import socket
import sys
import threading

HOST = "127.0.0.1"
PORT = 8080
MAX_QUEUED = 1 << 20  # bytes waiting for one client before it counts as not reading
Decoder = codecs.IncrementalDecoder


class Client:
    """One connected, named client: its socket and its own outbox with a writer thread."""

    def __init__(self, conn: socket.socket, name: str) -> None:
        self.conn = conn
        self.name = name
        self.gone = False
        self.outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.queued = 0
        self.lock = threading.Lock()
        self.writer = threading.Thread(target=self.write_loop, daemon=True)

    def send(self, text: str) -> bool:
        """Queue one line for this client; False if it has not read the last megabyte."""
        data = (text + "\n").encode()
        with self.lock:
            if self.queued > MAX_QUEUED:
                return False
            self.queued += len(data)
        self.outbox.put(data)
        return True

    def write_loop(self) -> None:
        while (data := self.outbox.get()) is not None:
            try:
                self.conn.sendall(data)
            except OSError:
                return
            with self.lock:
                self.queued -= len(data)

    def finish(self) -> None:
        """Send what is queued, then close the connection."""
        self.outbox.put(None)
        if self.writer.is_alive():
            self.writer.join(timeout=1.0)
        self.conn.close()


class ChatServer:
    def __init__(self, port: int) -> None:
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind((HOST, port))
        self.server.listen()
        self.clients: list[Client] = []
        self.lock = threading.Lock()

    def serve_forever(self) -> None:
        print(f"Сервер запущен на {HOST}:{self.server.getsockname()[1]}")
        while True:
            conn, addr = self.server.accept()
            print(f"Подключился {addr}")
            threading.Thread(target=self.handle_client, args=(conn,), daemon=True).start()

    def handle_client(self, conn: socket.socket) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        client = None
        try:
            client = self.register(conn, decoder)
            if client is not None:
                self.chat(client, decoder)
        except OSError as error:
            print(f"Соединение потеряно: {error}", file=sys.stderr)
        finally:
            if client is not None:
                self.remove(client)
            else:
                conn.close()

    def register(self, conn: socket.socket, decoder: Decoder) -> Client | None:
        """Ask for a name until a free one arrives; None if the client left first."""
        conn.sendall("Введите своё имя: ".encode())
        while True:
            name = self.read_message(conn, decoder)
            if name is None:
                return None
            name = name.strip()
            client = self.add(conn, name) if name else None
            if client is not None:
                break
            conn.sendall(f"Имя «{name}» занято или пусто, введите другое: ".encode())
        client.writer.start()
        self.broadcast(f"{name} вошёл в чат", exclude=client)
        return client

    def add(self, conn: socket.socket, name: str) -> Client | None:
        """The new client, welcomed; None if the name is taken."""
        with self.lock:
            if any(client.name == name for client in self.clients):
                return None
            client = Client(conn, name)
            client.send(f"Добро пожаловать, {name}!")
            self.clients.append(client)
            return client

    def chat(self, client: Client, decoder: Decoder) -> None:
        while True:
            text = self.read_message(client.conn, decoder)
            if text is None or text.strip() == "exit":
                return
            if text:
                self.broadcast(f"{client.name}: {text}", exclude=client)

    def read_message(self, conn: socket.socket, decoder: Decoder) -> str | None:
        """One message: what one recv() returned (the client sends one per message)."""
        data = conn.recv(65536)
        if not data:
            return None
        return decoder.decode(data)

    def broadcast(self, text: str, exclude: Client | None = None) -> None:
        with self.lock:
            receivers = [client for client in self.clients if client is not exclude]
        for client in receivers:
            if not client.send(text):
                print(f"{client.name} не читает: отключаю", file=sys.stderr)
                self.drop(client)

    def drop(self, client: Client) -> None:
        """Disconnect a client; its own thread then removes it."""
        with contextlib.suppress(OSError):
            client.conn.shutdown(socket.SHUT_RDWR)

    def remove(self, client: Client) -> None:
        with self.lock:
            if client not in self.clients:
                return
            self.clients.remove(client)
        client.finish()
        self.broadcast(f"{client.name} вышел из чата")
        print(f"{client.name} вышел")


def main(server_class: type[ChatServer] = ChatServer) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", PORT)))
    server_class(parser.parse_args().port).serve_forever()


if __name__ == "__main__":
    main()
