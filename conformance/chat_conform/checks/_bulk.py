"""Bulk clients, for checks that open hundreds of connections or move megabytes of lines.

The framework's :class:`~chat_conform.wire.Client` reads one line at a time and writes every
line to the transcript: right for a conversation, far too slow for 1000 connections or 5000
lines of 4 KB. A :class:`Link` is a non-blocking connection that keeps what it receives as
bytes; a :class:`Crowd` reads many links at once through one selector. Checks then search and
count those bytes (``bytes.find``, ``bytes.count``, one ``split``) instead of looping over
lines in Python. The transcript gets one note per step, not one event per line.

Every wait is bounded twice: it fails when none of the awaited links receives anything for the
check's timeout (a slow server that makes progress still passes), and after
``MAX_WAIT_SECONDS`` in any case. Leaving the ``with Crowd(chat)`` block closes every link.
"""

from __future__ import annotations

import itertools
import re
import selectors
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import NoReturn

from chat_conform.session import Chat
from chat_conform.wire import NOTE, RECEIVED, SENT, CheckFailure, escape, shorten, show

RECV_BYTES = 1 << 18
MAX_WAIT_SECONDS = 120.0  # no bulk wait lasts longer, however steady the progress
MAX_WAIT_STEPS = 10_000_000  # selector rounds per wait: a bound besides the clock
HELLO = re.compile(rb"HELLO linechat/1(?: .*)?")
_RELAYED = re.compile(rb"(?:JOIN|LEAVE|MSG) (\S+)(?: .*)?", re.DOTALL)


class Link:
    """One raw connection of a :class:`Crowd`, read in bulk.

    ``received`` holds the bytes that arrived since the last :meth:`Crowd.sync`; ``inbox``
    the complete lines that arrived before the PONGs of the syncs so far.
    """

    def __init__(
        self, sock: socket.socket, label: str, name: str, chat: Chat, *, recorded: bool
    ) -> None:
        self.sock = sock
        self.label = label
        self.name = name
        self.received = bytearray()
        self.inbox: list[bytes] = []
        self.ended: str | None = None  # why no more bytes can arrive
        self._chat = chat
        self._recorded = recorded  # whether its traffic goes into the transcript
        self._tokens = itertools.count(1)

    # -- sending -------------------------------------------------------------------------

    def send(self, data: bytes, *, shown: str | None = None) -> None:
        """Send all of ``data``, waiting for the socket to drain at most the timeout.

        ``shown`` is what the transcript says (default: the bytes, shortened).
        """
        self.record(SENT, shown or "(raw) " + shorten(escape(data)))
        view = memoryview(data)
        deadline = time.monotonic() + self._chat.timeout
        while view:
            sent = self.try_send(view)
            view = view[sent:]
            if view and not sent and not _writable(self.sock, deadline - time.monotonic()):
                self.fail(f"could not send for {self._chat.timeout:g} s: the server reads nothing")

    def send_lines(self, lines: Sequence[str]) -> None:
        """Send ``lines``, each with its LF, UTF-8 encoded, in one write."""
        shown = lines[0] if len(lines) == 1 else f"({len(lines)} lines in one write) {lines[0]} …"
        self.send("".join(f"{line}\n" for line in lines).encode("utf-8"), shown=shown)

    def try_send(self, data: bytes | memoryview) -> int:
        """Send what the kernel takes now, without waiting; the number of bytes sent."""
        try:
            return self.sock.send(data)
        except BlockingIOError:
            return 0
        except OSError as error:
            self.fail(f"could not send: {error.strerror or error}")

    def send_ping(self) -> bytes:
        """Send a PING with a token unique to this link; return the PONG line to wait for."""
        token = f"bulk-{next(self._tokens)}"
        self.send_lines([f"PING {token}"])
        return f"PONG {token}".encode()

    def half_close(self) -> None:
        """Send a FIN (end of input for the server) but keep reading."""
        self.record(NOTE, "half-closes the connection (FIN)")
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as error:
            self.fail(f"could not half-close: {error.strerror or error}")

    # -- receiving -----------------------------------------------------------------------

    def receive(self) -> int:
        """Take what the kernel holds, without waiting; the number of bytes taken."""
        taken = 0
        while self.ended is None:
            try:
                data = self.sock.recv(RECV_BYTES)
            except BlockingIOError:
                break
            except OSError as error:
                self._end(f"the connection failed ({error.strerror or error})")
                break
            if not data:
                self._end("the server closed the connection")
                break
            self.received += data
            taken += len(data)
        return taken

    def record_received(self, line: bytes | str) -> None:
        """Put a received line (or a summary of many) in the transcript."""
        self.record(RECEIVED, line if isinstance(line, str) else shorten(escape(line)))

    def record(self, direction: str, text: str) -> None:
        """Put an event in the transcript, unless this link's traffic is not recorded."""
        if self._recorded:
            self._chat.transcript.record(self.label, direction, text)

    def _end(self, why: str) -> None:
        self.ended = why
        self.record(NOTE, why)

    def find_line(self, line: bytes) -> int:
        """Where the first complete line equal to ``line`` starts in ``received``, or -1."""
        wanted = line + b"\n"
        index = self.received.find(wanted)
        while index > 0 and self.received[index - 1] != ord("\n"):
            index = self.received.find(wanted, index + 1)
        return index

    def has_line(self, line: bytes) -> bool:
        return self.find_line(line) >= 0

    def line_starting(self, prefix: bytes) -> bytes | None:
        """The first complete line in ``received`` that starts with ``prefix``, or None."""
        return line_starting(self.received, prefix)

    def first_line(self) -> bytes | None:
        """The first complete line in ``received``, or None."""
        end = self.received.find(b"\n")
        return None if end < 0 else bytes(self.received[:end])

    # -- failing -------------------------------------------------------------------------

    def fail(self, what: str) -> NoReturn:
        """Raise a CheckFailure about this link (saying so if the server process is gone)."""
        server = self._chat.server
        status = None if server is None else server.exit_status()
        context = "" if status is None else f" (the server process has exited: status {status})"
        raise CheckFailure(f"{self.label}: {what}{context}")

    def close(self) -> None:
        self.sock.close()


