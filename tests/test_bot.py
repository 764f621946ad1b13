"""linechat-bot as users run it: a subprocess against the in-process reference server.

The bot's traffic is observed with raw peers (tests.peer), so the exact lines on the wire are
checked. Every bot process is bounded by a timeout and stopped by its process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from linechat.server import ChatServer, running_server
from linechat_clients.bot import addressed_to
from tests.peer import TIMEOUT, Peer

Connect = Callable[..., Peer]


def bot_command(server: ChatServer | tuple[str, int], *args: str) -> list[str]:
    host, port = server if isinstance(server, tuple) else (server.host, server.port)
    return [
        sys.executable,
        "-m",
        "linechat_clients.bot",
        "--host",
        host,
        "--port",
        str(port),
        *args,
    ]


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the bot's process group, then SIGKILL if it does not go."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(TIMEOUT)


@contextlib.contextmanager
def bot(server: ChatServer | tuple[str, int], *args: str) -> Iterator[subprocess.Popen[str]]:
    """A running bot; stopped and reaped on exit, whatever happened."""
    with subprocess.Popen(
        bot_command(server, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        encoding="utf-8",
        start_new_session=True,
    ) as proc:
        try:
            yield proc
        finally:
            _stop(proc)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait (bounded) for the bot to end; its exit status, stdout and stderr."""
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out, err


def run_bot(server: ChatServer | tuple[str, int], *args: str) -> tuple[int, str, str]:
    with bot(server, *args) as proc:
        return finish(proc)


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        ("@echo hi there", "hi there"),
        ("@ECHO: hi", "hi"),
        ("@Echo,\thi", "hi"),
        ("@echo", ""),
        ("@echoes hi", None),
        ("hi @echo", None),
        ("echo hi", None),
    ],
)
def test_addressed_to(text: str, rest: str | None) -> None:
    assert addressed_to("echo", text) == rest


def test_addressed_to_folds_case_like_the_server() -> None:
    assert addressed_to("Straße", "@STRASSE привет") == "привет"
    assert addressed_to("Алиса", "@АЛИСА привет") == "привет"


def test_echo_answers_only_messages_addressed_to_it(server: ChatServer, connect: Connect) -> None:
    alice = connect("alice")
    with bot(server, "--name", "echo", "--echo") as proc:
        alice.expect("JOIN echo")
        alice.send("MSG hello everyone\nMSG @echoes not me\nMSG @ECHO: Привет мир\nMSG @echo\n")
        alice.expect("MSG echo @alice Привет мир", "MSG echo @alice")  # nothing before them
        proc.send_signal(signal.SIGTERM)
        status, _, err = finish(proc)
    assert (status, err) == (0, "")
    alice.expect("LEAVE echo exit")  # SIGTERM: the bot says EXIT


def test_replay_sends_the_lines_paced_then_exits(
    server: ChatServer, connect: Connect, tmp_path: Path
) -> None:
    script = tmp_path / "script.txt"
    lines = ["first", "второй\tс табом", "[bold]third[/bold]", "  spaced  "]
    script.write_bytes(f"{lines[0]}\r\n\n{lines[1]}\n{lines[2]}\r\n{lines[3]}\n".encode())
    rate = 10.0
    alice = connect("alice")
    with bot(server, "--name", "rep", "--replay", str(script), "--rate", str(rate)) as proc:
        alice.expect("JOIN rep")
        alice.expect(*(f"MSG rep {line}" for line in lines), "LEAVE rep exit")
        status, out, err = finish(proc)
    assert (status, err) == (0, "")
    # Pacing is measured by the bot's own clock: arrival times seen here would shrink
    # whenever this process is scheduled late, and load can only make the bot slower.
    report = re.fullmatch(rf"replayed {len(lines)} lines in (\d+\.\d\d) s\n", out)
    assert report is not None, out
    assert float(report[1]) >= (len(lines) - 1) / rate, "lines were not paced"


