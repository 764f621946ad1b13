"""The linechat/1 reference server: socket + threading, around the sans-IO codec.

Design (why it is correct under load, bad input and faults)
-----------------------------------------------------------
- One reader thread per connection. It feeds bytes to a ``codec.ServerConnection`` and
  carries out the commands that come out, in order (ORDER-1). A misbehaving client can only
  end its own thread, never another's.
- Delivery is ``fanout``'s job: one room lock under which a broadcast is appended once to a
  shared log (one common order for every receiver, ORDER-4), and one writer thread, the only
  thread that sends, which gives each receiver everything it is due in one non-blocking send
  (coalescing) and drops a receiver more than ``max_output`` bytes behind (LOAD-4). No
  socket call is ever made under the lock, and no thread is parked per client.

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
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

from . import codec
from .codec import (
    Bye,
    Closed,
    Error,
    ErrorCode,
    Exit,
    Hello,
    LeaveReason,
    Msg,
    Name,
    Ping,
    Pong,
    Reject,
    Relay,
    Who,
    encode,
)
from .fanout import Mailbox, Room, Writer

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


class Client:
    """One accepted connection: its socket, codec state and mailbox."""

    _ids = itertools.count(1)

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.id = next(self._ids)
        self.sock = sock
        self.address = address
        self.protocol = codec.ServerConnection()
        self.mailbox = Mailbox(sock, f"#{self.id}", address)
        self.last_seen = time.monotonic()
        self.connected_at = self.last_seen

    @property
    def name(self) -> str | None:
        return self.protocol.name

    def __repr__(self) -> str:
        return f"#{self.id} {self.name or self.address}"


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
        self.room = Room(self.config.max_output)
        self._writer = Writer(self.room, self._check_timeouts, self._tick_interval())

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
            client = Client(sock, address)
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
            self.room.reply(client.mailbox, encode(Hello(HELLO_TEXT)))
            self._read_until_closed(client)
        except Exception:  # a bug must not kill the server, nor print a traceback per client
            log.exception("%r: internal error", client)
        finally:
            self.room.leave(client.mailbox, LeaveReason.DISCONNECT)
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
                    box = client.mailbox
                    if isinstance(event, Closed) or box.closing or box.dead:
                        return
                    self._handle(client, event)

    def _handle(self, client: Client, event: codec.Command | codec.MsgRun | Reject) -> None:
        box = client.mailbox
        match event:
            case Reject():
                log.debug("%r: %s (%s)", client, event.code.value, event.detail)
                self.room.reply(box, encode(event.reply))
            case Name(name):
                if self.room.register(box, name):
                    client.protocol.registered(name)
                    log.info("%r registered", client)
                else:
                    self.room.reply(box, encode(Error.explained(ErrorCode.NAME_TAKEN)))
            case Msg(text):
                assert client.name is not None
                self.room.say(box, encode(Relay(client.name, text)))
            case codec.MsgRun(relayed):
                self.room.say(box, relayed)
            case Who():
                self.room.who(box)
            case Ping(token):
                self.room.reply(box, encode(Pong(token)))
            case Exit():
                self.room.leave(box, LeaveReason.EXIT)
                self.room.close([box], encode(Bye("see you")), wake_reader=False)

    def _linger_and_close(self, client: Client) -> None:
        """Send what is queued (a BYE), then read and drop input until the peer closes, so
        that closing with unread input does not turn into a RST that destroys the BYE."""
        box = client.mailbox
        self.room.close([box], None, wake_reader=False)
        deadline = time.monotonic() + LINGER_SECONDS
        box.drained.wait(LINGER_SECONDS)
        with contextlib.suppress(OSError), _ReaderSelector() as selector:
            selector.register(client.sock, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if selector.select(left) and not client.sock.recv(RECV_SIZE):
                    break
        box.kill()
        self.room.forget(box)
        self._writer.retire(box)

    def _say_goodbye(self) -> None:
        """LIFE-1: BYE to every connection, then close them all."""
        with self._clients_lock:
            clients = list(self._clients)
        log.info("shutting down: BYE to %d connections", len(clients))
        # Every mailbox is closed (BYE queued, nothing broadcast after it) at once, so no
        # client sees another's LEAVE after, or instead of, its own BYE.
        boxes = [c.mailbox for c in clients]
        self.room.close(boxes, encode(Bye("server shutting down")), wake_reader=True)
        deadline = time.monotonic() + 0.5
        for box in boxes:
            box.drained.wait(max(0.0, deadline - time.monotonic()))
        for box in boxes:
            box.kill()  # wakes each reader thread, which then exits

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
            if timed_out and self.room.leave(client.mailbox, LeaveReason.TIMEOUT):
                self.room.close([client.mailbox], encode(Bye("idle timeout")), wake_reader=True)
            limit = self.config.register_timeout
            if not registered and limit and now - client.connected_at > limit:
                bye = encode(Bye("registration timeout"))
                self.room.close([client.mailbox], bye, wake_reader=True)


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
        type=click.FloatRange(min=0),
        default=None,
        help="Drop registered clients silent this many seconds (LEAVE <name> timeout); "
        "0 or absent: never.",
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
        idle = idle_timeout or None  # 0 means no limit
        config = ServerConfig(host, port, max_clients, max_output, idle, register_timeout)
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
