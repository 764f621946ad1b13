"""The reference server through real sockets: every rule of the sheet, exact lines."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

from linechat.server import ChatServer, running_server
from tests.peer import TIMEOUT, Peer

Connect = Callable[..., Peer]
Room = Callable[..., list[Peer]]


# -- greeting and registration


def test_hello_is_the_first_line(connect: Connect) -> None:
    peer = connect(hello=False)
    assert peer.line() == "HELLO linechat/1 linechat-reference"


def test_welcome_join_and_no_self_join(room: Room) -> None:
    alice, bob = room("alice", "bob")  # the fixture checks alice got "JOIN bob"
    alice.quiet()
    bob.quiet()  # bob saw no JOIN for himself


def test_names_are_unique_by_casefold(room: Room, connect: Connect) -> None:
    room("straße", "Алиса")
    late = connect()
    for taken in ("STRASSE", "алиса", "АЛИСА"):
        late.send(f"NAME {taken}\n")
        late.expect_error("name-taken")
    late.register("alice")  # still unregistered, so it may try again


@pytest.mark.parametrize("name", ["", "a b", "x" * 33, "a@b", "😀"])
def test_invalid_names(connect: Connect, name: str) -> None:
    peer = connect()
    peer.send(f"NAME {name}\n")
    peer.expect_error("syntax" if name == "" else "name-invalid")
    peer.register("ok")


def test_second_name_is_refused(connect: Connect) -> None:
    peer = connect("alice")
    peer.send("NAME bob\nNAME\n")
    peer.expect_error("already-registered")
    peer.expect_error("already-registered")
    peer.send("WHO\n")
    peer.expect("USER alice", "END WHO 1")


# -- messages


def test_fan_out_to_many_without_echo(room: Room) -> None:
    peers = room(*[f"user{i}" for i in range(40)])
    sender, receivers = peers[0], peers[1:]
    sender.send("MSG hello everyone\n")
    for receiver in receivers:
        receiver.expect("MSG user0 hello everyone")
    sender.quiet()
    for receiver in receivers:
        receiver.quiet()


def test_text_is_relayed_verbatim(room: Room) -> None:
    alice, bob = room("alice", "Боб")
    alice.send("MSG  два  пробела\tи таб 👋 \n")
    bob.expect("MSG alice  два  пробела\tи таб 👋 ")
    bob.send("MSG привет\n")
    alice.expect("MSG Боб привет")


@pytest.mark.parametrize("bad", ["a\x1bb", "\x00", "x\x7f", "\u0085", "a\rb"])
def test_control_characters_are_refused(room: Room, bad: str) -> None:
    alice, bob = room("alice", "bob")
    alice.send(f"MSG {bad}\n")
    alice.expect_error("text-invalid")
    bob.quiet()


def test_msg_errors(connect: Connect, room: Room) -> None:
    stranger = connect()
    stranger.send("MSG\nMSG hi\n")
    stranger.expect_error("not-registered")
    stranger.expect_error("not-registered")
    (alice,) = room("alice")
    alice.send("MSG\nMSG \n")
    alice.expect_error("syntax")
    alice.expect_error("syntax")


def test_relayed_form_must_fit(room: Room) -> None:
    alice, bob = room("alice", "bob")
    fits = "x" * (4096 - len("MSG alice \n"))
    alice.send(f"MSG {fits}x\nMSG {fits}\n")
    alice.expect_error("line-too-long")
    assert bob.raw_line() == f"MSG alice {fits}\n".encode()
    alice.quiet()


# -- framing


def test_byte_by_byte_and_coalesced(room: Room) -> None:
    alice, bob = room("alice", "bob")
    for byte in b"MSG one\r\n":
        alice.send(bytes([byte]))
    alice.send(b"MSG two\nMSG three\r\n\nMSG four\n")
    bob.expect("MSG alice one", "MSG alice two", "MSG alice three", "MSG alice four")
    alice.quiet()


def test_overlong_line_one_error_and_connection_stays(room: Room) -> None:
    alice, bob = room("alice", "bob")
    alice.send(b"MSG " + b"y" * 9000)
    alice.expect_error("line-too-long")  # reported before the LF arrives
    alice.send(b"y" * 9000 + b"\nMSG still here\n")
    bob.expect("MSG alice still here")
    alice.quiet()
    bob.quiet()


def test_bad_utf8_and_unknown_commands(connect: Connect) -> None:
    peer = connect()
    peer.send(b"NAME \xff\xfe\nHELLO\nmsg\tx\n \n")
    peer.expect_error("bad-encoding")
    peer.expect_error("unknown-command")
    peer.expect_error("unknown-command")
    peer.expect_error("unknown-command")
    peer.register("afterwards")


def test_ping_who_case_insensitive(connect: Connect) -> None:
    peer = connect()
    peer.send("ping\nPiNg  a token \nwho am i\n")
    peer.expect("PONG", "PONG  a token ", "END WHO 0")


# -- leaving


def test_exit_says_bye_and_ignores_the_rest(room: Room) -> None:
    alice, bob = room("alice", "bob")
    alice.send("EXIT\nMSG too late\n")
    alice.expect("BYE see you")
    alice.expect_closed()
    bob.expect("LEAVE alice exit")
    bob.quiet()


def test_reset_gives_leave_disconnect_and_frees_the_name(room: Room, connect: Connect) -> None:
    alice, bob = room("alice", "bob")
    alice.reset()
    bob.expect("LEAVE alice disconnect")
    connect("ALICE")
    bob.expect("JOIN ALICE")


def test_message_then_close_is_delivered_before_leave(room: Room) -> None:
    alice, bob = room("alice", "bob")
    alice.send("MSG bye\nMSG partial line")
    alice.close()
    bob.expect("MSG alice bye", "LEAVE alice disconnect")
    bob.quiet()


def test_unregistered_see_no_room_traffic(connect: Connect, room: Room) -> None:
    lurker = connect()
    alice, bob = room("alice", "bob")
    alice.send("MSG hi\nEXIT\n")
    bob.expect("MSG alice hi", "LEAVE alice exit")
    lurker.quiet()


def test_who_is_a_snapshot(room: Room) -> None:
    alice, bob, _carol = room("alice", "bob", "carol")
    bob.send("EXIT\n")
    alice.expect("LEAVE bob exit")
    alice.send("WHO\n")
    assert sorted(alice.lines(2)) == ["USER alice", "USER carol"]
    alice.expect("END WHO 2")


# -- ordering and load


def test_per_sender_order_and_common_order(room: Room) -> None:
    peers = room(*[f"p{i}" for i in range(6)])
    senders = peers[:3]

    def blast(peer: Peer, index: int) -> None:
        peer.send("".join(f"MSG {index}:{n}\n" for n in range(300)))

    threads = [threading.Thread(target=blast, args=(p, i)) for i, p in enumerate(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    seen: dict[int, list[str]] = {}
    for index, peer in enumerate(peers):
        expected = 300 * (len(senders) - (1 if index < len(senders) else 0))
        seen[index] = peer.lines(expected)
        for sender_index in range(len(senders)):
            mine = [line for line in seen[index] if line.startswith(f"MSG p{sender_index} ")]
            numbers = [int(line.rsplit(":", 1)[1]) for line in mine]
            assert numbers == sorted(numbers)
    receivers_only = [seen[i] for i in range(len(senders), len(peers))]
    assert all(lines == receivers_only[0] for lines in receivers_only)


def test_a_reader_that_stops_does_not_stall_the_others(peers: list[Peer]) -> None:
    with running_server(max_output=256 * 1024) as server:
        slow, alice, bob = (Peer(server.host, server.port) for _ in range(3))
        peers += [slow, alice, bob]
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.register("slow")
        alice.register("alice")
        bob.register("bob")
        alice.expect("JOIN bob")
        slow.send("PING\n")  # slow will never read again
        chunk = "z" * 4000
        batch = "".join(f"MSG {n} {chunk}\n" for n in range(25))  # 100 kB a round
        kicked = False
        for _ in range(200):  # at most 20 MB: past any kernel buffer plus max_output
            alice.send(batch)
            got = [line for line in bob.lines(25) if line != "LEAVE slow kicked"]
            if len(got) < 25:  # the kick came within this round's lines
                kicked = True
                got += bob.lines(25 - len(got))
            assert got == [f"MSG alice {n} {chunk}" for n in range(25)]
            if kicked:
                break
        assert kicked, "the non-reading client was never kicked"
        assert "LEAVE slow kicked" in alice.until_pong()
        bob.quiet()


def test_server_full(peers: list[Peer]) -> None:
    with running_server(max_clients=2) as server:
        first, second = Peer(server.host, server.port), Peer(server.host, server.port)
        third = Peer(server.host, server.port, hello=False)
        peers += [first, second, third]
        third.expect_error("server-full")
        third.expect_closed()
        first.register("still-works")


# -- the command line and shutdown


def start_cli(*args: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "linechat.server", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        start_new_session=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("listening on 127.0.0.1:"), first
    return proc, int(first.rsplit(":", 1)[1])


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=TIMEOUT)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_says_bye_to_everyone_and_exits_zero(signum: int, peers: list[Peer]) -> None:
    proc, port = start_cli()
    try:
        alice, stranger = Peer("127.0.0.1", port), Peer("127.0.0.1", port)
        peers += [alice, stranger]
        alice.register("alice")
        stranger.quiet()
        proc.send_signal(signum)
        for peer in (alice, stranger):
            line = peer.line()
            assert line == "BYE" or line.startswith("BYE "), line
            peer.expect_closed()
        assert proc.wait(timeout=TIMEOUT) == 0
        _, stderr = proc.communicate(timeout=TIMEOUT)
        assert "Traceback" not in stderr
    finally:
        stop(proc)


def test_misbehaving_clients_never_produce_a_traceback(peers: list[Peer]) -> None:
    proc, port = start_cli()
    try:
        for payload in (b"\xff\xfe\xfd\n", b"\x00" * 5000, b"NAME x\nMSG " + b"\x1b" * 10 + b"\n"):
            peer = Peer("127.0.0.1", port)
            peer.send(payload)
            peer.reset()
        survivor = Peer("127.0.0.1", port)
        peers.append(survivor)
        survivor.register("survivor")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0
        _, stderr = proc.communicate(timeout=TIMEOUT)
        assert "Traceback" not in stderr
        assert "survivor registered" in stderr
    finally:
        stop(proc)


def test_port_in_use_is_a_one_line_error() -> None:
    with running_server() as server:
        result = subprocess.run(
            [sys.executable, "-m", "linechat.server", "--port", str(server.port)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT * 2,
        )
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: cannot listen on 127.0.0.1:{server.port}")
    assert "Traceback" not in result.stderr


def test_in_process_server_stops_cleanly(server: ChatServer, peers: list[Peer]) -> None:
    peer = Peer(server.host, server.port)
    peers.append(peer)
    peer.register("x")
    server.shutdown()
    assert peer.line().startswith("BYE")
    assert server.wait_stopped(TIMEOUT)
