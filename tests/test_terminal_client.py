"""``linechat-client`` as a user runs it: a subprocess with stdin a pipe (or a pseudo-terminal),
against the in-process reference server or a scripted hostile one. Exact printed lines."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import IO

import pytest

from linechat.client import ChatClient
from linechat.codec import Join, Leave, LeaveReason, Relay
from linechat.server import ChatServer
from tests.scripted_server import Accepted, ScriptedServer

TIMEOUT = 10.0
CLIENT = [sys.executable, "-m", "linechat.terminal"]


def client_env(**overrides: str) -> dict[str, str]:
    """The user's environment without the variables that would force UTF-8 for us."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONIOENCODING", "PYTHONUTF8")}
    env.update(overrides)
    return env


class Terminal:
    """A running ``linechat-client``: lines go to its stdin, its output is read line by line."""

    def __init__(
        self, port: int, *args: str, env: dict[str, str] | None = None, stdin: int | None = None
    ) -> None:
        """``stdin``: a file descriptor to read from instead of a pipe (a pseudo-terminal)."""
        self.proc = subprocess.Popen(
            [*CLIENT, "--port", str(port), *args],
            stdin=subprocess.PIPE if stdin is None else stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env if env is not None else client_env(),
            start_new_session=True,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._stdout: queue.Queue[bytes] = queue.Queue()
        self._stderr: queue.Queue[bytes] = queue.Queue()
        self._readers = [
            _reader(self.proc.stdout, self._stdout),
            _reader(self.proc.stderr, self._stderr),
        ]
        self.raw_stdout = b""

    def send(self, *lines: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(line + "\n" for line in lines).encode("utf-8"))
        self.proc.stdin.flush()

    def expect(self, *lines: str) -> None:
        """The next lines printed are exactly ``lines`` (each waited for, bounded)."""
        for line in lines:
            assert self.next_line() == line

    def next_line(self) -> str:
        try:
            raw = self._stdout.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no output line within {TIMEOUT}s") from None
        self.raw_stdout += raw
        return raw.decode("utf-8").removesuffix("\n")

    def finish(self, *, close_stdin: bool = True) -> tuple[int, list[str], str]:
        """Wait (bounded) for the exit; return the status, the rest of stdout and all stderr."""
        if close_stdin and self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        status = self.proc.wait(TIMEOUT)
        for reader in self._readers:
            reader.join(TIMEOUT)
        rest = []
        while not self._stdout.empty():
            rest.append(self.next_line())
        return status, rest, b"".join(_drain(self._stderr)).decode("utf-8")

    def stop(self) -> None:
        """Stop the process group (SIGTERM, then SIGKILL) and close the pipes."""
        if self.proc.poll() is None:
            for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, TIMEOUT)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(grace)
                    break
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(BrokenPipeError):
                    pipe.close()


def _reader(pipe: IO[bytes], lines: queue.Queue[bytes]) -> threading.Thread:
    def read() -> None:
        for line in iter(pipe.readline, b""):
            lines.put(line)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _drain(lines: queue.Queue[bytes]) -> list[bytes]:
    drained = []
    while not lines.empty():
        drained.append(lines.get_nowait())
    return drained


@pytest.fixture
def terminal() -> Iterator[Callable[..., Terminal]]:
    """Start ``linechat-client`` processes; each is stopped at teardown, whatever happened."""
    started: list[Terminal] = []

    def start(
        port: int, *args: str, env: dict[str, str] | None = None, stdin: int | None = None
    ) -> Terminal:
        started.append(Terminal(port, *args, env=env, stdin=stdin))
        return started[-1]

    yield start
    for term in started:
        term.stop()


@pytest.fixture
def alice(server: ChatServer) -> Iterator[ChatClient]:
    """A library client registered as alice, who watches what the terminal client does."""
    client = ChatClient.connect(server.host, server.port, TIMEOUT)
    try:
        client.register("alice")
        yield client
    finally:
        client.close()


def expect(client: ChatClient, *events: object) -> None:
    for event in events:
        assert client.next_event(TIMEOUT) == event


Start = Callable[..., Terminal]


@pytest.mark.parametrize(
    ("name", "env"),
    [("bot", client_env()), ("Бот", client_env(LC_ALL="C", LANG="C"))],
    ids=["default-locale", "C-locale-cyrillic"],
)
def test_piped_lines_are_sent_then_the_client_exits(
    server: ChatServer, alice: ChatClient, terminal: Start, name: str, env: dict[str, str]
) -> None:
    term = terminal(server.port, "--name", name, env=env)
    term.send("hello", "", "привет, мир 👋")
    status, rest, errors = term.finish()
    assert (status, rest, errors) == (0, [f"* you are {name}"], "")
    expect(
        alice,
        Join(name),
        Relay(name, "hello"),  # the empty line was not sent
        Relay(name, "привет, мир 👋"),
        Leave(name, LeaveReason.EXIT),
    )


def test_the_name_can_come_from_the_first_line(
    server: ChatServer, alice: ChatClient, terminal: Start
) -> None:
    term = terminal(server.port)
    term.send("bot", "hi")
    assert term.finish() == (0, ["* you are bot"], "")
    expect(alice, Join("bot"), Relay("bot", "hi"), Leave("bot", LeaveReason.EXIT))


