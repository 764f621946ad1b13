"""A one-connection TCP server on 127.0.0.1 that plays a script: silent, hostile or otherwise
misbehaving servers for the client tests, which the reference server cannot be made to be."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType

TIMEOUT = 5.0
"""Bound on every wait of the scripted side: accept, and each read from the client."""
MAX_LINES = 100


class Accepted:
    """The accepted connection, as lines (str, UTF-8, LF)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def send(self, *lines: str) -> None:
        self._sock.sendall("".join(line + "\n" for line in lines).encode("utf-8"))

    def read_line(self) -> str | None:
        """The next line the client sent, or None at end of stream."""
        while b"\n" not in self._buffer:
            data = self._sock.recv(4096)
            if not data:
                return None
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode("utf-8")

    def read_until(self, word: str) -> None:
        """Read lines until one whose command word is ``word`` (bounded in count and time)."""
        for _ in range(MAX_LINES):
            line = self.read_line()
            if line is None or line.split(" ", 1)[0] == word:
                return
        raise AssertionError(f"no {word} in {MAX_LINES} lines")

    def wait_closed(self) -> None:
        """Read and ignore everything until the client closes (bounded by TIMEOUT)."""
        for _ in range(MAX_LINES):
            if self.read_line() is None:
                return


Script = Callable[[Accepted], None]


class ScriptedServer:
    """``with ScriptedServer(script) as server:`` accepts one connection on ``server.port``
    and runs ``script(accepted)`` on it in a thread. The client's going away (an OSError) ends
    the script quietly; any other failure of the script is raised again on exit."""

    host = "127.0.0.1"

    def __init__(self, script: Script) -> None:
        self._script = script
        self._listener = socket.create_server((self.host, 0))
        self._listener.settimeout(TIMEOUT)
        self.port: int = self._listener.getsockname()[1]
        self._connection: socket.socket | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="scripted-server", daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for sock in (self._listener, self._connection):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the thread in accept() or recv()
        self._thread.join(TIMEOUT + 1)
        self._listener.close()
        assert not self._thread.is_alive(), "scripted server did not stop"
        if self._failure is not None and exc is None:
            raise self._failure

    def _serve(self) -> None:
        try:
            connection, _ = self._listener.accept()
        except OSError:
            return
        with connection:
            connection.settimeout(TIMEOUT)
            self._connection = connection
            try:
                self._script(Accepted(connection))
            except OSError:
                pass
            except BaseException as exc:  # handed to the test thread by __exit__
                self._failure = exc
