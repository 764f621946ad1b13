"""Launch the server under test by command line, wait until it listens, and always stop it.

The server is a black box in any language: chat-conform only knows its command line. Each
launch gets a free port (or the user's fixed one), runs in its own process group so that a
shell wrapper and its children are stopped together, and has its stdout and stderr drained on
background threads into small ring buffers: a failing check shows the server's last words.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from chat_conform.findings import ServerFinding, TracebackScanner

HOST = "127.0.0.1"
PORT_PLACEHOLDER = "port"
# Server options a check may choose, with the value used when a check does not choose one.
# They only reach the server if its command has the matching {placeholder}.
# idle_timeout 0 means "no idle limit" (LIFE-2 is a MAY: only one check asks for one).
DEFAULT_SERVER_OPTIONS: dict[str, int] = {
    "max_clients": 1100,
    "max_output": 1 << 20,
    "idle_timeout": 0,
}
KNOWN_PLACEHOLDERS = frozenset({PORT_PLACEHOLDER, *DEFAULT_SERVER_OPTIONS})
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_SHELL_SAFE = re.compile(r"[\w@%+=:,./{}-]+")
_LISTENING = re.compile(r"listening on \S+:(\d+)")
_ADDRESS_IN_USE = re.compile(r"address already in use|eaddrinuse|errno 98\b", re.IGNORECASE)

TAIL_LINES = 200
STOP_GRACE_SECONDS = 2.0
READY_POLL_SECONDS = 0.02


class ServerStartError(Exception):
    """The server could not be started: it exited, never listened, or could not be run."""

    def __init__(self, reason: str, stderr_tail: list[str] | None = None) -> None:
        """``stderr_tail`` is None when no process ran at all (e.g. command not found)."""
        super().__init__(reason)
        self.reason = reason
        self.stderr_tail = stderr_tail

    def address_in_use(self) -> bool:
        """Whether the server said its port was taken (a race a retry can win)."""
        return any(_ADDRESS_IN_USE.search(line) for line in self.stderr_tail or ())

    def describe(self) -> str:
        """The reason followed by the server's last stderr lines, ready to print."""
        if self.stderr_tail is None:
            return self.reason
        if not self.stderr_tail:
            return self.reason + "\n(the server wrote nothing on stderr)"
        return "\n".join([self.reason, "server stderr (last lines):", *self.stderr_tail])


@dataclass(frozen=True)
class ServerCommand:
    """A server command line with placeholders: {port}, {max_clients}, {max_output},
    {idle_timeout}."""

    argv: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> ServerCommand:
        """Split ``text`` like a POSIX shell; raise ValueError for anything unusable."""
        argv = tuple(shlex.split(text))
        if not argv:
            raise ValueError("the server command is empty")
        used = {name for arg in argv for name in _PLACEHOLDER.findall(arg)}
        unknown = sorted(used - KNOWN_PLACEHOLDERS)
        if unknown:
            known = ", ".join("{" + name + "}" for name in sorted(KNOWN_PLACEHOLDERS))
            raise ValueError(f"unknown placeholder {{{unknown[0]}}} (known: {known})")
        return cls(argv)

    def has_placeholder(self, name: str) -> bool:
        return any("{" + name + "}" in arg for arg in self.argv)

    def render(self, port: int, options: Mapping[str, int]) -> list[str]:
        """The argv to run; options a check did not choose come from DEFAULT_SERVER_OPTIONS."""
        values = {**DEFAULT_SERVER_OPTIONS, **options, PORT_PLACEHOLDER: port}
        rendered = []
        for arg in self.argv:
            for name, value in values.items():
                arg = arg.replace("{" + name + "}", str(value))
            rendered.append(arg)
        return rendered

    def __str__(self) -> str:
        """The command as a shell would take it; placeholders are shown unquoted."""
        return " ".join(
            arg if _SHELL_SAFE.fullmatch(arg) else shlex.quote(arg) for arg in self.argv
        )


