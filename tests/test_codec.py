"""The sans-IO codec: tables of (bytes, events), each fed whole, byte by byte, in random
splits and followed by more data, as h11's test_io does."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linechat import codec
from linechat.codec import (
    MAX_LINE,
    Bye,
    ClientConnection,
    Closed,
    EndWho,
    Error,
    ErrorCode,
    Exit,
    Hello,
    Join,
    Leave,
    LeaveReason,
    LineFramer,
    Msg,
    Name,
    Overlong,
    Ping,
    Pong,
    ProtocolError,
    Reject,
    Relay,
    ServerConnection,
    State,
    User,
    Welcome,
    Who,
    encode,
    parse_server_line,
    sanitize,
    text_problem,
    valid_name,
)


def reject(code: ErrorCode) -> tuple[str, ErrorCode]:
    return ("reject", code)


def simplify(events: Sequence[object]) -> list[object]:
    """Rejects compare by code only: their detail text is for logs."""
    return [("reject", e.code) if isinstance(e, Reject) else e for e in events]


def feed(chunks: Sequence[bytes], *, name: str | None = None, eof: bool = True) -> list[object]:
    conn = ServerConnection()
    if name:
        conn.registered(name)
    out: list[object] = []
    for chunk in chunks:
        conn.receive_data(chunk)
        out.extend(conn.events())
    if eof:
        conn.receive_data(b"")
        out.extend(conn.events())
    return simplify(unrun(out, name))


def unrun(events: Sequence[object], name: str | None) -> list[object]:
    """MsgRun events as the Msg events they stand for (the table speaks line by line)."""
    flat: list[object] = []
    for event in events:
        if isinstance(event, codec.MsgRun):
            assert name is not None
            flat.extend(Msg(text) for text in _texts(event.relayed, name))
        else:
            flat.append(event)
    return flat


CLOSED = Closed()
LONG = b"x" * (MAX_LINE - 5)  # "MSG " + LONG + LF is exactly 4096 bytes

# (name registered before the data, or None), bytes received, events expected (then EOF).
CLIENT_TABLE: list[tuple[str | None, bytes, list[object]]] = [
    (None, b"NAME alice\n", [Name("alice")]),
    (None, b"name alice\r\n", [Name("alice")]),
    (None, "NAME Алиса\n".encode(), [Name("Алиса")]),
    (None, b"NAME\n", [reject(ErrorCode.SYNTAX)]),
    (None, b"NAME \n", [reject(ErrorCode.SYNTAX)]),
    (None, b"NAME al ice\n", [reject(ErrorCode.NAME_INVALID)]),
    (None, b"NAME " + b"a" * 33 + b"\n", [reject(ErrorCode.NAME_INVALID)]),
    (None, b"MSG\n", [reject(ErrorCode.NOT_REGISTERED)]),
    (None, b"MSG hi\n", [reject(ErrorCode.NOT_REGISTERED)]),
    ("bob", b"MSG\n", [reject(ErrorCode.SYNTAX)]),
    ("bob", b"MSG \n", [reject(ErrorCode.SYNTAX)]),
    ("bob", b"MSG  hi  there \n", [Msg(" hi  there ")]),
    ("bob", b"MSG a\tb\n", [Msg("a\tb")]),
    ("bob", b"MSG a\x1bb\n", [reject(ErrorCode.TEXT_INVALID)]),
    ("bob", b"MSG a\x7f\n", [reject(ErrorCode.TEXT_INVALID)]),
    ("bob", "MSG a\u0085\n".encode(), [reject(ErrorCode.TEXT_INVALID)]),
    ("bob", b"MSG a\rb\n", [reject(ErrorCode.TEXT_INVALID)]),
    ("bob", b"NAME bob2\n", [reject(ErrorCode.ALREADY_REGISTERED)]),
    ("bob", b"NAME\n", [reject(ErrorCode.ALREADY_REGISTERED)]),
    (None, b"WHO\nwho cares\n", [Who(), Who()]),
    (None, b"PING\nPING \nPING  a b \n", [Ping(), Ping(), Ping(" a b ")]),
    (None, b"PING a\rb\nPING \x1b[2J\n", [reject(ErrorCode.TEXT_INVALID)] * 2),
    (None, b"EXIT\nMSG after\nNAME x\n", [Exit()]),
    (None, b"EXIT now please\n", [Exit()]),
    (None, b"\n\r\n", []),
    (None, b"HELLO\n", [reject(ErrorCode.UNKNOWN_COMMAND)]),
    (None, b" NAME x\n", [reject(ErrorCode.UNKNOWN_COMMAND)]),
    (None, b"MSG\thi\n", [reject(ErrorCode.UNKNOWN_COMMAND)]),
    (None, "p\u0131ng\n".encode(), [reject(ErrorCode.UNKNOWN_COMMAND)]),  # dotless i
    (None, b"NAME \xff\n", [reject(ErrorCode.BAD_ENCODING)]),
    (None, b"\xc0\xaf\n", [reject(ErrorCode.BAD_ENCODING)]),  # overlong UTF-8
    (None, b"NAME \xed\xa0\x80\n", [reject(ErrorCode.BAD_ENCODING)]),  # surrogate
    (None, b"WHO\npartial", [Who()]),  # FRAME-8
    ("bob", b"MSG " + LONG + b"\n", [reject(ErrorCode.LINE_TOO_LONG)]),  # MSG-5: relayed 4100
    ("b", b"MSG " + LONG[:-2] + b"\n", [Msg(LONG[:-2].decode())]),  # relayed exactly 4096
    ("b", b"MSG " + LONG[:-1] + b"\n", [reject(ErrorCode.LINE_TOO_LONG)]),  # relayed 4097
    ("b", b"MSG " + LONG + b"x\n", [reject(ErrorCode.LINE_TOO_LONG)]),  # 4097 on the wire
    (None, b"PING " + b"t" * (MAX_LINE - 6) + b"\n", [Ping("t" * (MAX_LINE - 6))]),
    (None, b"PING " + b"t" * (MAX_LINE - 6) + b"\r\n", [reject(ErrorCode.LINE_TOO_LONG)]),
    (
        None,
        b"PING " + b"t" * 10_000 + b"\nPING after\n",
        [reject(ErrorCode.LINE_TOO_LONG), Ping("after")],
    ),
]


@pytest.mark.parametrize(("name", "data", "expected"), CLIENT_TABLE)
def test_client_lines_whole(name: str | None, data: bytes, expected: list[object]) -> None:
    assert feed([data], name=name) == [*expected, CLOSED]


@pytest.mark.parametrize(("name", "data", "expected"), CLIENT_TABLE)
def test_client_lines_byte_by_byte(name: str | None, data: bytes, expected: list[object]) -> None:
    assert feed([data[i : i + 1] for i in range(len(data))], name=name) == [*expected, CLOSED]


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [c for c in CLIENT_TABLE if c[1].endswith(b"\n") and Exit() not in c[2]],
)
def test_client_lines_with_trailing_data(
    name: str | None, data: bytes, expected: list[object]
) -> None:
    """What follows a line in the same segment is neither swallowed nor altered by it."""
    assert feed([data + b"PING next\n"], name=name) == [*expected, Ping("next"), CLOSED]


@given(
    case=st.sampled_from(CLIENT_TABLE),
    cuts=st.lists(st.integers(min_value=0, max_value=12_000), max_size=8),
)
def test_client_lines_random_splits(
    case: tuple[str | None, bytes, list[object]], cuts: list[int]
) -> None:
    name, data, expected = case
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = zip([0, *points], [*points, len(data)], strict=True)
    chunks = [data[a:b] for a, b in bounds if b > a]  # b"" would mean end of stream
    assert feed(chunks, name=name) == [*expected, CLOSED]


def test_lines_after_exit_are_never_processed_even_in_later_segments() -> None:
    conn = ServerConnection()
    conn.receive_data(b"EXIT\n")
    assert simplify(list(conn.events())) == [Exit(), CLOSED]
    conn.receive_data(b"NAME x\nMSG y\n")
    assert list(conn.events()) == []
    assert conn.state is State.CLOSING


def test_state_table_registration() -> None:
    conn = ServerConnection()
    assert conn.state is State.CONNECTED
    conn.receive_data("NAME Zoë\n".encode())
    assert list(conn.events()) == [Name("Zoë")]
    conn.registered("Zoë")
    assert (conn.state, conn.name) == (State.REGISTERED, "Zoë")
    with pytest.raises(ProtocolError):
        conn.registered("again")


def test_partial_last_line_is_discarded_at_eof() -> None:
    assert feed([b"NAME alice"], eof=True) == [CLOSED]
    assert feed([b"NAME alice"], eof=False) == []


# -- framing


def test_framer_limit_counts_lf_and_cr() -> None:
    framer = LineFramer()
    framer.feed(b"a" * (MAX_LINE - 1) + b"\n")  # 4096 with LF: allowed
    framer.feed(b"b" * (MAX_LINE - 2) + b"\r\n")  # 4096 with CR LF: allowed
    framer.feed(b"c" * (MAX_LINE - 1) + b"\r\n")  # 4097: too long
    framer.feed(b"d\n")
    assert framer.next_line() == b"a" * (MAX_LINE - 1)
    assert framer.next_line() == b"b" * (MAX_LINE - 2)
    assert framer.next_line() == Overlong()
    assert framer.next_line() == b"d"
    assert framer.next_line() is None


def test_framer_reports_overlong_once_before_its_lf_arrives() -> None:
    framer = LineFramer()
    for _ in range(5):
        framer.feed(b"z" * 3000)
        result = framer.next_line()
        assert result in (None, Overlong())
    framer.feed(b"zz\nok\n")
    assert framer.next_line() == b"ok"
    assert framer.pending == 0


def test_framer_strips_only_one_cr_before_lf() -> None:
    framer = LineFramer()
    framer.feed(b"a\r\r\nb\rc\n\r\n")
    assert [framer.next_line() for _ in range(4)] == [b"a\r", b"b\rc", b"", None]


def test_framer_refuses_data_after_eof() -> None:
    framer = LineFramer()
    framer.feed(b"")
    with pytest.raises(ProtocolError):
        framer.feed(b"x")


def test_many_lines_in_one_segment_stay_linear() -> None:
    """Thousands of lines in one feed are framed without quadratic copying."""
    framer = LineFramer()
    framer.feed(b"MSG hello\n" * 50_000)
    count = 0
    while framer.next_line() is not None:
        count += 1
    assert count == 50_000


# -- names and text


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("alice", True),
        ("Алиса", True),
        ("李小龙", True),
        ("a_b-c.d", True),
        ("٣", True),  # Arabic-Indic digit: Nd
        ("x" * 32, True),
        ("x" * 33, False),
        ("", False),
        ("a b", False),
        ("a\tb", False),
        ("a@b", False),
        ("a😀", False),  # So, not a letter
        ("Ⅻ", False),  # Nl, not Nd
        ("e\u0301", False),  # combining mark (Mn): no normalisation, so invalid
        ("a\u200bb", False),  # zero-width space (Cf)
    ],
)
def test_valid_name(name: str, ok: bool) -> None:
    assert valid_name(name) is ok


def test_names_fold_with_full_case_folding() -> None:
    assert codec.name_key("STRASSE") == codec.name_key("straße")
    assert codec.name_key("АЛИСА") == codec.name_key("алиса")
    assert codec.name_key("Alice") != codec.name_key("Аlice")  # Cyrillic А: a different name


@pytest.mark.parametrize(
    ("text", "ok"),
    [("hi", True), ("\t", True), (" ", True), ("привет 👋", True), ("\u00a0", True)]
    + [(chr(c), False) for c in [*range(0, 9), *range(10, 32), 0x7F, *range(0x80, 0xA0)]],
)
def test_text_validity(text: str, ok: bool) -> None:
    assert (text_problem(text) is None) is ok


def test_empty_text_is_invalid() -> None:
    assert text_problem("") == "empty"


# -- server lines: formatting and parsing

SERVER_TABLE: list[tuple[codec.ServerEvent, bytes]] = [
    (Hello(), b"HELLO linechat/1\n"),
    (Hello("linechat-reference 0.1"), b"HELLO linechat/1 linechat-reference 0.1\n"),
    (Welcome("Алиса"), "WELCOME Алиса\n".encode()),
    (Join("bob"), b"JOIN bob\n"),
    (Leave("bob", LeaveReason.KICKED), b"LEAVE bob kicked\n"),
    (Relay("bob", " a\tb "), b"MSG bob  a\tb \n"),
    (User("bob"), b"USER bob\n"),
    (EndWho(0), b"END WHO 0\n"),
    (EndWho(12), b"END WHO 12\n"),
    (Pong(), b"PONG\n"),
    (Pong("t 1"), b"PONG t 1\n"),
    (Bye(), b"BYE\n"),
    (Bye("see you"), b"BYE see you\n"),
    (Error(ErrorCode.NAME_TAKEN), b"ERR name-taken\n"),
    (Error(ErrorCode.SYNTAX, "needs text"), b"ERR syntax needs text\n"),
]


@pytest.mark.parametrize(("event", "data"), SERVER_TABLE)
def test_server_line_round_trip(event: codec.ServerEvent, data: bytes) -> None:
    assert encode(event) == data
    assert parse_server_line(data[:-1].decode()) == event


def test_client_connection_reads_server_lines_in_any_split() -> None:
    stream = b"".join(data for _, data in SERVER_TABLE)
    for size in (1, 2, 7, len(stream)):
        client = ClientConnection()
        events: list[object] = []
        for i in range(0, len(stream), size):
            client.receive_data(stream[i : i + size])
            events.extend(client.events())
        client.receive_data(b"")
        events.extend(client.events())
        assert events == [e for e, _ in SERVER_TABLE] + [CLOSED]


@pytest.mark.parametrize(
    "line",
    [
        "HELLO linechat/2",
        "HELLO linechat/10",
        "WELCOME",
        "WELCOME a b",
        "LEAVE bob",
        "LEAVE bob gone",
        "MSG bob",
        "END WHO x",
        "ERR nonsense",
        "welcome bob",
        "NOPE",
    ],
)
def test_malformed_server_lines_raise(line: str) -> None:
    with pytest.raises(ProtocolError):
        parse_server_line(line)


def test_malformed_server_line_does_not_stop_the_stream() -> None:
    client = ClientConnection()
    client.receive_data(b"GARBAGE\nPONG\n")
    with pytest.raises(ProtocolError):
        client.next_event()
    assert client.next_event() == Pong()


def test_events_validate_on_construction() -> None:
    with pytest.raises(ProtocolError):
        Name("a b")
    with pytest.raises(ProtocolError):
        Msg("a\nb")
    with pytest.raises(ProtocolError):
        Relay("bob", "")
    with pytest.raises(ValueError):
        Leave("bob", "gone")  # type: ignore[arg-type]
    with pytest.raises(ProtocolError):
        encode(Pong("x" * MAX_LINE))


@given(
    name=st.text(
        st.characters(categories=["Lu", "Ll", "Lo", "Nd"]) | st.sampled_from("_-."),
        min_size=1,
        max_size=32,
    ),
    text=st.text(st.characters(blacklist_categories=["Cc", "Cs"]), min_size=1, max_size=200),
)
def test_relay_round_trips_for_any_valid_name_and_text(name: str, text: str) -> None:
    event = Relay(name, text)
    assert parse_server_line(encode(event)[:-1].decode()) == event


# -- sanitising what clients print


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        ("\x1b[2J\x1b[Hhi", "hi"),
        ("\x1b]0;pwned\x07hi", "hi"),
        ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("a\x9b31mb", "ab"),
        ("bell\x07", "bell\ufffd"),
        ("tab\tok", "tab\tok"),
        ("rtl\u202eevil", "rtlevil"),
        ("привет", "привет"),
        ("\r\roverwrite", "\ufffd\ufffdoverwrite"),
    ],
)
def test_sanitize(hostile: str, shown: str) -> None:
    assert sanitize(hostile) == shown
    assert "\x1b" not in sanitize(hostile)


# -- the MSG fast path means exactly what the line-by-line path means


def outcome(conn: ServerConnection, chunks: Sequence[bytes]) -> list[object]:
    """What a server would do: relayed bytes (runs flattened) and the other events."""
    out: list[object] = []
    for chunk in chunks:
        conn.receive_data(chunk)
        for event in conn.events():
            if isinstance(event, codec.MsgRun):
                out.extend(encode(Relay("Жанна", t)) for t in _texts(event.relayed))
            elif isinstance(event, Msg):
                out.append(encode(Relay("Жанна", event.text)))
            else:
                out.append(simplify([event])[0])
    return out


def _texts(relayed: bytes, name: str = "Жанна") -> list[str]:
    prefix = f"MSG {name} "
    lines = relayed.decode().split("\n")[:-1]
    assert all(line.startswith(prefix) for line in lines)
    return [line[len(prefix) :] for line in lines]


class SlowServerConnection(ServerConnection):
    def _msg_run(self) -> None:
        return None


LINE_KINDS = st.one_of(
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=30).map(
        lambda t: f"MSG {t}".encode()
    ),
    st.sampled_from(
        [b"MSG ", b"MSG", b"msg lower", b"PING t", b"WHO", b"MSG a\rb", b"MSG \xff", b"", b"\r"]
    ),
    st.integers(4000, 4200).map(lambda n: b"MSG " + b"y" * n),
)


@given(lines=st.lists(LINE_KINDS, max_size=30), cuts=st.lists(st.integers(0, 20_000)))
def test_msg_run_fast_path_equals_line_by_line(lines: list[bytes], cuts: list[int]) -> None:
    data = b"".join(line.replace(b"\n", b"") + b"\n" for line in lines)
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = zip([0, *points], [*points, len(data)], strict=True)
    chunks = [data[a:b] for a, b in bounds if b > a]
    fast, slow = ServerConnection(), SlowServerConnection()
    fast.registered("Жанна")
    slow.registered("Жанна")
    assert outcome(fast, chunks) == outcome(slow, chunks)


def test_msg_run_is_taken_for_plain_msg_blocks() -> None:
    conn = ServerConnection()
    conn.registered("bob")
    conn.receive_data("MSG one\nMSG два\tтри\nMSG  \nMSG x".encode())
    run = conn.next_event()
    assert run == codec.MsgRun("MSG bob one\nMSG bob два\tтри\nMSG bob  \n".encode(), 3)
    assert conn.next_event() is None  # "MSG x" waits for its LF
