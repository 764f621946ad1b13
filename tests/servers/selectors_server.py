"""An independent linechat/1 server: one thread, non-blocking sockets and ``selectors``.

It exists so that the conformance suite is tested against a second correct server whose design
and incidental behaviour differ from the threaded reference: its errors carry no human text
(``ERR syntax``), WHO lists names sorted by folded name, not in registration order, and its
HELLO is ``HELLO linechat/1 selectors-server``. It shares no code with ``linechat``, the suite
or the broken test servers, and was written from the rule list alone.

Design: every client has an input buffer and an output buffer; the selector watches a socket
for writing only while its output buffer is not empty. One thread means one common order of
all lines (ORDER-4) for free. A client whose unsent output passes --max-output is kicked
(LOAD-4) after the event being handled, so a broadcast is never cut in half.

    python tests/servers/selectors_server.py --port 7777 [--max-clients N] [--max-output BYTES]
"""

from __future__ import annotations

import argparse
import os
import selectors
import signal
import socket
import sys
import time
import unicodedata
from types import FrameType

MAX_LINE = 4096  # bytes on the wire, LF and any CR included
MIN_MAX_OUTPUT = 64 * 1024
DEFAULT_MAX_OUTPUT = 1024 * 1024
LINGER_SECONDS = 1.0  # after half-closing, late input is drained this long so close sends no RST
STOP_SECONDS = 2.0  # on SIGTERM, how long BYE lines get to drain
HELLO = b"HELLO linechat/1 selectors-server\n"
NAME_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"})
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


def is_valid_name(name: str) -> bool:
    """1 to 32 code points, each a letter, a decimal digit, `_`, `-` or `.`."""
    return 0 < len(name) <= 32 and all(
        c in "_-." or unicodedata.category(c) in NAME_CATEGORIES for c in name
    )


def is_valid_text(text: str) -> bool:
    """Not empty; no C0 control other than TAB, no DEL, no C1 control."""
    return text != "" and all(c == "\t" or not (c < " " or "\x7f" <= c <= "\x9f") for c in text)


