"""linechat.client against the in-process reference server (and scripted misbehaving servers),
through real sockets."""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from linechat.client import (
    ChatClient,
    ChatError,
    ConnectionLost,
    Event,
    Malformed,
    NameInvalid,
    NameTaken,
    ServerFull,
)
from linechat.codec import (
    Bye,
    Closed,
    Error,
    ErrorCode,
    Hello,
    Join,
    Leave,
    LeaveReason,
    Pong,
    Relay,
)
from linechat.server import ChatServer, running_server
from tests.scripted_server import Accepted, Script, ScriptedServer

TIMEOUT = 5.0
SHORT = 0.2
"""A timeout the tests expect to expire."""

Chat = Callable[..., ChatClient]


@pytest.fixture
def chat(server: ChatServer) -> Iterator[Chat]:
    """``chat()`` or ``chat("alice")``: a client, registered when given a name."""
    clients: list[ChatClient] = []

    def make(name: str | None = None) -> ChatClient:
        client = ChatClient.connect(server.host, server.port, timeout=TIMEOUT)
        clients.append(client)
        if name is not None:
            client.register(name)
        return client

    yield make
    for client in clients:
        client.close()


@contextmanager
def scripted_client(script: Script) -> Iterator[ChatClient]:
    """A client of a ScriptedServer playing ``script``; closed without EXIT at the end."""
    with ScriptedServer(script) as fake:
        client = ChatClient.connect(fake.host, fake.port, TIMEOUT)
        try:
            yield client
        finally:
            client.close()


def expect(client: ChatClient, *events: Event) -> None:
    for event in events:
        assert client.next_event(TIMEOUT) == event


def assert_no_event(client: ChatClient) -> None:
    """Nothing more was sent to ``client``: the PONG shows everything before it has arrived."""
    client.ping()
    assert client.next_event(timeout=0) is None


def test_connect_reads_hello(chat: Chat) -> None:
    client = chat()
    assert client.hello == Hello("linechat-reference")
    assert client.connected
    assert client.name is None


def test_register_returns_the_welcomed_name_and_others_see_join(chat: Chat) -> None:
    alice = chat("alice")
    bob = chat()
    assert bob.register("Bob") == "Bob"
    assert bob.name == "Bob"
    expect(alice, Join("Bob"))
    assert_no_event(bob)  # no JOIN for oneself


def test_name_taken_is_case_insensitive_and_the_client_may_retry(chat: Chat) -> None:
    chat("alice")
    other = chat()
    with pytest.raises(NameTaken) as raised:
        other.register("ALICE")
    assert raised.value.code is ErrorCode.NAME_TAKEN
    assert other.name is None
    assert other.register("alice2") == "alice2"


@pytest.mark.parametrize("name", ["", "two words", "x" * 33, "tab\there", "semi;colon"])
def test_invalid_names_raise_name_invalid(chat: Chat, name: str) -> None:
    client = chat()
    with pytest.raises(NameInvalid) as raised:
        client.register(name)
    assert raised.value.code is ErrorCode.NAME_INVALID
    assert client.register("valid") == "valid"


def test_registering_twice_is_refused(chat: Chat) -> None:
    client = chat("alice")
    with pytest.raises(ChatError) as raised:
        client.register("again")
    assert raised.value.code is ErrorCode.ALREADY_REGISTERED
    assert client.name == "alice"


def test_say_relays_the_text_verbatim_to_the_others_only(chat: Chat) -> None:
    alice, bob = chat("alice"), chat("bob")
    bob.say("hi\tthere  ")
    expect(alice, Join("bob"), Relay("bob", "hi\tthere  "))
    assert_no_event(bob)


def test_an_error_caused_by_say_is_an_event_not_a_reply(chat: Chat) -> None:
    client = chat()
    client.say("too early")
    assert client.register("late") == "late"
    event = client.next_event(TIMEOUT)
    assert isinstance(event, Error)
    assert event.code is ErrorCode.NOT_REGISTERED


