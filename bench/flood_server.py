"""The load client's ceiling: a "server" that relays nothing and floods instead.

It answers the linechat/1 set-up the load client performs (HELLO, ``NAME`` -> ``WELCOME``,
``PING`` -> ``PONG``); at the first ``MSG`` it receives it stops reading and starts writing
ready-made relayed lines (``MSG c0000 <payload>``, stamped with the current time once per
64 KiB) to every connection as fast as each one is read. Whatever rate the load client then
counts is the most it can count: a number measured against a real server that comes close
to this one says more about the client than about the server.

    python bench/flood_server.py --port 0
"""

from __future__ import annotations

import selectors
import socket
import time

from listener import listen_from_cli
from loadgen import linechat_relayed, payload

BUFFER_LINES = 1024
"""About 64 KiB of lines per refill: one send call moves a thousand deliveries."""


class Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.unread = b""
        self.pending = memoryview(b"HELLO linechat/1 flood-ceiling\n")

    def answer(self, data: bytes) -> bool:
        """Reply to the set-up lines in ``data``; True once a MSG says "start flooding"."""
        *lines, self.unread = (self.unread + data).split(b"\n")
        replies = []
        for line in lines:
            word, _, argument = line.rstrip(b"\r").partition(b" ")
            if word == b"MSG":
                return True
            if word == b"NAME":
                replies.append(b"WELCOME " + argument + b"\n")
            elif word == b"PING":
                replies.append(b"PONG " + argument + b"\n")
        self.pending = memoryview(bytes(self.pending) + b"".join(replies))
        return False

    def write(self, flooding: bool) -> bool:
        """Send what is pending; when flooding, refill with freshly stamped lines. False
        once the peer has gone."""
        if not self.pending and flooding:
            line = linechat_relayed(b"c0000", payload(time.perf_counter_ns(), 0))
            self.pending = memoryview(line * BUFFER_LINES)
        try:
            self.pending = self.pending[self.sock.send(self.pending) :]
        except BlockingIOError:
            pass
        except OSError:
            return False
        return True

    def events(self, flooding: bool) -> int:
        """Watch for writability only while there is something to write. Once flooding, stop
        reading: the client's senders then block on full buffers and spend nothing, so all
        the client does is count."""
        if flooding:
            return selectors.EVENT_WRITE
        if self.pending:
            return selectors.EVENT_READ | selectors.EVENT_WRITE
        return selectors.EVENT_READ


def _receive(sock: socket.socket) -> bytes | None:
    """What arrived (maybe nothing yet), or None once the peer has gone."""
    try:
        return sock.recv(65536) or None
    except BlockingIOError:
        return b""
    except OSError:
        return None


def serve(listener: socket.socket) -> None:
    listener.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    flooding = False
    while True:
        for key, mask in selector.select():
            if key.fileobj is listener:
                sock, _ = listener.accept()
                sock.setblocking(False)
                connection = Connection(sock)
                selector.register(sock, connection.events(flooding), connection)
                continue
            connection = key.data
            alive = True
            if mask & selectors.EVENT_READ:
                data = _receive(connection.sock)
                alive = data is not None
                if data and not flooding and connection.answer(data):
                    flooding = True
                    for other in list(selector.get_map().values()):
                        if other.fileobj is not listener:
                            selector.modify(other.fileobj, other.data.events(True), other.data)
            if alive and mask & selectors.EVENT_WRITE:
                alive = connection.write(flooding)
            if not alive:
                selector.unregister(connection.sock)
                connection.sock.close()
            elif key.events != connection.events(flooding):
                selector.modify(connection.sock, connection.events(flooding), connection)


def main() -> None:
    serve(listen_from_cli("flood every connection with ready-made lines (load-client ceiling)"))


if __name__ == "__main__":
    main()