def free_port() -> int:
    """A port that was free a moment ago (the race with other programs is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class OutputTail:
    """The last lines a pipe produced, each stamped with the time since launch."""

    def __init__(self, started: float) -> None:
        self._started = started
        self._lines: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()

    def add(self, raw: bytes) -> str:
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        with self._lock:
            self._lines.append(f"{time.monotonic() - self._started:8.3f} {text}")
        return text

    def lines(self, last: int = TAIL_LINES) -> list[str]:
        with self._lock:
            return list(self._lines)[-last:]


class ServerProcess:
    """One running server process; created by :func:`launch`."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, argv: list[str]) -> None:
        self.proc = proc
        self.port = port
        self.argv = argv
        self.started = time.monotonic()  # stderr lines are stamped relative to this
        self.stdout = OutputTail(self.started)
        self.stderr = OutputTail(self.started)
        self.tracebacks = TracebackScanner()  # every stderr line, not only the tail
        self._listening = threading.Event()
        assert proc.stdout is not None and proc.stderr is not None
        self._readers = [
            _start_reader(proc.stdout, self.stdout, self._on_stdout_line),
            _start_reader(proc.stderr, self.stderr, self.tracebacks.feed),
        ]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def exit_status(self) -> int | None:
        """The exit status if the process has ended (negative: killed by that signal)."""
        return self.proc.poll()

    def stderr_tail(self, last: int = 20) -> list[str]:
        return self.stderr.lines(last)

    def findings(self) -> list[ServerFinding]:
        """The Python tracebacks the server printed on stderr so far (complete once stopped)."""
        return self.tracebacks.findings()

    def exit_note(self) -> str:
        """How the process ended, for failure messages; "" while it runs."""
        status = self.exit_status()
        if status is None:
            return ""
        if status < 0:
            return f"the server process was killed by {signal.Signals(-status).name}"
        return f"the server process has exited with status {status}"

    def _on_stdout_line(self, text: str) -> None:
        match = _LISTENING.search(text)
        if match and int(match.group(1)) == self.port:
            self._listening.set()

    def wait_ready(self, timeout: float) -> None:
        """Return once the server accepts connections; raise ServerStartError otherwise.

        Ready means the server printed ``listening on <host>:<port>`` or its port is in the
        LISTEN state. On Linux the port is checked in /proc/net/tcp, which opens no connection:
        a probe connection would be a client the server counts (GREET-2 checks count clients).
        """
        deadline = time.monotonic() + timeout
        while not self._listening.is_set():
            status = self.exit_status()
            if status is not None:
                raise ServerStartError(
                    f"the server exited with status {status} before accepting connections",
                    self._final_stderr(),
                )
            if port_is_listening(self.port, group=self.proc.pid):
                return
            if time.monotonic() >= deadline:
                raise ServerStartError(
                    f"the server did not accept connections on {HOST}:{self.port} "
                    f"within {timeout:g} s{self._port_hint()}",
                    self.stderr_tail() + [f"(stdout) {line}" for line in self.stdout.lines(5)],
                )
            self._listening.wait(READY_POLL_SECONDS)

    def _port_hint(self) -> str:
        """Where the server listens instead, if it does: the usual mistake is a fixed port."""
        ports = sorted(_group_listening_ports(self.proc.pid))
        if not ports:
            return ""
        where = ", ".join(str(p) for p in ports)
        return (
            f"; it listens on port {where} instead: if that port is fixed in its code, use "
            f"--port {ports[0]}, or make it take the port from {{port}} or the PORT variable"
        )

    def _final_stderr(self) -> list[str]:
        """The stderr tail once the readers have drained the pipes of an exited process."""
        for reader in self._readers:
            reader.join(timeout=1.0)
        return self.stderr_tail()

    def send_signal(self, sig: signal.Signals) -> None:
        """Signal the whole process group (a shell wrapper and the server it started)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def wait_exit(self, timeout: float) -> int | None:
        """The exit status, or None if the process is still running after ``timeout``."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after a grace period; idempotent."""
        if self.exit_status() is None:
            self.send_signal(signal.SIGTERM)
            if self.wait_exit(STOP_GRACE_SECONDS) is None:
                self.send_signal(signal.SIGKILL)
                self.proc.wait()
        for reader in self._readers:
            reader.join(timeout=1.0)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        _RUNNING.discard(self)