@pytest.mark.parametrize(
    ("text", "code"),
    [("bell\x07", ErrorCode.TEXT_INVALID), ("x" * 5000, ErrorCode.LINE_TOO_LONG)],
)
def test_text_that_cannot_be_sent_is_refused_before_sending(
    chat: Chat, text: str, code: ErrorCode
) -> None:
    alice, bob = chat("alice"), chat("bob")
    with pytest.raises(ChatError) as raised:
        bob.say(text)
    assert raised.value.code is code
    expect(alice, Join("bob"))
    assert_no_event(alice)
    assert_no_event(bob)


def test_join_and_leave_events(chat: Chat) -> None:
    alice = chat("alice")
    carol = chat("carol")
    carol.exit()
    dave = chat("dave")
    dave.close()  # no EXIT: a disconnect
    expect(
        alice,
        Join("carol"),
        Leave("carol", LeaveReason.EXIT),
        Join("dave"),
        Leave("dave", LeaveReason.DISCONNECT),
    )


def test_the_context_manager_leaves_with_exit(server: ChatServer, chat: Chat) -> None:
    alice = chat("alice")
    with ChatClient.connect(server.host, server.port, timeout=TIMEOUT) as client:
        client.register("ctx")
    assert not client.connected
    expect(alice, Join("ctx"), Leave("ctx", LeaveReason.EXIT))


def test_who_lists_the_registered_names(chat: Chat) -> None:
    chat("alice")
    chat("bob")
    unregistered = chat()
    assert sorted(unregistered.who()) == ["alice", "bob"]


def test_ping_returns_the_round_trip_time(chat: Chat) -> None:
    client = chat()
    assert 0 <= client.ping("a token with  spaces") < TIMEOUT
    assert 0 <= client.ping() < TIMEOUT


def test_ping_waits_for_the_pong_with_its_own_token() -> None:
    def script(conn: Accepted) -> None:
        conn.send("HELLO linechat/1")
        assert conn.read_line() == "PING mine"
        conn.send("PONG other", "PONG mine")
        conn.wait_closed()

    with scripted_client(script) as c:
        c.ping("mine")
        assert c.next_event(TIMEOUT) == Pong("other")


def test_exit_gets_bye_and_closes(chat: Chat) -> None:
    alice, bob = chat("alice"), chat("bob")
    bob.exit()
    assert not bob.connected
    assert bob.next_event(TIMEOUT) == Closed()
    with pytest.raises(ConnectionLost):
        bob.say("after exit")
    with pytest.raises(ConnectionLost):
        bob.who()
    expect(alice, Join("bob"), Leave("bob", LeaveReason.EXIT))


def test_close_is_idempotent_and_ends_the_events(chat: Chat) -> None:
    client = chat("alice")
    client.close()
    client.close()
    assert not client.connected
    assert client.next_event(TIMEOUT) == Closed()
    assert list(client.events()) == []


def test_server_shutdown_means_bye_then_connection_lost(server: ChatServer, chat: Chat) -> None:
    client = chat("alice")
    server.shutdown()
    expect(client, Bye("server shutting down"), Closed())
    assert not client.connected
    with pytest.raises(ConnectionLost):
        client.say("anyone?")


def test_a_waiting_call_is_woken_with_connection_lost() -> None:
    def script(conn: Accepted) -> None:
        conn.send("HELLO linechat/1")
        conn.read_until("WHO")  # and close without answering

    with scripted_client(script) as client, pytest.raises(ConnectionLost):
        client.who()  # woken by the close: ConnectionLost, not TimeoutError


def test_a_full_server_raises_server_full() -> None:
    with running_server(max_clients=1) as srv:
        first = ChatClient.connect(srv.host, srv.port, TIMEOUT)
        try:
            with pytest.raises(ServerFull) as raised:
                ChatClient.connect(srv.host, srv.port, TIMEOUT).close()
            assert raised.value.code is ErrorCode.SERVER_FULL
            assert first.ping() >= 0
        finally:
            first.close()


