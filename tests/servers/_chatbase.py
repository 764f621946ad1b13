"""A small, correct, threaded linechat/1 server, written to be broken one rule at a time.

Every ``broken_*.py`` file next to this one subclasses :class:`ChatServer`, overrides one
method to plant one bug, and so shows that the conformance suite catches that bug. Run
unmodified, this server follows every rule: ``python tests/servers/_chatbase.py --port 7777``.

Design: a reader thread and a writer thread per connection. Everything sent to a connection
goes through its outbox queue, so each connection gets one FIFO stream (ORDER-1). Registration,
broadcasts and departures happen under one lock, so all receivers see one common order
(ORDER-4). A client that does not read only grows its own outbox, and is kicked once that holds
more than --max-output bytes (LOAD-3, LOAD-4). It shares no code with ``linechat`` or the suite.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import socket
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from types import FrameType

MAX_LINE = 4096  # bytes on the wire, LF and any CR included (FRAME-5, FRAME-6)
NAME_MAX = 32  # code points (NAME-2)
NAME_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"})
MIN_MAX_OUTPUT = 64 * 1024  # LOAD-4: never drop a client with less unsent output than this
DEFAULT_MAX_OUTPUT = 1024 * 1024
LINGER_SECONDS = 1.0  # how long late input is drained before close, so close never sends RST
STOP_SECONDS = 2.0  # how long SIGTERM waits for the BYE lines to go out

Lines = list[bytes | None]  # the complete lines of one recv; None stands for an over-long line


class Connection:
    """One client: its socket, its protocol state and its outbox (None in the outbox = close)."""

    def __init__(self, sock: socket.socket, write_loop: Callable[[Connection], None]) -> None:
        self.sock = sock
        self.name: str | None = None  # set once registered, kept after for the LEAVE line
        self.inbuf = bytearray()  # received bytes not yet framed into a line
        self.outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.unsent = 0  # bytes in the outbox not yet handed to the kernel
        self.closing = False  # no more output accepted: BYE sent, kicked or server stopping
        self.exited = False  # the client sent EXIT
        self.kicked = False
        self.writer = threading.Thread(target=write_loop, args=(self,), daemon=True)


def shutdown_quietly(sock: socket.socket, how: int) -> None:
    """Shuts a socket down, ignoring the errors of a peer that is already gone."""
    with contextlib.suppress(OSError):
        sock.shutdown(how)


def take_batch(outbox: queue.SimpleQueue[bytes | None]) -> tuple[list[bytes], bool]:
    """Waits for output, then takes what else is queued too (up to 64 KiB), so a busy
    connection costs one send and one lock round per batch, not per line. False once the
    outbox is closed."""
    chunks: list[bytes] = []
    size = 0
    item = outbox.get()
    while item is not None:
        chunks.append(item)
        size += len(item)
        if size >= 65536:
            return chunks, True
        try:
            item = outbox.get_nowait()
        except queue.Empty:
            return chunks, True
    return chunks, False


def linger(sock: socket.socket) -> None:
    """Half-closes, then drains late input for a moment, so that closing a socket that still
    holds unread input does not send an RST that could destroy lines the client has not read."""
    shutdown_quietly(sock, socket.SHUT_WR)
    deadline = time.monotonic() + LINGER_SECONDS
    try:
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(65536):
                return
    except OSError:
        pass


class ChatServer:
    """The correct base server; the methods are the seams the broken servers override."""

    MAX_LINE = MAX_LINE
    greeting = "HELLO linechat/1 chatbase"

    def __init__(self, host: str, port: int, max_clients: int | None, max_output: int) -> None:
        self.listener = socket.create_server((host, port))
        self.max_clients = max_clients
        self.max_output = max(max_output, MIN_MAX_OUTPUT)
        self.lock = threading.RLock()
        self.connections: list[Connection] = []
        self.registered: dict[str, Connection] = {}  # name_key(name) -> connection
        self.commands: dict[str, Callable[[Connection, str], None]] = {
            "NAME": self.cmd_name,
            "MSG": self.cmd_msg,
            "WHO": self.cmd_who,
            "PING": self.cmd_ping,
            "EXIT": self.cmd_exit,
        }

    # ---- life cycle -------------------------------------------------------------------------

    def serve_forever(self) -> None:
        while True:
            sock, _ = self.listener.accept()
            self.accept(sock)

    def accept(self, sock: socket.socket) -> None:
        # The writer already batches; Nagle would hold a line back until the previous is ACKed.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(sock, self.write_loop)
        with self.lock:
            if self.is_full():
                threading.Thread(target=self.refuse, args=(sock,), daemon=True).start()
                return
            self.connections.append(conn)
            self.greet(conn)
            conn.writer.start()
            threading.Thread(target=self.serve_connection, args=(conn,), daemon=True).start()

    def is_full(self) -> bool:
        """GREET-2: the limit counts open connections, registered or not."""
        return self.max_clients is not None and len(self.connections) >= self.max_clients

    def refuse(self, sock: socket.socket) -> None:
        with sock:
            try:
                sock.sendall(self.encode_line("ERR server-full"))
            except OSError:
                return
            linger(sock)

    def greet(self, conn: Connection) -> None:
        self.send_to(conn, self.greeting)

    def handle_signals(self) -> None:
        """SIGTERM and SIGINT stop the server (LIFE-1)."""
        signal.signal(signal.SIGTERM, stop_once)
        signal.signal(signal.SIGINT, stop_once)

    def stop(self) -> None:
        """Sends BYE to every connection and closes them (LIFE-1)."""
        self.listener.close()
        with self.lock:
            connections = list(self.connections)
            for conn in connections:
                self.send_to(conn, "BYE")
                self.close_output(conn)
        deadline = time.monotonic() + STOP_SECONDS
        for conn in connections:
            if conn.writer.is_alive():  # a signal may have come before the threads started
                conn.writer.join(timeout=max(0.0, deadline - time.monotonic()))

    # ---- per-connection threads -------------------------------------------------------------

    def write_loop(self, conn: Connection) -> None:
        """Hands the outbox to the kernel in order; half-closes once the outbox is closed."""
        try:
            is_open = True
            while is_open:
                chunks, is_open = take_batch(conn.outbox)
                data = b"".join(chunks)
                conn.sock.sendall(data)
                with self.lock:
                    conn.unsent -= len(data)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:  # the client is gone: wake the reader, which cleans up
            shutdown_quietly(conn.sock, socket.SHUT_RDWR)

    def serve_connection(self, conn: Connection) -> None:
        try:
            for lines in self.read_chunks(conn):
                if not self.process_chunk(conn, lines):
                    break
        except OSError:
            pass
        finally:
            self.on_disconnect(conn, self.departure_reason(conn))
            self.close(conn)

    def departure_reason(self, conn: Connection) -> str:
        if conn.exited:
            return "exit"
        return "kicked" if conn.kicked else "disconnect"

    def close(self, conn: Connection) -> None:
        conn.writer.join(timeout=STOP_SECONDS)
        if not conn.kicked:
            linger(conn.sock)
        conn.sock.close()

    # ---- input: framing and decoding --------------------------------------------------------

    def read_chunks(self, conn: Connection) -> Iterator[Lines]:
        """Frames by LF only (FRAME-4): yields the complete lines of each recv, CR-stripped.
        An over-long line (FRAME-5) is yielded once as None and discarded up to its LF. At EOF
        the bytes after the last LF are not a line (FRAME-8)."""
        discarding = False
        while data := conn.sock.recv(65536):
            conn.inbuf += data
            lines: Lines = []
            while (end := conn.inbuf.find(b"\n")) >= 0:
                line = bytes(conn.inbuf[:end])
                del conn.inbuf[: end + 1]
                if discarding:
                    discarding = False
                elif end + 1 > self.MAX_LINE:
                    lines.append(None)
                else:
                    lines.append(self.strip_cr(line))
            if len(conn.inbuf) >= self.MAX_LINE:  # no LF yet, and already too long for a line
                if not discarding:
                    lines.append(None)
                    discarding = True
                conn.inbuf.clear()
            yield lines

    def strip_cr(self, line: bytes) -> bytes:
        """FRAME-3: one CR right before the LF is part of the line ending."""
        return line[:-1] if line.endswith(b"\r") else line

    def process_chunk(self, conn: Connection, lines: Lines) -> bool:
        """Handles lines in order; False once the connection ends (EXIT-3: the rest is ignored)."""
        for raw in lines:
            if conn.closing or not self.handle_raw(conn, raw):
                return False
        return not conn.closing

    def handle_raw(self, conn: Connection, raw: bytes | None) -> bool:
        """Handles one framed line; False once the client has said EXIT."""
        if raw is None:
            self.error(conn, "line-too-long")
        elif (line := self.decode_line(conn, raw)) is not None:
            self.handle_line(conn, line)
        return not conn.exited

    def decode_line(self, conn: Connection, raw: bytes) -> str | None:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.error(conn, "bad-encoding")
            return None

    # ---- commands ---------------------------------------------------------------------------

    def handle_line(self, conn: Connection, line: str) -> None:
        if not line:  # FRAME-7
            return
        word, argument = self.split_command(line)
        handler = self.commands.get(self.command_key(word))
        if handler is None:
            self.error(conn, "unknown-command")
        else:
            handler(conn, argument)

    def split_command(self, line: str) -> tuple[str, str]:
        """FRAME-11: the word ends at the first space; the rest is the argument, verbatim."""
        word, _, argument = line.partition(" ")
        return word, argument

    def command_key(self, word: str) -> str:
        """FRAME-10: ASCII case-insensitive, so `ſ` or `ı` never turn into S or I."""
        return word.upper() if word.isascii() else word

    def cmd_name(self, conn: Connection, name: str) -> None:
        if conn.name is not None:
            self.error(conn, "already-registered")
        elif not name:
            self.error(conn, "syntax")
        elif not self.name_is_valid(name):
            self.error(conn, "name-invalid")
        else:
            with self.lock:
                if self.name_is_taken(name):
                    self.error(conn, "name-taken")
                    return
                self.register(conn, name)
                self.send_to(conn, f"WELCOME {name}")
                self.announce_join(conn)

    def cmd_msg(self, conn: Connection, text: str) -> None:
        if conn.name is None:
            self.error(conn, "not-registered")
        elif not text:
            self.error(conn, "syntax")
        elif not self.text_is_valid(text):
            self.error(conn, "text-invalid")
        elif len(f"MSG {conn.name} {text}\n".encode()) > self.MAX_LINE:  # MSG-5
            self.error(conn, "line-too-long")
        else:
            self.relay(conn, text)

    def cmd_who(self, conn: Connection, _argument: str) -> None:
        with self.lock:
            for line in self.who_lines(conn):
                self.send_to(conn, line)

    def cmd_ping(self, conn: Connection, token: str) -> None:
        if token and not self.text_is_valid(token):  # PING-3: never echo a control character
            self.error(conn, "text-invalid")
        else:
            self.send_to(conn, f"PONG {token}" if token else "PONG")

    def cmd_exit(self, conn: Connection, _argument: str) -> None:
        self.send_to(conn, "BYE")
        conn.exited = True

    def error(self, conn: Connection, code: str) -> None:
        self.send_to(conn, f"ERR {code}")

    # ---- names, text and the registry --------------------------------------------------------

    def name_is_valid(self, name: str) -> bool:
        return 1 <= len(name) <= NAME_MAX and all(
            char in "_-." or unicodedata.category(char) in NAME_CATEGORIES for char in name
        )

    def name_key(self, name: str) -> str:
        """NAME-3: names are unique under full case folding."""
        return name.casefold()

    def name_is_taken(self, name: str) -> bool:
        return self.name_key(name) in self.registered

    def text_is_valid(self, text: str) -> bool:
        """MSG-2 (and PING-3): no C0 control but TAB, no DEL, no C1 control."""
        return text != "" and not any(
            char != "\t" and (char < " " or "\x7f" <= char <= "\x9f") for char in text
        )

    def register(self, conn: Connection, name: str) -> None:
        self.registered[self.name_key(name)] = conn
        conn.name = name

    def unregister(self, conn: Connection) -> None:
        assert conn.name is not None
        del self.registered[self.name_key(conn.name)]

    def who_lines(self, asker: Connection) -> list[str]:
        users = [f"USER {conn.name}" for conn in self.registered.values()]
        return [*users, f"END WHO {len(users)}"]

    # ---- output -----------------------------------------------------------------------------

    def announce_join(self, newcomer: Connection) -> None:
        self.broadcast(f"JOIN {newcomer.name}", exclude=newcomer)

    def relay(self, sender: Connection, text: str) -> None:
        self.broadcast(f"MSG {sender.name} {text}", exclude=sender)

    def broadcast(self, line: str, exclude: Connection | None = None) -> None:
        with self.lock:
            for conn in self.recipients():
                if conn is not exclude:
                    self.send_to(conn, line)

    def recipients(self) -> list[Connection]:
        """ORDER-6: only registered clients get MSG, JOIN and LEAVE lines."""
        return list(self.registered.values())

    def encode_line(self, line: str) -> bytes:
        return f"{line}\n".encode()

    def send_to(self, conn: Connection, line: str) -> None:
        data = self.encode_line(line)
        with self.lock:
            if conn.closing:
                return
            conn.unsent += len(data)
            conn.outbox.put(data)
            if conn.unsent > self.max_output:
                self.kick(conn)

    def kick(self, conn: Connection) -> None:
        """LOAD-4: drops a client that does not read; its reader then sends LEAVE ... kicked."""
        conn.kicked = True
        self.close_output(conn)
        shutdown_quietly(conn.sock, socket.SHUT_RDWR)

    def close_output(self, conn: Connection) -> None:
        """Lets the writer send what is queued, then half-close; nothing more is accepted."""
        if not conn.closing:
            conn.closing = True
            conn.outbox.put(None)

    def on_disconnect(self, conn: Connection, reason: str) -> None:
        with self.lock:
            if conn.name is not None:
                self.unregister(conn)
                self.broadcast(f"LEAVE {conn.name} {reason}")
            self.connections.remove(conn)
            self.close_output(conn)


def stop_once(_signum: int, _frame: FrameType | None) -> None:
    """Interrupts the accept loop; a second signal must not interrupt the BYE round."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="A threaded linechat/1 test server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: $PORT, else 0 (any)")
    parser.add_argument("--max-clients", type=int, default=None, help="default: no limit")
    parser.add_argument("--max-output", type=int, default=DEFAULT_MAX_OUTPUT, help="bytes")
    args = parser.parse_args(argv)
    if args.port is None:
        args.port = int(os.environ.get("PORT", "0"))
    return args


def main(server_cls: type[ChatServer] = ChatServer, argv: list[str] | None = None) -> None:
    """The CLI every test server shares: serve until SIGTERM or SIGINT, then exit 0."""
    args = parse_args(argv)
    server = server_cls(args.host, args.port, args.max_clients, args.max_output)
    server.handle_signals()
    host, port = server.listener.getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    # A wedged server must still exit: stop() runs in a daemon thread with a deadline.
    stopper = threading.Thread(target=server.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=STOP_SECONDS + 1)
    sys.exit(0)


if __name__ == "__main__":
    main()