def _start_reader(
    pipe: IO[bytes], tail: OutputTail, on_line: Callable[[str], None] | None
) -> threading.Thread:
    def drain() -> None:
        with contextlib.suppress(OSError, ValueError):
            for raw in iter(lambda: pipe.readline(8192), b""):
                text = tail.add(raw)
                if on_line is not None:
                    on_line(text)

    thread = threading.Thread(target=drain, name="chat-conform-server-output", daemon=True)
    thread.start()
    return thread


def port_is_listening(port: int, group: int | None = None) -> bool:
    """Whether a socket is listening on ``port`` (Linux /proc; elsewhere a connect probe).

    With ``group``, only a socket held by a process of that process group counts: two
    parallel checks can draw the same free port, and the server that lost the race must not
    be taken as ready because the winner listens there.
    """
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].exists():
        return _connect_probe(port)
    wanted = f":{port:04X}"
    inodes = set()
    for table in tables:
        with contextlib.suppress(OSError):
            for row in table.read_text(encoding="ascii").splitlines()[1:]:
                fields = row.split()
                if fields[1].endswith(wanted) and fields[3] == "0A":  # 0A = LISTEN
                    inodes.add(fields[9])
    if not inodes or group is None:
        return bool(inodes)
    return bool(inodes & _group_socket_inodes(group))


def _group_listening_ports(group: int) -> set[int]:
    """The TCP ports that processes of process group ``group`` listen on (Linux; else none)."""
    inodes = _group_socket_inodes(group) if Path("/proc/net/tcp").exists() else set()
    ports: set[int] = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        with contextlib.suppress(OSError):
            for row in table.read_text(encoding="ascii").splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _group_socket_inodes(group: int) -> set[str]:
    """The inodes of the sockets that processes of process group ``group`` hold open."""
    found: set[str] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (proc / "stat").read_text(encoding="ascii", errors="replace")
            if int(stat.rpartition(")")[2].split()[2]) != group:  # field 5: pgrp
                continue
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        found.add(target[8:-1])
    return found


def _connect_probe(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


_RUNNING: set[ServerProcess] = set()


@atexit.register
def _stop_leftovers() -> None:
    """Last resort (e.g. after Ctrl-C): no launched server outlives chat-conform."""
    for server in list(_RUNNING):
        server.stop()


def _spawn(argv: list[str], port: int) -> ServerProcess:
    env = {
        **os.environ,
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
    }
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
    except OSError as error:
        raise ServerStartError(f"cannot run {shlex.join(argv)}: {error.strerror}") from error
    server = ServerProcess(proc, port, argv)
    _RUNNING.add(server)
    return server


def start_server(
    command: ServerCommand,
    *,
    options: Mapping[str, int],
    startup_timeout: float,
    port: int | None = None,
) -> ServerProcess:
    """Start the server and wait until it is ready; on failure it is stopped and raises.

    With ``port=None`` a free port is chosen, and a start that fails with "address already in
    use" (another program took the port meanwhile) is retried once on a new port.
    """
    chosen = free_port() if port is None else port
    try:
        return _start_and_wait(command, chosen, options, startup_timeout)
    except ServerStartError as error:
        if port is not None or not error.address_in_use():
            raise
    return _start_and_wait(command, free_port(), options, startup_timeout)


def _start_and_wait(
    command: ServerCommand, port: int, options: Mapping[str, int], startup_timeout: float
) -> ServerProcess:
    server = _spawn(command.render(port, options), port)
    try:
        server.wait_ready(startup_timeout)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def running_server(
    command: ServerCommand,
    *,
    options: Mapping[str, int],
    startup_timeout: float,
    port: int | None = None,
) -> Iterator[ServerProcess]:
    """:func:`start_server` as a context manager that always stops the server."""
    server = start_server(command, options=options, startup_timeout=startup_timeout, port=port)
    try:
        yield server
    finally:
        server.stop()
