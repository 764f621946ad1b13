"""A small blocking linechat/1 client library: a thin I/O shell around ``codec.ClientConnection``.

Theory of operation
-------------------
One socket and one daemon receiver thread per client. The receiver thread is the only reader:
it feeds bytes to the codec and sorts every line that comes out into one of two places.

- A *reply* goes to the call waiting for it. The server answers each connection's commands in
  order (ORDER-1), so the waiting calls form a FIFO: ``register()`` takes WELCOME or ERR,
  ``who()`` takes USER lines up to END WHO, ``ping()`` takes PONG with its token, ``exit()``
  takes BYE. ``say()`` waits for nothing, but an ERR it causes (``text-invalid``,
  ``not-registered``) still arrives in FIFO order, so sent messages hold a place in the FIFO
  too: an ERR reaching that place is theirs (and becomes an ``Error`` event), any other reply
  shows they caused none. A call that timed out keeps its place, so its late reply is
  swallowed instead of being mistaken for the next call's.
- Everything else (JOIN, LEAVE, MSG relays, unrequested ERR and BYE, ``Malformed`` lines, and
  ``Closed`` last) is an *event*: queued for ``next_event()`` / ``events()``, or handed to the
  ``on_event()`` callback on the receiver thread.

Sending is serialised by one lock so that the FIFO order is the order on the wire; the
receiver never takes that lock, so a blocked send cannot stop replies from being read. Every
wait is bounded by a timeout (default: the one given to ``connect()``) and raises TimeoutError.
When the connection ends, every waiting call is woken with ConnectionLost.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final

from . import codec
from .codec import (
    Bye,
    Closed,
    EndWho,
    Error,
    ErrorCode,
    Exit,
    Hello,
    Msg,
    Name,
    Ping,
    Pong,
    ProtocolError,
    User,
    Welcome,
    Who,
)

__all__ = [
    "ChatClient",
    "ChatError",
    "ConnectionLost",
    "Event",
    "Malformed",
    "NameInvalid",
    "NameTaken",
    "ServerFull",
]

log = logging.getLogger("linechat.client")

DEFAULT_TIMEOUT: Final = 10.0
RECV_SIZE: Final = 65536


class ChatError(Exception):
    """Something the server refused, or the connection failed. ``code`` is the ERR code."""

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.code = code


class NameTaken(ChatError):
    """``ERR name-taken``: another client has that name (compared case-insensitively)."""


class NameInvalid(ChatError):
    """The name is not 1 to 32 letters, digits, ``_``, ``-`` or ``.`` (``ERR name-invalid``)."""


class ServerFull(ChatError):
    """``ERR server-full`` instead of HELLO: the server is at its client limit."""


class ConnectionLost(ChatError):
    """The server is unreachable, closed or reset the connection, or is not linechat/1."""


@dataclass(frozen=True, slots=True)
class Malformed:
    """A line from the server that is not valid linechat/1; ``detail`` says why.

    The line itself is dropped (it may hold terminal escapes or be over-long); ``detail`` is
    the codec's description, in which the offending text appears only as a Python repr.
    """

    detail: str


Event = codec.ServerEvent | Malformed | Closed
"""What ``next_event()`` returns and the ``on_event()`` callback receives."""

EventCallback = Callable[[Event], None]

_REPLIES: Final = (Welcome, Error, User, EndWho, Pong, Bye)


def _server_error(event: Error) -> ChatError:
    message = event.code.value if event.text is None else f"{event.code.value}: {event.text}"
    kind = {ErrorCode.NAME_TAKEN: NameTaken, ErrorCode.NAME_INVALID: NameInvalid}
    return kind.get(event.code, ChatError)(message, event.code)


@dataclass(eq=False)
class _Request:
    """One command waiting for its reply (NAME, WHO, PING or EXIT)."""

    command: Name | Who | Ping | Exit
    users: list[str] = field(default_factory=list)
    reply: codec.ServerEvent | None = None
    answered_at: float = 0.0
    lost: bool = False

    def offer(self, event: codec.ServerEvent) -> bool:
        """Take ``event`` if it is (part of) this request's reply; True if taken."""
        match self.command, event:
            case Name(), Welcome() | Error():
                self.reply = event
            case Who(), User(name):
                self.users.append(name)
                return True
            case Who(), EndWho():
                self.reply = event
            case Ping(token), Pong(answer) if answer == token:
                self.reply = event
            case Exit(), Bye():
                self.reply = event
            case _:
                return False
        self.answered_at = time.monotonic()
        return True

    @property
    def done(self) -> bool:
        return self.reply is not None or self.lost