def test_a_live_session_shows_messages_arrivals_departures_and_who(
    server: ChatServer, alice: ChatClient, terminal: Start
) -> None:
    term = terminal(server.port, "--name", "bot", env=client_env(LC_ALL="C"))
    term.expect("* you are bot")
    alice.say("привет, bot")
    term.expect("<alice> привет, bot")
    carol = ChatClient.connect(server.host, server.port, TIMEOUT)
    carol.register("carol")
    term.expect("* carol joined")
    carol.close()
    term.expect("* carol left (disconnect)")
    term.send("/who")
    term.expect("* users (2): alice, bot")
    term.send("bell\x07")
    term.expect("! text-invalid: control character U+0007")
    term.send("/help")
    term.expect(
        "* /who lists who is here; /quit or exit leaves; /help shows this",
        "* any other line is sent to everyone",
    )
    term.send("exit")
    assert term.finish(close_stdin=False) == (0, [], "")
    expect(
        alice,
        Join("bot"),
        Join("carol"),
        Leave("carol", LeaveReason.DISCONNECT),
        Leave("bot", LeaveReason.EXIT),
    )


@pytest.mark.parametrize("command", ["/quit", "exit"])
def test_quit_commands_leave_with_exit(
    server: ChatServer, alice: ChatClient, terminal: Start, command: str
) -> None:
    term = terminal(server.port, "--name", "bot")
    term.send(command, "not sent")
    assert term.finish(close_stdin=False) == (0, ["* you are bot"], "")
    expect(alice, Join("bot"), Leave("bot", LeaveReason.EXIT))
    alice.ping()
    assert alice.next_event(timeout=0) is None


def test_a_taken_name_with_piped_input_is_one_line_and_status_1(
    server: ChatServer, alice: ChatClient, terminal: Start
) -> None:
    term = terminal(server.port, "--name", "ALICE")
    term.send("hello")
    assert term.finish() == (1, [], "linechat-client: the name ALICE is taken\n")
    alice.ping()
    assert alice.next_event(timeout=0) is None


def test_no_server_is_one_line_and_status_1(terminal: Start) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]  # free once closed, and nothing listens there
    status, rest, errors = terminal(port, "--name", "bot").finish()
    message = f"linechat-client: cannot connect to 127.0.0.1:{port}: Connection refused\n"
    assert (status, rest, errors) == (1, [], message)


def test_a_lost_server_is_one_line_and_status_1(server: ChatServer, terminal: Start) -> None:
    term = terminal(server.port, "--name", "bot")
    term.expect("* you are bot")
    server.shutdown()
    term.expect("* the server says bye: server shutting down")
    lost = f"linechat-client: connection to 127.0.0.1:{server.port} lost\n"
    assert term.finish(close_stdin=False) == (1, [], lost)


def test_ctrl_c_leaves_with_exit_and_status_130_quietly(
    server: ChatServer, alice: ChatClient, terminal: Start
) -> None:
    term = terminal(server.port, "--name", "bot")
    term.expect("* you are bot")
    term.proc.send_signal(signal.SIGINT)
    assert term.finish(close_stdin=False) == (130, [], "")
    expect(alice, Join("bot"), Leave("bot", LeaveReason.EXIT))


def test_a_hostile_server_cannot_control_the_terminal(terminal: Start) -> None:
    def hostile(conn: Accepted) -> None:
        conn.send("HELLO linechat/1")
        conn.read_until("NAME")
        conn.send(
            "WELCOME bot",
            "MSG evil \x1b[2J\x1b]0;pwned\x07hi",  # not linechat/1: text with controls
            "MSG evil \u202eyalp\u202c ok",  # valid, but a bidi override
            "ERR text-invalid \x1b[31mred",
        )
        conn.read_until("EXIT")
        conn.send("BYE")

    with ScriptedServer(hostile) as fake:
        term = terminal(fake.port, "--name", "bot")
        term.expect("* you are bot")
        assert term.next_line().startswith("! malformed server line 'MSG evil ")
        term.expect("<evil> yalp ok")
        assert term.next_line().startswith("! malformed server line 'ERR text-invalid ")
        assert term.finish() == (0, [], "")
    for dangerous in (b"\x1b", b"\x07", b"\x9b", "\u202e".encode()):
        assert dangerous not in term.raw_stdout


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_interactively_a_refused_name_is_asked_again_and_ctrl_d_leaves(
    server: ChatServer, alice: ChatClient, terminal: Start
) -> None:
    keyboard, tty = os.openpty()
    try:
        term = terminal(server.port, stdin=tty)
        os.write(keyboard, "ALICE\nno way\nБот\n".encode())
        term.expect(
            "name: ! the name ALICE is taken",
            "name: ! the name no way is invalid (1 to 32 letters, digits, '_', '-' or '.')",
            "name: * you are Бот",
        )
        os.write(keyboard, b"\x04")  # Ctrl-D at the start of a line: end of input
        assert term.finish(close_stdin=False) == (0, [], "")
    finally:
        os.close(keyboard)
        os.close(tty)
    expect(alice, Join("Бот"), Leave("Бот", LeaveReason.EXIT))