def test_count_reports_messages_per_sender_as_json(server: ChatServer, connect: Connect) -> None:
    alice, boris = connect("alice"), connect("Борис")
    alice.expect("JOIN Борис")
    with bot(server, "--name", "counter", "--count", "--messages", "5", "--json") as proc:
        alice.expect("JOIN counter")
        boris.expect("JOIN counter")
        alice.send("MSG one\nMSG two\nMSG three\n")
        boris.send("MSG раз\nMSG два\n")
        status, out, err = finish(proc)
    assert (status, err) == (0, "")
    report = json.loads(out)
    assert report["total"]["messages"] == 5
    assert {name: s["messages"] for name, s in report["senders"].items()} == {
        "alice": 3,
        "Борис": 2,
    }
    for summary in report["senders"].values():
        assert summary["longest_gap_ms"] >= 0
    alice.expect("MSG Борис раз", "MSG Борис два", "LEAVE counter exit")


def test_count_prints_a_table_for_people(server: ChatServer, connect: Connect) -> None:
    alice = connect("alice")
    with bot(server, "--name", "counter", "--count", "--messages", "2") as proc:
        alice.expect("JOIN counter")
        alice.send("MSG one\nMSG two\n")
        status, out, _ = finish(proc)
    assert status == 0
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["sender", "messages", "longest", "gap", "ms"]
    assert rows[1][:2] == ["alice", "2"]
    assert rows[2][:2] == ["total", "2"]
    assert out.splitlines()[-1].startswith("2 messages in ")


def test_count_stops_after_the_duration(server: ChatServer) -> None:
    started = time.monotonic()
    status, out, _ = run_bot(server, "--name", "counter", "--count", "--duration", "0.3")
    assert status == 0
    assert time.monotonic() - started >= 0.3
    summary = re.fullmatch(r"0 messages in (\d+\.\d\d) s", out.splitlines()[-1])
    assert summary is not None, out
    assert float(summary[1]) >= 0.3


def test_server_down_is_exit_1_with_one_line() -> None:
    with socket.socket() as closed:  # bound but never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        status, out, err = run_bot(("127.0.0.1", port), "--name", "x", "--echo")
    assert (status, out) == (1, "")
    assert err == f"linechat-bot: cannot connect to 127.0.0.1:{port}: Connection refused\n"


def test_connection_lost_is_exit_1() -> None:
    with running_server() as server, Peer(server.host, server.port) as alice:
        alice.register("alice")
        with bot(server, "--name", "echo", "--echo") as proc:
            alice.expect("JOIN echo")
            server.shutdown()  # BYE to everyone, then close
            status, _, err = finish(proc)
    assert status == 1
    assert err.startswith(f"linechat-bot: connection to {server.host}:{server.port} lost: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("name", "reason"),
    [("ALICE", "name-taken"), ("a b", "name-invalid"), ("x" * 33, "name-invalid")],
)
def test_refused_name_is_exit_3(
    server: ChatServer, connect: Connect, name: str, reason: str
) -> None:
    connect("alice")
    status, out, err = run_bot(server, "--name", name, "--echo")
    assert (status, out) == (3, "")
    assert err == f'linechat-bot: name "{name}" refused: {reason}\n'


@pytest.mark.parametrize(
    "args",
    [
        ["--name", "b"],
        ["--name", "b", "--echo", "--count"],
        ["--name", "b", "--echo", "--rate", "3"],
        ["--name", "b", "--echo", "--messages", "3"],
        ["--echo"],
        ["--name", "b", "--replay", "/nonexistent/file"],
    ],
)
def test_usage_errors_are_exit_2(server: ChatServer, args: list[str]) -> None:
    status, out, err = run_bot(server, *args)
    assert (status, out) == (2, "")
    assert "Usage:" in err


def test_replay_refuses_a_script_the_server_would_refuse(
    server: ChatServer, tmp_path: Path
) -> None:
    script = tmp_path / "bad.txt"
    script.write_text("fine\nbell \x07 here\n", encoding="utf-8")
    status, _, err = run_bot(server, "--name", "b", "--replay", str(script))
    assert status == 2
    assert "line 2: control character U+0007" in err