@dataclass(eq=False)
class _SentMessages:
    """Consecutive ``say()`` calls: each may draw one ERR, and nothing when it succeeds."""

    count: int = 1


class ChatClient:
    """A connection to a linechat/1 server. Build it with ``ChatClient.connect()``."""

    def __init__(
        self,
        sock: socket.socket,
        protocol: codec.ClientConnection,
        hello: Hello,
        timeout: float,
    ) -> None:
        """Use ``connect()``: this takes a socket on which HELLO has already been read."""
        sock.settimeout(timeout)  # bounds every send; the receiver just reads again
        self._sock = sock
        self._protocol = protocol
        self.hello = hello
        self.timeout = timeout
        self.name: str | None = None
        self._send_lock = threading.Lock()  # FIFO order = wire order
        self._dispatch_lock = threading.RLock()  # callbacks see events in order
        self._cond = threading.Condition()  # guards everything below
        self._pending: collections.deque[_Request | _SentMessages] = collections.deque()
        self._events: collections.deque[Event] = collections.deque()
        self._callback: EventCallback | None = None
        self._connected = True
        self._closing = False
        self._tokens = itertools.count(1)
        self._receiver = threading.Thread(
            target=self._receive, name="linechat-client-receiver", daemon=True
        )
        self._receiver.start()

    # -- connecting and closing

    @classmethod
    def connect(
        cls, host: str = "127.0.0.1", port: int = 7777, timeout: float = DEFAULT_TIMEOUT
    ) -> ChatClient:
        """Open a connection and read HELLO.

        Raises ServerFull on ``ERR server-full``, ConnectionLost when the server cannot be
        reached, closes, or does not greet with ``HELLO linechat/1``, and TimeoutError when no
        greeting arrives within ``timeout`` seconds.
        """
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except TimeoutError:
            raise  # a bounded wait that expired, like every other one here
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ConnectionLost(f"cannot connect to {host}:{port}: {reason}") from None
        try:
            protocol = codec.ClientConnection()
            hello = _read_hello(sock, protocol, f"{host}:{port}", time.monotonic() + timeout)
        except BaseException:
            sock.close()
            raise
        return cls(sock, protocol, hello, timeout)

    def close(self) -> None:
        """Close the connection without EXIT (the server announces a disconnect). Idempotent."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the receiver thread
        if threading.current_thread() is not self._receiver:
            self._receiver.join(self.timeout)
        self._sock.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Leave with EXIT if still connected, then close."""
        if self.connected and threading.current_thread() is not self._receiver:
            with contextlib.suppress(ChatError, TimeoutError):
                self.exit()
        self.close()

    @property
    def connected(self) -> bool:
        """False once the connection has ended or ``close()`` was called."""
        with self._cond:
            return self._connected and not self._closing

    # -- commands

    def register(self, name: str, timeout: float | None = None) -> str:
        """Send ``NAME name``; return the name the server welcomed.

        Raises NameInvalid without asking the server when the name breaks NAME-2, NameTaken,
        NameInvalid or ChatError when the server refuses it.
        """
        try:
            command = Name(name)
        except ProtocolError:
            raise NameInvalid(f"invalid name {name!r}", ErrorCode.NAME_INVALID) from None
        reply = self._request(command, timeout).reply
        if isinstance(reply, Error):
            raise _server_error(reply)
        assert isinstance(reply, Welcome)
        with self._cond:
            self.name = reply.name
        return reply.name

    def say(self, text: str) -> None:
        """Send ``MSG text``. There is no reply; an ERR it causes later is an ``Error`` event.

        Raises ChatError (code text-invalid or line-too-long) without sending when the text
        cannot be sent at all.
        """
        problem = codec.text_problem(text)
        if problem:
            raise ChatError(f"text-invalid: {problem}", ErrorCode.TEXT_INVALID)
        try:
            data = codec.encode(Msg(text))
        except ProtocolError as exc:
            raise ChatError(f"line-too-long: {exc}", ErrorCode.LINE_TOO_LONG) from None
        with self._send_lock:
            with self._cond:
                self._check_connected()
                tail = self._pending[-1] if self._pending else None
                if isinstance(tail, _SentMessages):
                    tail.count += 1
                else:
                    self._pending.append(_SentMessages())
            self._send(data)

    def who(self, timeout: float | None = None) -> list[str]:
        """Send ``WHO``; return the registered names, in the server's order."""
        return self._request(Who(), timeout).users

    def ping(self, token: str | None = None, timeout: float | None = None) -> float:
        """Send ``PING token`` and wait for the matching PONG; return the round trip in seconds.

        Everything the server sent before the PONG has been received by then (ORDER-1), which
        makes ping() the way to wait until earlier lines have arrived. Without a token a unique
        one is used.
        """
        command = Ping(token if token is not None else f"p{next(self._tokens)}")
        started = time.monotonic()
        request = self._request(command, timeout)
        return request.answered_at - started

    def exit(self, timeout: float | None = None) -> None:
        """Send ``EXIT``, wait for BYE, and close.

        Raises ConnectionLost if the connection ends before BYE (it is closed all the same).
        """
        try:
            self._request(Exit(), timeout)
        finally:
            self.close()

    # -- events

    def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event (JOIN, LEAVE, MSG relay, ERR, BYE, Malformed or Closed), or None if
        none arrives within ``timeout``. Once the connection has ended, every call returns
        Closed after the queued events."""
        deadline = time.monotonic() + self._timeout(timeout)
        with self._cond:
            while not self._events:
                if not self._connected:
                    return Closed()
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._events.popleft()

    def events(self) -> Iterator[codec.ServerEvent | Malformed]:
        """Every event until the connection ends (Closed itself is not yielded)."""
        while True:
            event = self.next_event()
            if isinstance(event, Closed):
                return
            if event is not None:
                yield event

    def on_event(self, callback: EventCallback | None) -> None:
        """Hand every event to ``callback(event)`` instead of queueing it (None: queue again).

        Events queued before this call are handed over first, on the calling thread; later
        ones on the receiver thread, in order. The callback may call ``say()`` and ``close()``
        but must not wait for a reply: the receiver thread it runs on would deliver it.
        """
        with self._dispatch_lock:
            with self._cond:
                self._callback = callback
                backlog = list(self._events)
                if callback is None:
                    return
                self._events.clear()
            for event in backlog:
                self._call(callback, event)

    # -- internals

    def _timeout(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else timeout

    def _check_connected(self) -> None:
        if not self._connected or self._closing:
            raise ConnectionLost("not connected")

    def _send(self, data: bytes) -> None:
        """Write ``data`` (caller holds the send lock). A send that fails or times out may
        have written part of a line, so it ends the connection."""
        try:
            self._sock.sendall(data)
        except OSError as exc:
            self.close()
            if isinstance(exc, socket.timeout):
                raise TimeoutError(f"send did not complete within {self.timeout} s") from None
            raise ConnectionLost(f"send failed: {exc.strerror or exc}") from None

    def _request(self, command: Name | Who | Ping | Exit, timeout: float | None) -> _Request:
        """Send ``command`` and wait (bounded) until the receiver thread hands it its reply."""
        if threading.current_thread() is self._receiver:
            raise RuntimeError("an event callback cannot wait for a reply")
        request = _Request(command)
        with self._send_lock:
            with self._cond:
                self._check_connected()
                self._pending.append(request)
            self._send(codec.encode(command))
        deadline = time.monotonic() + self._timeout(timeout)
        with self._cond:
            while not request.done:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no reply to {command!r} within {self._timeout(timeout)} s")
                self._cond.wait(left)
        if request.reply is None:
            raise ConnectionLost("connection closed before the reply")
        return request

    def _receive(self) -> None:
        """The receiver thread: read, parse, route; until the stream ends."""
        while True:
            for event in self._parsed_events():
                self._dispatch(event)
                if isinstance(event, Closed):
                    return
            try:
                data = self._sock.recv(RECV_SIZE)
            except TimeoutError:
                with self._cond:
                    if not self._closing:
                        continue
                data = b""
            except OSError:
                data = b""
            self._protocol.receive_data(data)

    def _parsed_events(self) -> Iterator[Event]:
        while True:
            try:
                event = self._protocol.next_event()
            except ProtocolError as exc:
                yield Malformed(str(exc))
                continue
            if event is None:
                return
            yield event

    def _dispatch(self, event: Event) -> None:
        """Route one event: to its waiting request, else to the queue or callback."""
        with self._dispatch_lock:
            with self._cond:
                if isinstance(event, _REPLIES) and self._route(event):
                    return
                if isinstance(event, Closed):
                    self._connection_ended()
                callback = self._callback
                if callback is None:
                    self._events.append(event)
                    self._cond.notify_all()
            if callback is not None:
                self._call(callback, event)

    def _route(self, event: codec.ServerEvent) -> bool:
        """Give a reply line to the request at the head of the FIFO; False if it is none's."""
        while self._pending:
            head = self._pending[0]
            if isinstance(head, _SentMessages):
                if isinstance(event, Error):  # the reply of one of these messages: an event
                    head.count -= 1
                    if not head.count:
                        self._pending.popleft()
                    return False
                self._pending.popleft()  # a later reply: those messages drew no ERR
                continue
            if not head.offer(event):
                return False
            if head.done:
                self._pending.popleft()
                self._cond.notify_all()
            return True
        return False

    def _connection_ended(self) -> None:
        self._connected = False
        for request in self._pending:
            if isinstance(request, _Request):
                request.lost = True
        self._pending.clear()
        self._cond.notify_all()

    @staticmethod
    def _call(callback: EventCallback, event: Event) -> None:
        try:
            callback(event)
        except Exception:  # a buggy callback must not end the receiver thread
            log.exception("event callback failed on %r", event)


def _read_hello(
    sock: socket.socket, protocol: codec.ClientConnection, peer: str, deadline: float
) -> Hello:
    """Read the server's first line: HELLO, or ERR server-full, or anything else (lost)."""
    while True:
        try:
            event = protocol.next_event()
        except ProtocolError:
            raise ConnectionLost(f"{peer} is not a linechat/1 server") from None
        match event:
            case Hello():
                return event
            case Error(code=ErrorCode.SERVER_FULL):
                raise ServerFull(f"{peer} is full", ErrorCode.SERVER_FULL)
            case Closed():
                raise ConnectionLost(f"{peer} closed the connection before HELLO")
            case None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no HELLO from {peer}")
                sock.settimeout(left)
                try:
                    protocol.receive_data(sock.recv(RECV_SIZE))
                except TimeoutError:
                    raise TimeoutError(f"no HELLO from {peer}") from None
                except OSError as exc:
                    raise ConnectionLost(f"{peer}: {exc.strerror or exc}") from None
            case _:
                raise ConnectionLost(f"{peer} sent {event!r} instead of HELLO")
