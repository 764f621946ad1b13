"""A relay chat server, the assignment done right: no handshake, lines forwarded whole.

The assignment: "the server accepts several clients; what one sends, the others receive".
What makes it right, against relay_buggy.py next to it:
- it forwards whole lines: what a client sends is buffered up to each LF, so two clients
  talking at once never have their lines cut into each other;
- every receiver has its own queue and writer thread: a client that stops reading is
  dropped once 1 MB waits for it, and never holds anyone else up;
- a connection that is reset is an ordinary departure: the thread cleans up and ends;
- the list of clients is guarded by a lock, and a broadcast iterates over a copy.

Every check of ``chat-conform --profile relay`` passes.

Run: python relay_fixed.py [--port N]   (default 8080, or the environment variable PORT)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import socket
import sys
import threading

HOST = "127.0.0.1"
PORT = 8080
MAX_QUEUED = 1 << 20


class Peer:
    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.queued = 0
        self.lock = threading.Lock()
        self.writer = threading.Thread(target=self.write_loop, daemon=True)

    def send(self, data: bytes) -> bool:
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


clients: list[Peer] = []
clients_lock = threading.Lock()


def broadcast(data: bytes, sender: Peer) -> None:
    with clients_lock:
        receivers = [peer for peer in clients if peer is not sender]
    for peer in receivers:
        if not peer.send(data):
            print("a client does not read: dropping it", file=sys.stderr)
            with contextlib.suppress(OSError):
                peer.conn.shutdown(socket.SHUT_RDWR)


def handle(peer: Peer) -> None:
    pending = b""
    try:
        while data := peer.conn.recv(65536):
            pending += data
            if b"\n" in pending:
                cut = pending.rindex(b"\n") + 1
                lines, pending = pending[:cut], pending[cut:]
                broadcast(lines, peer)
        if pending:
            broadcast(pending, peer)  # the last bytes, as they are
    except OSError as error:
        print(f"connection lost: {error}", file=sys.stderr)
    finally:
        with clients_lock:
            clients.remove(peer)
        peer.outbox.put(None)
        peer.writer.join(timeout=1.0)
        peer.conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="a relay chat server")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", PORT)))
    port = parser.parse_args().port
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((HOST, port))
    server.listen()
    print(f"relay listening on {HOST}:{port}")
    while True:
        conn, _ = server.accept()
        peer = Peer(conn)
        with clients_lock:
            clients.append(peer)
        peer.writer.start()
        threading.Thread(target=handle, args=(peer,), daemon=True).start()


if __name__ == "__main__":
    main()