def _writable(sock: socket.socket, timeout: float) -> bool:
    if timeout <= 0:
        return False
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_WRITE)
        return bool(selector.select(timeout))


class Crowd:
    """The bulk connections of one check: opened, read together, and closed at the end."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat
        self.links: list[Link] = []
        self._names: set[bytes] = set()

    def __enter__(self) -> Crowd:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for link in self.links:
            link.close()

    # -- opening -------------------------------------------------------------------------

    def connect(
        self, label: str, *, receive_buffer: int | None = None, recorded: bool = True
    ) -> Link:
        """A new connection that has read nothing yet.

        ``receive_buffer`` (SO_RCVBUF, set before connecting) keeps a client that does not
        read from absorbing megabytes in its kernel: the server must then buffer them itself.
        ``recorded=False`` keeps its traffic out of the transcript (for crowds of hundreds).
        """
        name = self.chat.name(label)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        link = Link(sock, label, name, self.chat, recorded=recorded)
        link.record(NOTE, f"connects to {self.chat.host}:{self.chat.port}")
        self.links.append(link)
        self._names.add(name.encode("utf-8"))
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(self.chat.timeout)
        try:
            sock.connect((self.chat.host, self.chat.port))
        except OSError as error:
            link.fail(f"cannot connect: {error.strerror or error}")
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return link

    def greet(self, links: Sequence[Link]) -> None:
        """Each link's first line must be ``HELLO linechat/1`` [text] (GREET-1)."""
        self.read_until(links, lambda link: b"\n" in link.received, expecting='"HELLO linechat/1"')
        for link in links:
            first = link.first_line() or b""
            link.record_received(first)
            if not HELLO.fullmatch(first):
                link.fail(f'expected "HELLO linechat/1" [text] first, got {show_bytes(first)}')

    def register(self, links: Sequence[Link]) -> None:
        """Send NAME on every link at once, then wait for every ``WELCOME <name>``."""
        for link in links:
            link.send_lines([f"NAME {link.name}"])
        welcomes = {link: f"WELCOME {link.name}".encode() for link in links}
        self.read_until(links, lambda link: link.has_line(welcomes[link]), expecting="its WELCOME")
        for link in links:
            link.record_received(welcomes[link])

    def open_registered(self, labels: Iterable[str]) -> list[Link]:
        """Connected, greeted and registered links, with nothing left unread (a quiet start)."""
        return self.settle([self.connect(label) for label in labels])

    def settle(self, links: list[Link]) -> list[Link]:
        """Greet and register new ``links`` and read everything sent to them (a quiet start)."""
        self.greet(links)
        self.register(links)
        self.sync(links)
        for link in links:
            link.inbox.clear()
        return links

    # -- reading -------------------------------------------------------------------------

    def read_until(
        self, links: Sequence[Link], done: Callable[[Link], bool], *, expecting: str
    ) -> None:
        """Read all ``links`` until ``done(link)`` holds for each of them.

        Fails when an awaited link is closed, or when the awaited links together receive
        nothing for the timeout.
        """
        waiting = [link for link in links if not done(link)]
        if not waiting:
            return
        timeout = self.chat.timeout
        now = time.monotonic()
        last_progress, give_up = now, now + MAX_WAIT_SECONDS
        with selectors.DefaultSelector() as selector:
            for link in waiting:
                selector.register(link.sock, selectors.EVENT_READ, link)
            for _ in range(MAX_WAIT_STEPS):
                now = time.monotonic()
                if now - last_progress > timeout or now > give_up:
                    break
                for key, _ in selector.select(min(timeout, give_up - now)):
                    link = key.data
                    if link.receive():
                        last_progress = time.monotonic()
                    if done(link):
                        selector.unregister(link.sock)
                        waiting.remove(link)
                    elif link.ended is not None:
                        link.fail(f"expected {expecting}, but {link.ended}")
                if not waiting:
                    return
        late = waiting[0]
        others = f" (and {len(waiting) - 1} other connections)" if len(waiting) > 1 else ""
        last = _last_line(late.received)
        got = f" (the last line so far: {show_bytes(last)})" if late.received else ""
        late.fail(f"expected {expecting}{others}, but nothing arrived within {timeout:g} s{got}")

    def sync(self, links: Sequence[Link]) -> None:
        """Round trip a unique PING on every link; move the lines before each PONG to its inbox.

        By ORDER-1 the inbox then holds everything the server queued to the link before it
        processed the PING.
        """
        pongs = {link: link.send_ping() for link in links}
        self.read_until(links, lambda link: link.has_line(pongs[link]), expecting="its PONG")
        for link in links:
            end = link.find_line(pongs[link])
            lines = bytes(link.received[:end]).split(b"\n")[:-1]
            del link.received[: end + len(pongs[link]) + 1]
            link.inbox += lines
            if lines:
                link.record_received(f"({len(lines)} lines) … {show_bytes(lines[-1])}")
            link.record_received(pongs[link])

    def collect(self, links: Sequence[Link]) -> dict[Link, list[bytes]]:
        """:meth:`sync`, then take each link's inbox (lines about other checks' clients dropped)."""
        self.sync(links)
        collected = {}
        for link in links:
            collected[link] = [line for line in link.inbox if not self.is_foreign(line)]
            link.inbox.clear()
        return collected

    def is_foreign(self, line: bytes) -> bool:
        """On a shared server: a JOIN, LEAVE or MSG line about a client of another check."""
        if not self.chat.shared:
            return False
        relayed = _RELAYED.fullmatch(line)
        return relayed is not None and relayed.group(1) not in self._names


def line_starting(data: bytes | bytearray, prefix: bytes) -> bytes | None:
    """The first complete line of ``data`` (which starts a line) that starts with ``prefix``."""
    if data.startswith(prefix):
        start = 0
    else:
        found = data.find(b"\n" + prefix)
        if found < 0:
            return None
        start = found + 1
    end = data.find(b"\n", start)
    return None if end < 0 else bytes(data[start:end])


def _last_line(data: bytearray) -> bytes:
    return bytes(data).rstrip(b"\n").rpartition(b"\n")[2]


def show_bytes(line: bytes) -> str:
    """A received line, quoted and escaped for a failure message."""
    return show(line.decode("utf-8", errors="surrogateescape"))
