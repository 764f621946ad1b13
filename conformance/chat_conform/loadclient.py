"""The load client: hundreds of connections driven by one thread, received bytes parsed in C.

A load measurement is only worth something if the client is not the bottleneck. So one
thread drives every connection through one selector (non-blocking sockets, 256 KiB reads),
and a received chunk is handled as a whole: its complete lines are searched for message
markers with one ``re.findall`` and the message numbers appended to an ``array`` with one
``extend(map(int, ...))``; nothing loops over lines in Python. What the run needs later
(lost, duplicated, reordered, latency) is computed from those arrays once it is over.

:func:`measure_ceiling` runs the same receive path against a trivial in-process server that
only floods lines: the rate it reaches is the most this client can count, printed beside
every result so that a number near it is read as the client's limit, not the server's.

Every wait is bounded twice: by the stall limit (nothing received or sent for that long) and
by a total time limit; and every loop by a step count.
"""

from __future__ import annotations

import errno
import os
import re
import selectors
import socket
import struct
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

from chat_conform.wire import CheckFailure, escape, shorten

RECV_BYTES = 256 * 1024
MAX_CARRY_BYTES = 1 << 20  # bytes without LF a connection may hold: more is not linechat
MAX_KEPT_LINES = 20  # unexpected lines kept per connection, for the report
MAX_STEPS = 100_000_000  # selector rounds of one wait
MAX_WAIT_SECONDS = 900.0  # no wait of the load client lasts longer, progress or not
TICK_SECONDS = 0.05  # how often a wait looks at the clock when nothing happens
PROGRESS_SECONDS = 0.25
HELLO = re.compile(rb"HELLO linechat/1(?: [^\n]*)?")
_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


def marker_pattern(nonce: str) -> re.Pattern[bytes]:
    """The markers of one run: ``<nonce:number>``, the number captured."""
    return re.compile(b"<" + re.escape(nonce.encode()) + rb":(\d+)>")


def marker(nonce: str, number: int, width: int) -> bytes:
    return b"<%s:%0*d>" % (nonce.encode(), width, number)


class Conn:
    """One connection of a :class:`Fleet`; what it received is kept as numbers, not lines.

    ``ids`` holds the marker numbers in arrival order; after each chunk that had markers,
    ``marks`` gets the length of ``ids`` and ``times`` the chunk's arrival time.
    """

    __slots__ = (
        "awaiting",
        "carry",
        "collected",
        "connect_started",
        "connected_at",
        "ended",
        "ids",
        "index",
        "kept",
        "label",
        "marks",
        "mask",
        "name",
        "on_lines",
        "on_written",
        "other_lines",
        "outgoing",
        "pong_at",
        "reading",
        "received_bytes",
        "sock",
        "times",
        "written",
    )

    def __init__(self, index: int, label: str, name: str, sock: socket.socket) -> None:
        self.index = index
        self.label = label
        self.name = name
        self.sock = sock
        self.mask = 0
        self.carry = b""
        self.ids = array("q")
        self.marks = array("q")
        self.times = array("d")
        self.received_bytes = 0
        self.other_lines = 0  # complete lines that were neither a marker nor an awaited PONG
        self.kept: list[bytes] = []  # the first of them
        self.collected = bytearray()  # complete lines, while on_lines is set
        self.on_lines: Callable[[Conn, float], None] | None = None
        self.on_written: Callable[[Conn, float], None] | None = None
        self.outgoing = bytearray()
        self.written = 0  # bytes handed to the kernel so far
        self.awaiting: bytes | None = None  # a PONG line this connection waits for
        self.pong_at: float | None = None  # when it arrived
        self.reading = True
        self.connect_started = 0.0
        self.connected_at: float | None = None
        self.ended: str | None = None  # why no more bytes can arrive

    def take_collected(self) -> bytes:
        data = bytes(self.collected)
        self.collected.clear()
        return data