class Client:
    """One connection's buffers and state flags."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.name: str | None = None
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.events = 0  # selector interest now registered (0: not registered)
        self.discarding = False  # inside an over-long line: drop bytes up to its LF
        self.ended = False  # its lines are no longer processed, no new output is accepted
        self.overflowed = False  # unsent output passed --max-output: to be kicked
        self.eof_seen = False
        self.half_closed = False
        self.linger_until = 0.0
        self.closed = False


class SelectorsServer:
    def __init__(self, host: str, port: int, max_clients: int | None, max_output: int) -> None:
        self.listener = socket.create_server((host, port))
        self.listener.setblocking(False)
        self.max_clients = max_clients
        self.max_output = max(max_output, MIN_MAX_OUTPUT)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, READ)
        self.wakeup, self.wakeup_writer = socket.socketpair()  # signals wake the select call
        self.wakeup.setblocking(False)
        self.wakeup_writer.setblocking(False)
        self.selector.register(self.wakeup, READ)
        self.clients: set[Client] = set()
        self.registered: dict[str, Client] = {}  # casefolded name -> client
        self.active = 0  # connections counted against --max-clients
        self.overflowing: list[Client] = []
        self.stop_requested = False

    # ---- event loop -------------------------------------------------------------------------

    def serve(self) -> None:
        signal.set_wakeup_fd(self.wakeup_writer.fileno())
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        host, port = self.listener.getsockname()[:2]
        print(f"listening on {host}:{port}", flush=True)
        while not self.stop_requested:
            self.poll(self.next_timeout())
        self.stop()

    def request_stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.stop_requested = True

    def poll(self, timeout: float | None) -> None:
        for key, mask in self.selector.select(timeout):
            if key.fileobj is self.listener:
                self.accept_all()
            elif key.fileobj is self.wakeup:
                self.wakeup.recv(512)
            else:
                client: Client = key.data
                if mask & READ and not client.closed:
                    self.on_readable(client)
                if mask & WRITE and not client.closed:
                    self.on_writable(client)
            while self.overflowing:  # kicked only now: no broadcast is ever cut in half
                self.drop(self.overflowing.pop(0), "kicked")
        now = time.monotonic()
        for client in [c for c in self.clients if c.half_closed and c.linger_until <= now]:
            self.close(client)

    def next_timeout(self) -> float | None:
        deadlines = [c.linger_until for c in self.clients if c.half_closed]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def stop(self) -> None:
        """LIFE-1: BYE to every connection, let the output drain a moment, close, return."""
        self.selector.unregister(self.listener)
        self.listener.close()
        for client in list(self.clients):
            self.send(client, "BYE")
            self.end(client, None)
        deadline = time.monotonic() + STOP_SECONDS
        while any(c.outbuf for c in self.clients) and (left := deadline - time.monotonic()) > 0:
            self.poll(left)
        self.poll(0)  # drain input that already arrived, so that closing sends no RST
        for client in list(self.clients):
            self.close(client)

    # ---- sockets ----------------------------------------------------------------------------

    def accept_all(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                print(f"accept failed: {exc}", file=sys.stderr)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle delay per line
            client = Client(sock)
            self.clients.add(client)
            if self.max_clients is not None and self.active >= self.max_clients:
                client.outbuf += b"ERR server-full\n"
                client.ended = True  # never counted, closed once the ERR is out
            else:
                self.active += 1
                client.outbuf += HELLO
            self.sync(client)

    def on_readable(self, client: Client) -> None:
        try:
            data = client.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:  # reset
            self.drop(client, "disconnect")
            return
        if not data:
            client.eof_seen = True
            if client.ended:
                self.sync(client)
            else:
                self.end(client, "disconnect")
        elif not client.ended:  # after EXIT, input is drained and ignored
            self.feed(client, data)

    def on_writable(self, client: Client) -> None:
        try:
            sent = client.sock.send(client.outbuf)
        except BlockingIOError:
            return
        except OSError:  # EPIPE, ECONNRESET
            self.drop(client, "disconnect")
            return
        del client.outbuf[:sent]
        self.sync(client)

    def sync(self, client: Client) -> None:
        """Brings the socket in line with the client's state: write interest only while output
        is pending; once an ended client's output is out, half-close, linger, then close."""
        if client.closed:
            return
        if client.ended and not client.outbuf:
            if not client.half_closed:
                client.half_closed = True
                client.linger_until = time.monotonic() + LINGER_SECONDS
                try:
                    client.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    client.eof_seen = True
            if client.eof_seen:
                self.close(client)
                return
        events = (0 if client.eof_seen else READ) | (WRITE if client.outbuf else 0)
        if events != client.events:
            if client.events:
                self.selector.modify(client.sock, events, client)
            else:
                self.selector.register(client.sock, events, client)
            client.events = events

    def close(self, client: Client) -> None:
        if client.closed:
            return
        client.closed = True
        if client.events:
            self.selector.unregister(client.sock)
        client.sock.close()
        self.clients.discard(client)

    # ---- client state -----------------------------------------------------------------------

    def send(self, client: Client, line: str) -> None:
        if client.ended or client.overflowed:
            return
        client.outbuf += line.encode("utf-8") + b"\n"
        if len(client.outbuf) > self.max_output:
            client.overflowed = True
            self.overflowing.append(client)
        else:
            self.sync(client)

    def broadcast(self, line: str, exclude: Client | None = None) -> None:
        for client in self.registered.values():
            if client is not exclude:
                self.send(client, line)

    def end(self, client: Client, reason: str | None) -> None:
        """Stops processing the client's input and announces a registered client's departure
        (reason None: the server is stopping, everyone gets BYE instead); the output drains."""
        if client.ended:
            return
        client.ended = True
        client.inbuf.clear()
        self.active -= 1
        if client.name is not None:
            del self.registered[client.name.casefold()]
            if reason is not None:
                self.broadcast(f"LEAVE {client.name} {reason}")
        self.sync(client)

    def drop(self, client: Client, reason: str) -> None:
        """Ends a client at once, throwing its unsent output away (reset, error, kick)."""
        client.outbuf.clear()
        self.end(client, reason)
        self.close(client)

    # ---- protocol ---------------------------------------------------------------------------

    def feed(self, client: Client, data: bytes) -> None:
        """Frames by LF; each line is handled before the next is looked at, so EXIT or a kick
        stops the rest. Over-long lines get one ERR and are discarded up to their LF."""
        client.inbuf += data
        while not (client.ended or client.overflowed) and (end := client.inbuf.find(b"\n")) >= 0:
            raw = bytes(client.inbuf[:end])
            del client.inbuf[: end + 1]
            if client.discarding:
                client.discarding = False
            elif end >= MAX_LINE:
                self.send(client, "ERR line-too-long")
            else:
                self.handle(client, raw[:-1] if raw.endswith(b"\r") else raw)
        if len(client.inbuf) >= MAX_LINE:
            if not client.discarding:
                self.send(client, "ERR line-too-long")
                client.discarding = True
            client.inbuf.clear()

    def handle(self, client: Client, raw: bytes) -> None:
        if not raw:
            return
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.send(client, "ERR bad-encoding")
            return
        word, _, argument = line.partition(" ")
        match word.upper() if word.isascii() else word:
            case "NAME":
                self.do_name(client, argument)
            case "MSG":
                self.do_msg(client, argument)
            case "WHO":
                self.do_who(client)
            case "PING" if argument and not is_valid_text(argument):
                self.send(client, "ERR text-invalid")  # never echo a control character
            case "PING":
                self.send(client, f"PONG {argument}" if argument else "PONG")
            case "EXIT":
                self.send(client, "BYE")
                self.end(client, "exit")
            case _:
                self.send(client, "ERR unknown-command")

    def do_name(self, client: Client, name: str) -> None:
        if client.name is not None:
            self.send(client, "ERR already-registered")
        elif not name:
            self.send(client, "ERR syntax")
        elif not is_valid_name(name):
            self.send(client, "ERR name-invalid")
        elif name.casefold() in self.registered:
            self.send(client, "ERR name-taken")
        else:
            self.broadcast(f"JOIN {name}")  # before registering: the newcomer gets no JOIN
            self.registered[name.casefold()] = client
            client.name = name
            self.send(client, f"WELCOME {name}")

    def do_msg(self, client: Client, text: str) -> None:
        if client.name is None:
            self.send(client, "ERR not-registered")
        elif not text:
            self.send(client, "ERR syntax")
        elif not is_valid_text(text):
            self.send(client, "ERR text-invalid")
        elif len(f"MSG {client.name} {text}\n".encode()) > MAX_LINE:
            self.send(client, "ERR line-too-long")
        else:
            self.broadcast(f"MSG {client.name} {text}", exclude=client)

    def do_who(self, client: Client) -> None:
        for _key, user in sorted(self.registered.items()):
            self.send(client, f"USER {user.name}")
        self.send(client, f"END WHO {len(self.registered)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A single-threaded linechat/1 server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: $PORT, else 0 (any)")
    parser.add_argument("--max-clients", type=int, default=None, help="default: no limit")
    parser.add_argument("--max-output", type=int, default=DEFAULT_MAX_OUTPUT, help="bytes")
    args = parser.parse_args(argv)
    port = args.port if args.port is not None else int(os.environ.get("PORT", "0"))
    SelectorsServer(args.host, port, args.max_clients, args.max_output).serve()
    sys.exit(0)


if __name__ == "__main__":
    main()