def test_an_unreachable_server_raises_connection_lost() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]  # free once closed, and nothing listens there
    with pytest.raises(ConnectionLost, match=f"cannot connect to 127.0.0.1:{port}"):
        ChatClient.connect("127.0.0.1", port, TIMEOUT)


def test_a_server_that_is_not_linechat_raises_connection_lost() -> None:
    def script(conn: Accepted) -> None:
        conn.send("SSH-2.0-OpenSSH_9.6")
        conn.wait_closed()

    with ScriptedServer(script) as fake, pytest.raises(ConnectionLost, match="not a linechat/1"):
        ChatClient.connect(fake.host, fake.port, TIMEOUT)


def test_malformed_lines_are_events_without_their_control_characters() -> None:
    def script(conn: Accepted) -> None:
        conn.send("HELLO linechat/1", "MSG evil \x1b[2J\x1b]0;pwned\x07hi", "JOIN ok")
        conn.wait_closed()

    with scripted_client(script) as c:
        event = c.next_event(TIMEOUT)
        assert isinstance(event, Malformed)
        assert "\x1b" not in event.detail and "\x07" not in event.detail
        assert c.next_event(TIMEOUT) == Join("ok")


def test_callback_mode_gets_queued_then_live_events_on_the_receiver(chat: Chat) -> None:
    alice = chat("alice")
    chat("bob")
    alice.ping()  # alice's JOIN bob has arrived: it waits in the queue
    received: queue.Queue[tuple[Event, str]] = queue.Queue()
    alice.on_event(lambda event: received.put((event, threading.current_thread().name)))
    assert received.get(timeout=TIMEOUT)[0] == Join("bob")
    chat("carol").say("live")
    assert received.get(timeout=TIMEOUT) == (Join("carol"), "linechat-client-receiver")
    assert received.get(timeout=TIMEOUT) == (Relay("carol", "live"), "linechat-client-receiver")
    assert alice.next_event(timeout=0) is None  # nothing goes to the queue meanwhile
    alice.close()
    assert received.get(timeout=TIMEOUT)[0] == Closed()


def test_cyrillic_round_trip(chat: Chat) -> None:
    alice = chat("Алиса")
    boris = chat("Борис")
    boris.say("Привет, Алиса! 👋")
    expect(alice, Join("Борис"), Relay("Борис", "Привет, Алиса! 👋"))
    with pytest.raises(NameTaken):
        chat().register("АЛИСА")
    assert sorted(alice.who()) == ["Алиса", "Борис"]


def test_no_greeting_raises_timeout_error() -> None:
    with ScriptedServer(Accepted.wait_closed) as fake, pytest.raises(TimeoutError):
        ChatClient.connect(fake.host, fake.port, timeout=SHORT)


def test_unanswered_calls_raise_timeout_error_and_late_replies_stay_theirs() -> None:
    def script(conn: Accepted) -> None:
        conn.send("HELLO linechat/1")
        assert conn.read_line() == "WHO"
        assert conn.read_line() == "PING late"  # only now answer both, in order
        conn.send("USER someone", "END WHO 1", "PONG late")
        conn.wait_closed()

    with scripted_client(script) as c:
        assert c.next_event(timeout=SHORT) is None
        with pytest.raises(TimeoutError):
            c.who(timeout=SHORT)
        c.ping("late")  # the late WHO answer went to the abandoned who(), not here
        assert c.next_event(timeout=0) is None


def test_an_event_callback_cannot_wait_for_a_reply(chat: Chat) -> None:
    alice, bob = chat("alice"), chat("bob")
    outcome: queue.Queue[BaseException | None] = queue.Queue()

    def on_event(event: Event) -> None:
        if isinstance(event, Relay):
            try:
                alice.who()
            except RuntimeError as exc:
                outcome.put(exc)

    alice.on_event(on_event)
    bob.say("ask who")
    assert isinstance(outcome.get(timeout=TIMEOUT), RuntimeError)