@dataclass(frozen=True)
class Ceiling:
    """The most the load client counts per second, against a server that only floods."""

    deliveries_per_s: float
    megabytes_per_s: float
    connections: int

    def shown(self) -> str:
        return (
            f"load client ceiling: {self.deliveries_per_s:,.0f} deliveries/s "
            f"({self.megabytes_per_s:.0f} MB/s over {self.connections} connections)"
        )


class Progress:
    """A status line while a load check runs: in place on a terminal, else every few seconds."""

    def __init__(self, title: str, stream: TextIO | None = None) -> None:
        self.title = title
        self._stream = sys.stderr if stream is None else stream
        self._tty = self._stream.isatty()
        self._every = PROGRESS_SECONDS if self._tty else 5.0
        self._last = time.monotonic()  # the first line once there is something to show
        self._shown = False
        self._enabled = "PYTEST_XDIST_WORKER" not in os.environ  # workers have no terminal

    def show(self, text: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self._enabled or (not force and now - self._last < self._every):
            return
        self._last = now
        line = f"  {self.title}: {text}"
        if self._tty:
            self._stream.write("\r" + line[:150] + "\x1b[K")
            self._shown = True
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def done(self) -> None:
        if self._enabled and self._tty and self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False


class Fleet:
    """Many connections to one server, driven by one selector in the calling thread."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float,
        pattern: re.Pattern[bytes] | None = None,
        explain: Callable[[], str] = lambda: "",
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.pattern = pattern or re.compile(rb"(?!)")  # markers to count; default: none
        self.conns: list[Conn] = []
        self.delivered = 0  # markers found, all connections together
        self.last_activity = time.monotonic()
        self._explain = explain  # context for failures, e.g. "the server process has exited"
        self._selector = selectors.DefaultSelector()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for conn in self.conns:
            conn.sock.close()
        self._selector.close()

    # -- opening ---------------------------------------------------------------------------

    def open(
        self, labels: Sequence[tuple[str, str]], *, receive_buffer: int | None = None
    ) -> list[Conn]:
        """Start a non-blocking connect for each (label, name); all at once."""
        opened = []
        for label, name in labels:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if receive_buffer is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            conn = Conn(len(self.conns), label, name, sock)
            self.conns.append(conn)
            conn.connect_started = time.monotonic()
            status = sock.connect_ex((self.host, self.port))
            if status not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
                conn.ended = f"cannot connect: {os.strerror(status)}"
            else:
                self._watch(conn)
            opened.append(conn)
        return opened

    # -- sending ---------------------------------------------------------------------------

    def send(self, conn: Conn, data: bytes) -> None:
        """Queue ``data`` and hand the kernel what it takes now; the rest goes when writable."""
        conn.outgoing += data
        if conn.connected_at is not None:
            self._flush(conn, time.monotonic())
        self._watch(conn)

    def ping(self, conn: Conn, token: str) -> None:
        """Send ``PING token``; ``conn.pong_at`` is set when its PONG arrives (ORDER-1)."""
        conn.awaiting = f"PONG {token}\n".encode()
        conn.pong_at = None
        self.send(conn, f"PING {token}\n".encode())

    def _flush(self, conn: Conn, now: float) -> None:
        if not conn.outgoing or conn.ended is not None:
            return
        try:
            sent = conn.sock.send(conn.outgoing)
        except BlockingIOError:
            return
        except OSError as error:
            self._end(conn, f"could not send: {error.strerror or error}")
            return
        if sent:
            del conn.outgoing[:sent]
            conn.written += sent
            self.last_activity = now
            if conn.on_written is not None:
                conn.on_written(conn, now)

    def reset(self, conn: Conn) -> None:
        """Abort ``conn`` with a TCP reset (RST) instead of a FIN."""
        self._end(conn, "this client reset the connection")
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.sock.close()

    def half_close(self, conn: Conn) -> None:
        """Send a FIN (end of input for the server) but keep reading until the server closes."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError as error:
            self._end(conn, f"could not half-close: {error.strerror or error}")

    def close_ended(self, conns: Iterable[Conn]) -> None:
        """Close the sockets of connections that ended (they are no longer watched)."""
        for conn in conns:
            if conn.ended is not None:
                conn.sock.close()

    def stop_reading(self, conn: Conn) -> None:
        """Read nothing more from ``conn`` (a slow reader), until :meth:`resume_reading`."""
        conn.reading = False
        self._watch(conn)

    def resume_reading(self, conn: Conn) -> None:
        conn.reading = True
        self._watch(conn)

    def _watch(self, conn: Conn) -> None:
        """Register ``conn`` with the selector for what it waits for now."""
        mask = 0
        if conn.ended is None:
            if conn.reading and conn.connected_at is not None:
                mask |= _READ
            if conn.connected_at is None or conn.outgoing:
                mask |= _WRITE
        if mask == conn.mask:
            return
        if conn.mask == 0:
            self._selector.register(conn.sock, mask, conn)
        elif mask == 0:
            self._selector.unregister(conn.sock)
        else:
            self._selector.modify(conn.sock, mask, conn)
        conn.mask = mask

    # -- receiving -------------------------------------------------------------------------

    def _receive(self, conn: Conn, now: float) -> None:
        """Take one chunk and account for its complete lines (the hot path)."""
        try:
            chunk = conn.sock.recv(RECV_BYTES)
        except BlockingIOError:
            return
        except OSError as error:
            self._end(conn, f"the connection failed ({error.strerror or error})")
            return
        if not chunk:
            self._end(conn, "the server closed the connection")
            return
        self.last_activity = now
        conn.received_bytes += len(chunk)
        data = conn.carry + chunk if conn.carry else chunk
        cut = data.rfind(b"\n") + 1
        conn.carry = data[cut:]
        if len(conn.carry) > MAX_CARRY_BYTES:
            self._end(conn, f"the server sent more than {MAX_CARRY_BYTES} bytes without a LF")
            return
        if not cut:
            return
        found = self.pattern.findall(data, 0, cut)
        if found:
            conn.ids.extend(map(int, found))
            conn.marks.append(len(conn.ids))
            conn.times.append(now)
            self.delivered += len(found)
        lines = data.count(b"\n", 0, cut)
        if conn.awaiting is not None and data.find(conn.awaiting, 0, cut) >= 0:
            conn.awaiting = None
            conn.pong_at = now
            lines -= 1
        if conn.on_lines is not None:
            conn.collected += data[:cut]
            conn.on_lines(conn, now)
        elif lines > len(found):
            self._keep_other_lines(conn, data[:cut], lines - len(found))

    def _keep_other_lines(self, conn: Conn, data: bytes, count: int) -> None:
        """Count lines that are neither markers nor PONGs; keep the first few (rarely runs)."""
        conn.other_lines += count
        if len(conn.kept) < MAX_KEPT_LINES:
            for line in data.split(b"\n")[:-1]:
                if len(conn.kept) >= MAX_KEPT_LINES:
                    break
                if not self.pattern.search(line) and not line.startswith(b"PONG "):
                    conn.kept.append(line)

    def reset_counts(self) -> None:
        """Forget everything counted so far (registration traffic before a measurement)."""
        self.delivered = 0
        for conn in self.conns:
            conn.ids = array("q")
            conn.marks = array("q")
            conn.times = array("d")
            conn.other_lines = 0
            conn.kept.clear()

    def _end(self, conn: Conn, why: str) -> None:
        if conn.ended is None:
            conn.ended = why
            conn.outgoing.clear()
        self._watch(conn)

    def _connected(self, conn: Conn, now: float) -> None:
        status = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if status:
            self._end(conn, f"cannot connect: {os.strerror(status)}")
            return
        conn.connected_at = now
        self.last_activity = now
        self._flush(conn, now)
        self._watch(conn)

    # -- waiting ---------------------------------------------------------------------------

    def pump(
        self,
        done: Callable[[], bool],
        *,
        on_tick: Callable[[float], float | None] | None = None,
        stall: float | None = None,
        max_seconds: float = MAX_WAIT_SECONDS,
    ) -> bool:
        """Serve every connection until ``done()``; False on a stall or after ``max_seconds``.

        A stall is ``stall`` seconds (default: the timeout) without a byte received or sent.
        ``on_tick(now)`` runs every round (e.g. to send paced messages) and may return the
        longest the next wait may take.
        """
        limit = self.timeout if stall is None else stall
        give_up = time.monotonic() + max_seconds
        self.last_activity = time.monotonic()
        select = self._selector.select
        for _ in range(MAX_STEPS):
            now = time.monotonic()
            wait = TICK_SECONDS
            if on_tick is not None:
                wanted = on_tick(now)
                wait = wait if wanted is None else max(0.0, min(wait, wanted))
            if done():
                return True
            if now - self.last_activity > limit or now > give_up:
                return False
            for key, events in select(wait):
                conn = key.data
                now = time.monotonic()
                if conn.connected_at is None:
                    self._connected(conn, now)
                    continue
                if events & _READ:
                    self._receive(conn, now)
                if events & _WRITE and conn.ended is None:
                    self._flush(conn, now)
                    if not conn.outgoing:
                        self._watch(conn)
        return False

    def sync(self, conns: Iterable[Conn], token: str, *, stall: float | None = None) -> list[Conn]:
        """PING every connection and wait for every PONG; the connections that got none."""
        waiting = [conn for conn in conns if conn.ended is None]
        for conn in waiting:
            self.ping(conn, f"{token}-{conn.index}")
        self.pump(lambda: all(c.pong_at is not None or c.ended for c in waiting), stall=stall)
        return [conn for conn in waiting if conn.pong_at is None]

    def fail(self, conn: Conn | None, what: str) -> CheckFailure:
        """A CheckFailure about ``conn`` (or the fleet), with the server's status."""
        context = self._explain()
        who = f"{conn.label}: " if conn is not None else ""
        return CheckFailure(f"{who}{what}" + (f" ({context})" if context else ""))


def first_line(data: bytes | bytearray) -> bytes | None:
    end = data.find(b"\n")
    return None if end < 0 else bytes(data[:end])


def show_bytes(line: bytes) -> str:
    return '"' + shorten(escape(line)) + '"'


# -- registration -----------------------------------------------------------------------------


@dataclass
class Registration:
    """How a crowd's registration went, per connection (times in seconds since it started)."""

    started: float
    registered: list[Conn]
    refused: list[Conn]  # answered ERR server-full instead of HELLO (GREET-2)
    failed: list[tuple[Conn, str]]  # anything else: no HELLO, wrong line, closed, timeout
    welcome_times: list[float]  # per registered connection: connect to WELCOME


def register_all(
    fleet: Fleet, conns: Sequence[Conn], *, stall: float | None = None
) -> Registration:
    """Greet and register every connection at once: HELLO, then NAME, then WELCOME.

    Each connection sends its NAME as soon as its own HELLO arrives, so the server sees the
    connections and registrations of a whole crowd at the same time.
    """
    started = time.monotonic()
    result = Registration(started, [], [], [], [])
    pending = {conn.index for conn in conns if conn.ended is None}
    for conn in conns:
        if conn.ended is not None:
            result.failed.append((conn, conn.ended))
    state: dict[int, int] = dict.fromkeys(pending, 0)  # 0 waits for HELLO, 1 for WELCOME

    def finish(conn: Conn, outcome: str | None, now: float) -> None:
        conn.on_lines = None
        conn.collected.clear()
        pending.discard(conn.index)
        if outcome is None:
            result.registered.append(conn)
            result.welcome_times.append(now - conn.connect_started)
        elif outcome == "refused":
            result.refused.append(conn)
        else:
            result.failed.append((conn, outcome))

    def on_lines(conn: Conn, now: float) -> None:
        if state[conn.index] == 0:
            line = first_line(conn.collected) or b""
            if line.startswith(b"ERR server-full"):
                finish(conn, "refused", now)
                return
            if not HELLO.fullmatch(line):
                finish(conn, f'expected "HELLO linechat/1" first, got {show_bytes(line)}', now)
                return
            del conn.collected[: len(line) + 1]
            state[conn.index] = 1
            fleet.send(conn, f"NAME {conn.name}\n".encode())
        welcome = f"WELCOME {conn.name}\n".encode()
        found = conn.collected.find(welcome)
        if found == 0 or (found > 0 and conn.collected[found - 1] == ord("\n")):
            finish(conn, None, now)
        elif conn.collected.startswith(b"ERR ") or b"\nERR " in conn.collected:
            error = next(line for line in conn.collected.split(b"\n") if line.startswith(b"ERR "))
            finish(conn, f"NAME {conn.name} got {show_bytes(bytes(error))}", now)
        elif len(conn.collected) > MAX_CARRY_BYTES:
            finish(conn, "no WELCOME among the first megabyte of lines", now)

    for conn in conns:
        if conn.index in pending:
            conn.on_lines = on_lines
    fleet.pump(lambda: not pending or all(fleet.conns[i].ended for i in pending), stall=stall)
    for index in sorted(pending):
        conn = fleet.conns[index]
        stage = "HELLO" if state[index] == 0 else "WELCOME"
        finish(conn, conn.ended or f"no {stage} within {fleet.timeout:g} s", time.monotonic())
    return result


# -- the client's own ceiling -----------------------------------------------------------------

CEILING_SECONDS = 1.0  # how long the flood server floods
CEILING_BLOCK_BYTES = 1 << 18


def measure_ceiling(connections: int, text_bytes: int) -> Ceiling:
    """How many marker lines per second this client counts when a server only floods.

    A thread serves ``connections`` connections on 127.0.0.1 with pre-built relayed lines
    (same shape and size as a load run's), as fast as the kernel takes them, for about a
    second; the client reads them through the same :class:`Fleet` receive path.
    """
    nonce = "ceil00"
    width = 7
    pattern = marker_pattern(nonce)
    text = marker(nonce, 1234567, width)
    line = b"MSG load123 " + text + b" " + b"x" * max(0, text_bytes - len(text) - 1) + b"\n"
    block = line * max(1, CEILING_BLOCK_BYTES // len(line))
    with socket.create_server(("127.0.0.1", 0), backlog=connections) as listener:
        port = listener.getsockname()[1]
        stop = threading.Event()
        flooder = threading.Thread(
            target=_flood, args=(listener, connections, block, stop), daemon=True
        )
        flooder.start()
        with Fleet("127.0.0.1", port, timeout=5.0, pattern=pattern) as fleet:
            conns = fleet.open([(f"flood{n}", "") for n in range(connections)])
            fleet.pump(lambda: all(c.connected_at or c.ended for c in conns), stall=5.0)
            fleet.reset_counts()
            started = time.monotonic()
            received_before = sum(c.received_bytes for c in conns)
            fleet.pump(lambda: time.monotonic() - started >= CEILING_SECONDS, stall=5.0)
            elapsed = time.monotonic() - started
            received = sum(c.received_bytes for c in conns) - received_before
            stop.set()
            counted = fleet.delivered
        flooder.join(timeout=5.0)
    return Ceiling(counted / elapsed, received / elapsed / 1e6, connections)


def _flood(listener: socket.socket, count: int, block: bytes, stop: threading.Event) -> None:
    """Accept ``count`` connections, then write ``block`` to each until ``stop`` is set."""
    listener.settimeout(5.0)
    accepted: list[socket.socket] = []
    try:
        for _ in range(count):
            sock, _address = listener.accept()
            sock.setblocking(False)
            accepted.append(sock)
        with selectors.DefaultSelector() as selector:
            for sock in accepted:
                selector.register(sock, _WRITE, sock)
            deadline = time.monotonic() + CEILING_SECONDS * 10
            while not stop.is_set() and time.monotonic() < deadline:
                for key, _events in selector.select(TICK_SECONDS):
                    try:
                        key.data.send(block)
                    except (BlockingIOError, OSError):
                        continue
    except OSError:
        return
    finally:
        for sock in accepted:
            sock.close()
