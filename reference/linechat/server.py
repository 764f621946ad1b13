"""The linechat/1 reference server: socket + threading, around the sans-IO codec.

Design (why it is correct under load, bad input and faults)
-----------------------------------------------------------
- One reader thread per connection. It owns its socket: only it reads, and only it closes.
  It feeds bytes to a ``codec.ServerConnection`` and carries out the commands that come out,
  in order (ORDER-1). A misbehaving client can only end its own thread, never another's.
- One ``Room`` lock makes registration, broadcast and leave atomic. Under it a broadcast only
  *appends bytes* to each receiver's ``Outbox``: every receiver therefore sees one common
  order (ORDER-4), and no socket call ever happens while the lock is held, so no client's
  slowness can reach another (LOAD-3).
- An ``Outbox`` is a byte buffer with one owner at a time. The thread whose append turns it
  from empty to non-empty sends it right away, without blocking; whatever the kernel does not
  take is handed to the one shared ``Writer`` thread, which sends it when the socket becomes
  writable. Lines that pile up meanwhile are sent together (coalescing) and there is no
  writer thread parked per client.
- Memory is bounded: a receiver whose unsent output exceeds ``max_output`` is dropped with
  ``LEAVE <name> kicked`` (LOAD-4).

Methods for the caller: ``serve_forever()``, ``shutdown()`` (from any thread or a signal
handler), ``server_close()``; or use ``running_server()`` for tests.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType

from . import codec
from .codec import (
    Bye,
    Closed,
    EndWho,
    Error,
    ErrorCode,
    Exit,
    Hello,
    Join,
    Leave,
    LeaveReason,
    Msg,
    Name,
    Ping,
    Pong,
    Reject,
    Relay,
    User,
    Welcome,
    Who,
    encode,
    name_key,
)

__all__ = ["ChatServer", "ServerConfig", "main", "running_server"]

log = logging.getLogger("linechat.server")

HELLO_TEXT = "linechat-reference"
RECV_SIZE = 65536
LINGER_SECONDS = 2.0
"""How long a closing connection is drained of input so that its BYE is not lost to a RST."""

_ReaderSelector: type[selectors.BaseSelector] = getattr(
    selectors, "PollSelector", selectors.SelectSelector
)


@dataclass(frozen=True)
class ServerConfig:
    """Everything that can be tuned; the defaults are what ``linechat-server`` uses."""

    host: str = "127.0.0.1"
    port: int = 7777
    max_clients: int = 1000
    max_output: int = 1 << 20
    """Unsent bytes a receiver may have before it is kicked (LOAD-4 requires >= 64 KiB)."""
    idle_timeout: float | None = None
    """Seconds a registered client may stay silent before LEAVE <name> timeout (LIFE-2)."""
    register_timeout: float | None = None
    """Seconds a connection may stay unregistered before it is closed."""

    def __post_init__(self) -> None:
        if self.max_output < 64 * 1024:
            raise ValueError("max_output must be at least 64 KiB (LOAD-4)")
        if self.max_clients < 1:
            raise ValueError("max_clients must be at least 1")


class Outbox:
    """One connection's unsent output: a FIFO byte stream, sent only by the ``Writer``.

    Any thread may ``append()``; the box's own small lock guards it and is never held across
    a blocking call (sends are non-blocking). Lines appended while a send is pending are sent
    together with it in one system call (coalescing).
    """

    def __init__(self, sock: socket.socket, limit: int) -> None:
        self.sock = sock
        self.limit = limit
        self._lock = threading.Lock()
        self._data = bytearray()
        self._closing = False  # shut the socket down once drained
        self._shutdown_how = socket.SHUT_WR
        self.dead = False  # nothing more will ever be sent
        self.drained = threading.Event()  # meaningful once closing: set when all is sent
        self.drained.set()

    def append(self, data: bytes) -> bool | None:
        """Queue ``data``. True: the box was empty, so the caller must ``submit`` it to the
        writer; False: nothing to do; None: over the limit, the caller must kick its client."""
        with self._lock:
            if self.dead or self._closing:
                return False
            was_empty = not self._data
            self._data += data
            if len(self._data) > self.limit:
                return None
            return was_empty

    @property
    def pending(self) -> int:
        return len(self._data)

    @property
    def closing(self) -> bool:
        """The server is ending this connection: nothing more it sends is processed."""
        return self._closing or self.dead

    def flush(self) -> bool:
        """Send what the kernel takes now, without blocking. True if a backlog remains."""
        with self._lock:
            while self._data and not self.dead:
                try:
                    sent = self.sock.send(self._data)
                except (BlockingIOError, InterruptedError):
                    return True
                except OSError:
                    self._kill()  # the reader thread sees the broken socket and says LEAVE
                    return False
                del self._data[:sent]
            if not self.dead:
                self._on_drained()
            return False

    def close_when_drained(self, last: bytes | None = None, *, wake_reader: bool = False) -> bool:
        """Queue ``last`` (a BYE) and shut the socket down once everything is sent: the write
        side only (the reader drains input until the peer closes), or both sides when the
        server, not the peer, ends the connection (``wake_reader``). True: ``submit`` it."""
        with self._lock:
            if self.dead or self._closing:
                return False
            if last:
                self._data += last
            self._closing = True
            self._shutdown_how = socket.SHUT_RDWR if wake_reader else socket.SHUT_WR
            if not self._data:
                self._on_drained()
                return False
            self.drained.clear()
            return True

    def discard(self) -> None:
        """Drop everything unsent and stop sending (a kicked or broken connection)."""
        with self._lock:
            self._kill()

    def _kill(self) -> None:
        self.dead = True
        self._data.clear()
        self.drained.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader thread

    def _on_drained(self) -> None:
        if self._closing:
            self.dead = True
            with contextlib.suppress(OSError):
                self.sock.shutdown(self._shutdown_how)
            self.drained.set()


class Writer(threading.Thread):
    """The one thread that sends. Other threads only append to outboxes and ``submit`` the
    ones that were empty; under load many lines then leave in one send per client, and no
    thread is woken per delivery. Backlogged sockets are watched until writable. The writer
    also runs the periodic timeout check, so no thread sleeps per connection."""

    def __init__(self, tick: Callable[[], None], tick_interval: float | None) -> None:
        super().__init__(name="linechat-writer", daemon=True)
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._submitted: list[Outbox] = []
        self._lock = threading.Lock()
        self._stopping = False
        self._tick = tick
        self._tick_interval = tick_interval

    def submit(self, boxes: list[Outbox]) -> None:
        if not boxes:
            return
        with self._lock:
            idle = not self._submitted
            self._submitted.extend(boxes)
        if idle:  # one wake-up per batch, not per box
            self._wake()

    def stop(self) -> None:
        self._stopping = True
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def run(self) -> None:
        next_tick = time.monotonic() + (self._tick_interval or 0)
        try:
            while not self._stopping:
                timeout = None
                if self._tick_interval is not None:
                    timeout = max(0.0, next_tick - time.monotonic())
                for key, _ in self._selector.select(timeout):
                    if key.fileobj is self._wake_r:
                        with contextlib.suppress(BlockingIOError):
                            self._wake_r.recv(4096)
                    elif not key.data.flush():
                        self._selector.unregister(key.fileobj)
                self._flush_submitted()
                if self._tick_interval is not None and time.monotonic() >= next_tick:
                    self._tick()
                    next_tick = time.monotonic() + self._tick_interval
        finally:
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _flush_submitted(self) -> None:
        with self._lock:
            boxes, self._submitted = self._submitted, []
        registered = self._selector.get_map()
        for box in boxes:
            if not box.flush():
                continue
            known = registered.get(box.sock.fileno())
            if known is not None and known.data is not box:  # a closed socket's reused number
                self._selector.unregister(known.fileobj)
                known = None
            if known is None:
                self._selector.register(box.sock, selectors.EVENT_WRITE, box)


class Client:
    """One accepted connection: its socket, codec state and outbox."""

    _ids = itertools.count(1)

    def __init__(self, sock: socket.socket, address: str, config: ServerConfig) -> None:
        self.id = next(self._ids)
        self.sock = sock
        self.address = address
        self.protocol = codec.ServerConnection()
        self.outbox = Outbox(sock, config.max_output)
        self.last_seen = time.monotonic()
        self.connected_at = self.last_seen

    @property
    def name(self) -> str | None:
        return self.protocol.name

    def __repr__(self) -> str:
        return f"#{self.id} {self.name or self.address}"


class Room:
    """Who is here, under one lock: registration, broadcast and leave are atomic."""

    def __init__(self, writer: Writer) -> None:
        self.lock = threading.Lock()
        self.members: dict[str, Client] = {}  # name_key -> client, in registration order
        self._writer = writer

    def register(self, client: Client, name: str) -> bool:
        """Register ``client`` as ``name`` and announce it; False if the name is taken."""
        to_flush: list[Outbox] = []
        with self.lock:
            key = name_key(name)
            if key in self.members:
                return False
            client.protocol.registered(name)
            self._queue(client, encode(Welcome(name)), to_flush)
            self._broadcast(encode(Join(name)), client, to_flush)
            self.members[key] = client
        self._flush(to_flush)
        log.info("%r registered", client)
        return True

    def say(self, sender: Client, text: str) -> None:
        assert sender.name is not None
        to_flush: list[Outbox] = []
        with self.lock:
            if name_key(sender.name) in self.members:
                self._broadcast(encode(Relay(sender.name, text)), sender, to_flush)
        self._flush(to_flush)

    def who(self, asker: Client) -> None:
        """WHO-4: the list and the reply are made under the lock, so they are one snapshot."""
        to_flush: list[Outbox] = []
        with self.lock:
            lines = [encode(User(c.name)) for c in self.members.values() if c.name]
            lines.append(encode(EndWho(len(lines))))
            self._queue(asker, b"".join(lines), to_flush)
        self._flush(to_flush)

    def reply(self, client: Client, event: codec.ServerEvent) -> None:
        """A reply to ``client`` alone, in the same FIFO as its broadcasts (ORDER-1)."""
        to_flush: list[Outbox] = []
        with self.lock:
            self._queue(client, encode(event), to_flush)
        self._flush(to_flush)

    def leave(self, client: Client, reason: LeaveReason) -> bool:
        """Remove ``client`` and announce it; False if it was not (or no longer) a member."""
        to_flush: list[Outbox] = []
        with self.lock:
            left = self._remove(client, reason, to_flush)
        self._flush(to_flush)
        return left

    def snapshot(self) -> list[Client]:
        with self.lock:
            return list(self.members.values())

    # The rest runs with self.lock held, and never touches a socket.

    def _remove(self, client: Client, reason: LeaveReason, to_flush: list[Outbox]) -> bool:
        name = client.name
        if name is None or self.members.get(name_key(name)) is not client:
            return False
        del self.members[name_key(name)]
        self._broadcast(encode(Leave(name, reason)), None, to_flush)
        log.info("%r left (%s)", client, reason.value)
        return True

    def _queue(self, client: Client, data: bytes, to_flush: list[Outbox]) -> None:
        owner = client.outbox.append(data)
        if owner:
            to_flush.append(client.outbox)
        elif owner is None:  # over max_output: LOAD-4
            log.warning(
                "%r kicked: %d bytes unsent (limit %d)",
                client,
                client.outbox.pending,
                client.outbox.limit,
            )
            client.outbox.discard()
            self._remove(client, LeaveReason.KICKED, to_flush)

    def _broadcast(self, data: bytes, exclude: Client | None, to_flush: list[Outbox]) -> None:
        for member in list(self.members.values()):
            if member is not exclude:
                self._queue(member, data, to_flush)

    def _flush(self, boxes: list[Outbox]) -> None:
        self._writer.submit(boxes)


class ChatServer:
    """A linechat/1 server. ``serve_forever()`` until ``shutdown()``, then ``server_close()``."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self._listener = socket.create_server(
            (self.config.host, self.config.port), backlog=min(4096, socket.SOMAXCONN * 4)
        )
        self._listener.setblocking(False)
        self.host, self.port = self._listener.getsockname()[:2]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)
        self._shutdown_requested = False
        self._served = threading.Event()
        self._clients: set[Client] = set()
        self._clients_lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._writer = Writer(self._check_timeouts, self._tick_interval())
        self.room = Room(self._writer)

    # -- methods for the caller

    def serve_forever(self) -> None:
        """Accept connections until ``shutdown()``; then say BYE to everyone and stop."""
        self._writer.start()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self._listener, selectors.EVENT_READ)
                selector.register(self._wake_r, selectors.EVENT_READ)
                while not self._shutdown_requested:
                    for key, _ in selector.select():
                        if key.fileobj is self._listener:
                            self._accept_ready()
            self._say_goodbye()
        finally:
            self._writer.stop()
            self._writer.join(timeout=1)
            self._served.set()

    def shutdown(self) -> None:
        """Ask ``serve_forever()`` to stop. Safe from any thread and from a signal handler."""
        self._shutdown_requested = True
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def wait_stopped(self, timeout: float | None = None) -> bool:
        return self._served.wait(timeout)

    def server_close(self) -> None:
        """Close the listening socket and join the connection threads (bounded)."""
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()
        deadline = time.monotonic() + 1.0
        for thread in list(self._threads):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    # -- connections

    def _accept_ready(self) -> None:
        for _ in range(64):  # bounded burst, then back to the selector
            try:
                sock, address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. EMFILE: log and keep serving
                log.error("accept failed: %s", exc)
                return
            self._admit(sock, f"{address[0]}:{address[1]}")

    def _admit(self, sock: socket.socket, address: str) -> None:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._clients_lock:
            full = len(self._clients) >= self.config.max_clients
            client = Client(sock, address, self.config)
            if not full:
                self._clients.add(client)
        if full:  # GREET-2
            log.warning("refused %s: %d clients (server-full)", address, self.config.max_clients)
            with contextlib.suppress(OSError):
                sock.send(encode(Error.explained(ErrorCode.SERVER_FULL)))
                sock.shutdown(socket.SHUT_WR)
            sock.close()
            return
        log.info("%r connected", client)
        thread = threading.Thread(
            target=self._serve_client, args=(client,), name=f"linechat-{client.id}", daemon=True
        )
        self._threads.add(thread)
        thread.start()

    def _serve_client(self, client: Client) -> None:
        """The reader thread: everything one connection does, in order."""
        try:
            self.room.reply(client, Hello(HELLO_TEXT))
            self._read_until_closed(client)
        except Exception:  # a bug must not kill the server, nor print a traceback per client
            log.exception("%r: internal error", client)
        finally:
            self.room.leave(client, LeaveReason.DISCONNECT)
            self._linger_and_close(client)
            with self._clients_lock:
                self._clients.discard(client)
            self._threads.discard(threading.current_thread())
            log.info("%r closed", client)

    def _read_until_closed(self, client: Client) -> None:
        with _ReaderSelector() as selector:
            selector.register(client.sock, selectors.EVENT_READ)
            while True:
                data = _recv(client.sock, selector)
                client.last_seen = time.monotonic()
                client.protocol.receive_data(data)
                for event in client.protocol.events():
                    if isinstance(event, Closed) or client.outbox.closing:
                        return
                    self._handle(client, event)

    def _handle(self, client: Client, event: codec.Command | Reject) -> None:
        match event:
            case Reject():
                log.debug("%r: %s (%s)", client, event.code.value, event.detail)
                self.room.reply(client, event.reply)
            case Name(name):
                if not self.room.register(client, name):
                    self.room.reply(client, Error.explained(ErrorCode.NAME_TAKEN))
            case Msg(text):
                self.room.say(client, text)
            case Who():
                self.room.who(client)
            case Ping(token):
                self.room.reply(client, Pong(token))
            case Exit():
                self.room.leave(client, LeaveReason.EXIT)
                self._close(client, Bye("see you"))

    def _close(self, client: Client, bye: Bye | None, *, wake_reader: bool = False) -> None:
        """End ``client``'s connection after ``bye``. Any thread may call this: only the
        outbox is touched, and the reader thread notices ``outbox.closing``."""
        last = encode(bye) if bye else None
        if client.outbox.close_when_drained(last, wake_reader=wake_reader):
            self._writer.submit([client.outbox])

    def _linger_and_close(self, client: Client) -> None:
        """Send what is queued (a BYE), then read and drop input until the peer closes, so
        that closing with unread input does not turn into a RST that destroys the BYE."""
        self._close(client, None)
        deadline = time.monotonic() + LINGER_SECONDS
        client.outbox.drained.wait(LINGER_SECONDS)
        with contextlib.suppress(OSError), _ReaderSelector() as selector:
            selector.register(client.sock, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if selector.select(left) and not client.sock.recv(RECV_SIZE):
                    break
        client.outbox.discard()
        client.sock.close()

    def _say_goodbye(self) -> None:
        """LIFE-1: BYE to every connection, then close them all."""
        with self._clients_lock:
            clients = list(self._clients)
        log.info("shutting down: BYE to %d connections", len(clients))
        bye = encode(Bye("server shutting down"))
        # Every outbox is closed (BYE queued, nothing accepted after it) before any is sent,
        # so no client sees another's LEAVE after, or instead of, its own BYE.
        boxes = [c.outbox for c in clients if c.outbox.close_when_drained(bye, wake_reader=True)]
        self._writer.submit(boxes)
        deadline = time.monotonic() + 0.5
        for client in clients:
            client.outbox.drained.wait(max(0.0, deadline - time.monotonic()))
        for client in clients:
            client.outbox.discard()  # wakes each reader thread, which then exits

    # -- timeouts (LIFE-2), run on the writer thread

    def _tick_interval(self) -> float | None:
        limits = [t for t in (self.config.idle_timeout, self.config.register_timeout) if t]
        return min(limits) / 4 if limits else None

    def _check_timeouts(self) -> None:
        now = time.monotonic()
        with self._clients_lock:
            clients = list(self._clients)
        for client in clients:
            idle, registered = self.config.idle_timeout, client.name is not None
            timed_out = registered and idle and now - client.last_seen > idle
            if timed_out and self.room.leave(client, LeaveReason.TIMEOUT):
                self._close(client, Bye("idle timeout"), wake_reader=True)
            limit = self.config.register_timeout
            if not registered and limit and now - client.connected_at > limit:
                self._close(client, Bye("registration timeout"), wake_reader=True)


def _recv(sock: socket.socket, selector: selectors.BaseSelector) -> bytes:
    """Block until data or end of stream; a reset or socket error counts as end of stream."""
    while True:
        selector.select()
        try:
            return sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            return b""


# ---------------------------------------------------------------------------------------------
# In-process use (tests) and the command line


@contextlib.contextmanager
def running_server(**settings: object) -> Iterator[ChatServer]:
    """Run a server on a free 127.0.0.1 port in a thread; stop it on exit.

    Keyword arguments are ``ServerConfig`` fields (``max_clients=5``, ``max_output=...``).
    """
    config = ServerConfig(**{"host": "127.0.0.1", "port": 0, **settings})  # type: ignore[arg-type]
    server = ChatServer(config)
    thread = threading.Thread(target=server.serve_forever, name="linechat-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def _raise_file_limit(wanted: int) -> None:
    """Threads are cheap, file descriptors are not: let 1000+ clients in where the OS allows."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main(argv: list[str] | None = None) -> None:
    """``linechat-server``: run the reference server until SIGINT or SIGTERM."""
    import click

    @click.command(context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option(
        "--port",
        type=click.IntRange(0, 65535),
        default=7777,
        show_default=True,
        help="TCP port; 0 takes a free one (read it from the first stdout line).",
    )
    @click.option(
        "--max-clients",
        type=click.IntRange(min=1),
        default=1000,
        show_default=True,
        help="Open connections before new ones get ERR server-full.",
    )
    @click.option(
        "--max-output",
        type=click.IntRange(min=64 * 1024),
        default=1 << 20,
        show_default=True,
        help="Unsent bytes a client may have before it is kicked as a slow reader.",
    )
    @click.option(
        "--idle-timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Drop registered clients silent this many seconds (LEAVE <name> timeout).",
    )
    @click.option(
        "--register-timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Close connections that send no valid NAME within this many seconds.",
    )
    @click.option(
        "--log-level",
        type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
        default="info",
        show_default=True,
    )
    def command(
        host: str,
        port: int,
        max_clients: int,
        max_output: int,
        idle_timeout: float | None,
        register_timeout: float | None,
        log_level: str,
    ) -> None:
        """Run the linechat/1 reference server.

        The first line on stdout is exactly `listening on <host>:<port>`. Logs go to stderr.
        SIGINT or SIGTERM says BYE to every client and exits 0.
        """
        logging.basicConfig(
            stream=sys.stderr,
            level=log_level.upper(),
            format="%(asctime)s %(levelname)s %(message)s",
        )
        _raise_file_limit(max_clients + 64)
        threading.stack_size(512 * 1024)  # 1000 readers need no 8 MiB stacks each
        config = ServerConfig(host, port, max_clients, max_output, idle_timeout, register_timeout)
        try:
            server = ChatServer(config)
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None

        def stop(signum: int, frame: FrameType | None) -> None:
            server.shutdown()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        print(f"listening on {server.host}:{server.port}", flush=True)
        try:
            server.serve_forever()
        finally:
            server.server_close()
        log.info("stopped")

    command.main(args=argv, prog_name="linechat-server")


if __name__ == "__main__":
    main()
