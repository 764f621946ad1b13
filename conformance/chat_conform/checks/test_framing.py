"""FRAME (and PING-3): how bytes on the wire become lines, in both directions.

A server frames by LF only, whatever the TCP segmentation; strips exactly one CR before the
LF; refuses over-long lines and bad UTF-8 without losing the connection; ignores empty lines
and a partial last line; keeps the argument verbatim; and sends lines that end in LF alone
and are at most 4096 bytes long.

Several checks cut a line at a chosen byte. The first piece is sent in one segment after a
PING, and the second piece only once that PONG is back: the server has then read the first
piece, so the cut lies between two of its reads every time, and a server that frames each
read on its own fails deterministically rather than by luck.
"""

from __future__ import annotations

import re

from chat_conform.registry import check
from chat_conform.session import Chat
from chat_conform.wire import MAX_LINE_BYTES, Client, show

LF = b"\n"
CRLF = b"\r\n"
MAX_WHO_LINES = 10_000
# C0 controls but TAB, DEL and C1 controls (MSG-2, PING-3): never sent back by a server.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
LINE_TOO_LONG = re.compile(r"ERR line-too-long(?: .*)?", re.DOTALL)


def send_bytewise(client: Client, data: bytes) -> None:
    """Send ``data`` one byte per write (TCP_NODELAY: each write leaves as its own segment)."""
    for byte in data:
        client.send_raw(bytes([byte]))


def send_segment(client: Client, *, head: bytes, token: str, complete: bytes = b"") -> None:
    """Send ``complete`` + ``PING <token>`` LF + ``head`` as one segment; wait for the PONG.

    ``complete`` ends with LF (it may start with the tail of a line cut before); ``head`` is
    the start of a line. Once the PONG is back the server has read ``head``, so the rest of
    that line, sent next, reaches the server in a later read.
    """
    client.send_raw(complete + f"PING {token}\n".encode() + head)
    client.expect(f"PONG {token}")


def ping_line(length: int, *, char: str = "x", ending: bytes = LF) -> tuple[bytes, str]:
    """A ``PING <token>`` line of exactly ``length`` bytes on the wire, and its token."""
    count, rest = divmod(length - len(b"PING ") - len(ending), len(char.encode()))
    if rest:
        raise ValueError(f"no PING line of {length} bytes is made of {char!r}")
    token = char * count
    return f"PING {token}".encode() + ending, token


def wire_size(line: str) -> int:
    """The size in bytes of a received line on the wire, its LF included."""
    return len(line.encode("utf-8", errors="surrogateescape")) + len(LF)


def read_line_within_limit(client: Client, expecting: str) -> str:
    """The next line, which must be at most 4096 bytes with its LF (FRAME-6)."""
    line = client.read_line(expecting=expecting)
    size = wire_size(line)
    if size > MAX_LINE_BYTES:
        client.fail(f"received a line of {size} bytes with its LF, over 4096: {show(line)}")
    return line


def expect_who_reply(client: Client, present: set[str]) -> None:
    """Read the reply to a WHO the caller sent in its own spelling: USER lines, END WHO."""
    listed: list[str] = []
    for _ in range(MAX_WHO_LINES):
        line = client.read_line(expecting='"USER <name>" or "END WHO <count>"')
        if line.startswith("USER "):
            listed.append(line.removeprefix("USER "))
            continue
        if line != f"END WHO {len(listed)}":
            client.fail(f'expected "END WHO {len(listed)}", got {show(line)}')
        missing = sorted(present - set(listed))
        if missing:
            client.fail(f"WHO did not list {', '.join(map(show, missing))}")
        return
    client.fail(f"no END WHO after {MAX_WHO_LINES} lines")


# ---- FRAME-1: UTF-8 -----------------------------------------------------------------------


@check("framing.utf8-relayed-intact", "FRAME-1")
def test_utf8_relayed_intact(chat: Chat) -> None:
    """UTF-8 of every length is relayed byte for byte: Cyrillic, CJK, emoji, marks, BOM."""
    alice, bob = chat.registered("Алиса", "bob")
    texts = (
        "Привет, мир! Съешь же ещё этих мягких французских булок",
        "日本語のテキスト",
        "👋🏽 🇺🇦 👨‍👩‍👧",  # skin tone modifier, flag, ZWJ sequence
        "e\u0301 (a combining acute accent)",
        "\ufeff a byte order mark first",
        "\U0010fffd the last plane",
    )
    for text in texts:
        alice.send_line(f"MSG {text}")
        bob.expect(f"MSG {alice.name} {text}")
    bob.send_line("PING Жук и 🐞")
    bob.expect("PONG Жук и 🐞")
    alice.barrier()


# ---- FRAME-2: LF only -----------------------------------------------------------------------


@check("framing.lf-line-ends", "FRAME-2")
def test_lf_line_ends(chat: Chat) -> None:
    """Every kind of server line ends with LF alone: HELLO, WELCOME, ..., ERR, LEAVE, BYE.

    Each expectation below fails on a CR before the LF, in the free text of HELLO, ERR and
    BYE too: the lines are read as framed by LF only, with any CR kept.
    """
    alice = chat.connect_raw("alice")
    alice.expect_hello()
    alice.register()
    bob = chat.connect_raw("bob")
    bob.expect_hello()
    bob.register()
    alice.expect(f"JOIN {bob.name}")
    alice.send_line("MSG line ends")
    bob.expect(f"MSG {alice.name} line ends")
    chat.expect_who(bob, present={alice.name, bob.name})
    bob.send_line("PING line-ends")
    bob.expect("PONG line-ends")
    bob.send_line("NAME again")
    bob.expect_error("already-registered")
    bob.send_line("EXIT")
    bob.expect("BYE", optional_text=True)
    alice.expect(f"LEAVE {bob.name} exit")


# ---- FRAME-3: CR --------------------------------------------------------------------------


@check("framing.crlf-accepted", "FRAME-3")
def test_crlf_accepted(chat: Chat) -> None:
    """Lines ending in CR LF work like LF lines: NAME, MSG, PING, WHO and EXIT."""
    (bob,) = chat.registered("bob")
    alice = chat.connect("alice")
    alice.send_raw(f"NAME {alice.name}\r\n".encode())
    alice.expect(f"WELCOME {alice.name}")
    bob.expect(f"JOIN {alice.name}")
    alice.send_raw("MSG Привет, bob\r\n".encode())
    bob.expect(f"MSG {alice.name} Привет, bob")
    alice.send_raw(b"PING crlf\r\n")
    alice.expect("PONG crlf")
    alice.send_raw(b"PING \r\n")  # the CR goes with the LF: an empty token
    alice.expect("PONG")
    alice.send_raw(b"WHO\r\n")
    expect_who_reply(alice, {alice.name, bob.name})
    alice.send_raw(b"EXIT\r\n")
    alice.expect("BYE", optional_text=True)
    bob.expect(f"LEAVE {alice.name} exit")


@check("framing.cr-inside-line-kept", "FRAME-3")
def test_cr_inside_line_kept(chat: Chat) -> None:
    """Only the one CR right before the LF is stripped; any other CR is part of the line.

    In MSG text it is a control character (text-invalid); in the command word it makes the
    word unknown; a line of CR CR LF is the one-character line CR, not an empty line.
    """
    alice, bob = chat.registered("alice", "bob")
    for line, code in (
        (b"MSG a\rb\n", "text-invalid"),
        (b"MSG end\r\r\n", "text-invalid"),  # the text is "end" CR
        (b"MSG\r hi\n", "unknown-command"),  # the command word is "MSG" CR
        (b"PING\r x\n", "unknown-command"),
        (b"\rPING x\n", "unknown-command"),
        (b"\r\r\n", "unknown-command"),
    ):
        alice.send_raw(line)
        alice.expect_error(code)
    alice.barrier()
    bob.barrier()  # nothing was relayed


# ---- FRAME-4: framing by LF only ------------------------------------------------------------


@check("framing.line-split-bytewise", "FRAME-4")
def test_line_split_bytewise(chat: Chat) -> None:
    """A line sent one byte per TCP segment is one line: NAME, a Cyrillic MSG, PING."""
    (bob,) = chat.registered("bob")
    alice = chat.connect("alice")
    send_bytewise(alice, f"NAME {alice.name}\n".encode())
    alice.expect(f"WELCOME {alice.name}")
    bob.expect(f"JOIN {alice.name}")
    send_bytewise(alice, "MSG Привет по байту\n".encode())
    bob.expect(f"MSG {alice.name} Привет по байту")
    send_bytewise(alice, b"PING bytewise\n")
    alice.expect("PONG bytewise")
    bob.barrier()


@check("framing.line-split-inside-character", "FRAME-4", "FRAME-1")
def test_line_split_inside_character(chat: Chat) -> None:
    """A line cut inside a multi-byte UTF-8 character (Cyrillic, emoji) is put back together.

    Every cut that splits a character is tried, each between two reads of the server.
    """
    alice, bob = chat.registered("alice", "bob")
    text = "Жук 👋"
    line = f"MSG {text}\n".encode()
    inside_character = [cut for cut, byte in enumerate(line) if byte & 0xC0 == 0x80]
    for cut in inside_character:
        send_segment(alice, head=line[:cut], token=f"cut-{cut}")
        alice.send_raw(line[cut:])
        bob.expect(f"MSG {alice.name} {text}")
    alice.barrier()


@check("framing.many-lines-one-segment", "FRAME-4")
def test_many_lines_one_segment(chat: Chat) -> None:
    """50 MSG lines in one segment are 50 messages, relayed in order; 3 PINGs get 3 PONGs."""
    alice, bob = chat.registered("alice", "bob")
    numbers = range(1, 51)
    alice.send_raw(b"".join(f"MSG burst {number}\n".encode() for number in numbers))
    for number in numbers:
        bob.expect(f"MSG {alice.name} burst {number}")
    alice.send_raw(b"PING 1\nPING 2\nPING 3\n")
    for number in (1, 2, 3):
        alice.expect(f"PONG {number}")
    alice.barrier()
    bob.barrier()


@check("framing.tail-and-head-in-one-segment", "FRAME-4")
def test_tail_and_head_in_one_segment(chat: Chat) -> None:
    """A segment holding the end of a line, whole lines and the start of the next line works."""
    alice, bob = chat.registered("alice", "bob")
    send_segment(alice, head=b"MSG tw", token="mixed-1")
    send_segment(alice, complete=b"o\nMSG three\n", head=b"MSG fo", token="mixed-2")
    alice.send_raw(b"ur\nMSG five\n")
    for word in ("two", "three", "four", "five"):
        bob.expect(f"MSG {alice.name} {word}")
    alice.barrier()
    bob.barrier()


@check("framing.only-lf-ends-a-line", "FRAME-4")
def test_only_lf_ends_a_line(chat: Chat) -> None:
    """Unicode line breaks do not end a line: U+2028 and U+2029 are relayed inside the text."""
    alice, bob = chat.registered("alice", "bob")
    for text in ("line\u2028separator", "paragraph\u2029separator", "a\u2028\u2029b"):
        alice.send_line(f"MSG {text}")
        bob.expect(f"MSG {alice.name} {text}")
    alice.barrier()
    bob.barrier()


@check("framing.cr-and-lf-in-different-reads", "FRAME-3", "FRAME-4")
def test_cr_and_lf_in_different_reads(chat: Chat) -> None:
    """A CR at the end of one read is stripped only if the next read starts with its LF.

    `PING a` CR, then LF: the reply is `PONG a`. `PING` CR, then ` b` LF: the command word
    is PING CR, an unknown command.
    """
    alice = chat.connect("alice")
    send_segment(alice, head=b"PING a\r", token="cut-1")
    alice.send_raw(LF)
    alice.expect("PONG a")
    send_segment(alice, head=b"PING\r", token="cut-2")
    alice.send_raw(b" b\n")
    alice.expect_error("unknown-command")
    alice.barrier()


# ---- FRAME-5 and FRAME-6: line length --------------------------------------------------------


@check("framing.longest-line-accepted", "FRAME-5")
def test_longest_line_accepted(chat: Chat) -> None:
    """A line of exactly 4096 bytes with its LF is a line: its PING gets a 4096-byte PONG.

    ASCII, Cyrillic (2045 characters in 4090 bytes), and with the LF in a later read.
    """
    alice = chat.connect("alice")
    for char in ("x", "Ж"):
        line, token = ping_line(MAX_LINE_BYTES, char=char)
        alice.send_raw(line)
        alice.expect(f"PONG {token}")
    line, token = ping_line(MAX_LINE_BYTES)
    send_segment(alice, head=line.removesuffix(LF), token="before-lf")
    alice.send_raw(LF)
    alice.expect(f"PONG {token}")


@check("framing.over-long-line-refused", "FRAME-5", "CMD-4")
def test_over_long_line_refused(chat: Chat) -> None:
    """A line over 4096 bytes gets exactly one `ERR line-too-long`; the next line is processed.

    4097 bytes, 4097 with CR LF, 4098 bytes of Cyrillic (2052 characters), and a MSG whose
    part after byte 4096 reads `MSG leaked`: the line is dropped up to its LF, not to 4096.
    """
    alice, bob = chat.registered("alice", "bob")
    over_long = (
        ping_line(MAX_LINE_BYTES + 1)[0],
        ping_line(MAX_LINE_BYTES + 1, ending=CRLF)[0],
        ping_line(MAX_LINE_BYTES + 2, char="Ж")[0],
        b"MSG " + b"y" * (MAX_LINE_BYTES - len(b"MSG ")) + b"MSG leaked\n",
    )
    for line in over_long:
        alice.send_raw(line)
        alice.expect_error("line-too-long")
        alice.barrier()
    line, _ = ping_line(MAX_LINE_BYTES + 1)
    send_segment(alice, head=line.removesuffix(LF), token="before-lf")
    alice.send_raw(LF)
    alice.expect_error("line-too-long")
    alice.barrier()
    bob.barrier()  # nothing was relayed
    alice.send_line("MSG still registered")
    bob.expect(f"MSG {alice.name} still registered")


@check("framing.endless-line-refused", "FRAME-5")
def test_endless_line_refused(chat: Chat) -> None:
    """100 kB without LF: one `ERR line-too-long` (before or after the LF); others go on.

    The server may answer as soon as it has seen 4097 bytes or only at the LF; either way the
    error precedes the reply to the next line, which is processed normally.
    """
    alice, bob = chat.registered("alice", "bob")
    alice.send_raw(b"MSG ")
    for _ in range(10):
        alice.send_raw(b"z" * 10_000)
        bob.barrier()  # the server goes on serving the others meanwhile
    alice.send_raw(b"\nMSG after the long line\n")
    alice.expect_error("line-too-long")
    alice.barrier()
    bob.expect(f"MSG {alice.name} after the long line")
    bob.barrier()


@check("framing.server-lines-at-most-4096", "FRAME-6", "MSG-5")
def test_server_lines_at_most_4096(chat: Chat) -> None:
    """The longest relay is exactly 4096 bytes; one more byte of text is refused, never sent."""
    alice, bob = chat.registered("alice", "bob")
    room = MAX_LINE_BYTES - len(f"MSG {alice.name} \n".encode())
    longest = "ы" * (room // 2) + "x" * (room % 2)
    alice.send_line(f"MSG {longest}")
    relayed = read_line_within_limit(bob, "the relay of a 4096-byte MSG line")
    if relayed != f"MSG {alice.name} {longest}":
        bob.fail(f"expected the MSG of {room} bytes of text relayed intact, got {show(relayed)}")
    alice.send_line(f"MSG {longest}x")
    replies = alice.collect_until_pong()  # the server has processed the MSG
    relayed_anyway = bob.collect_until_pong()
    if relayed_anyway:
        line = relayed_anyway[0]
        bob.fail(f"got a line of {wire_size(line)} bytes for a MSG too long to relay: {show(line)}")
    if len(replies) != 1 or not LINE_TOO_LONG.fullmatch(replies[0]):
        got = ", ".join(map(show, replies)) or "nothing"
        alice.fail(f'expected "ERR line-too-long" for a MSG too long to relay, got {got}')


# ---- FRAME-7 and FRAME-8: empty and partial lines ---------------------------------------------


@check("framing.empty-lines-ignored", "FRAME-7")
def test_empty_lines_ignored(chat: Chat) -> None:
    """Empty lines (LF alone, CR LF alone, a hundred in a row) get no reply, registered or not."""
    carol = chat.connect("carol")
    alice, bob = chat.registered("alice", "bob")
    for client in (carol, alice):
        for empty_lines in (LF, CRLF, (LF + CRLF) * 50):
            client.send_raw(empty_lines)
            client.barrier()
    alice.send_raw(b"PING a\n\n\r\nPING b\n")
    alice.expect("PONG a")
    alice.expect("PONG b")
    alice.barrier()
    bob.barrier()  # nothing was relayed


@check("framing.partial-last-line-discarded", "FRAME-8")
def test_partial_last_line_discarded(chat: Chat) -> None:
    """Bytes after the last LF when a client closes are not a line: never processed or relayed."""
    alice, bob, carol = chat.registered("alice", "bob", "carol")
    alice.send_raw(b"MSG never")
    alice.close()
    bob.expect(f"LEAVE {alice.name} disconnect")
    carol.expect(f"LEAVE {alice.name} disconnect")
    carol.send_raw(b"MSG kept\nMSG never either")
    carol.close()
    bob.expect(f"MSG {carol.name} kept")
    bob.expect(f"LEAVE {carol.name} disconnect")
    bob.barrier()


# ---- FRAME-9: bad UTF-8 ----------------------------------------------------------------------

BAD_UTF8_LINES = (
    b"MSG \x80",  # a lone continuation byte
    b"MSG \xc0\xaf",  # an overlong encoding of "/"
    b"MSG \xed\xa0\x80",  # an encoded surrogate (U+D800)
    b"MSG \xd0",  # a sequence truncated by the line end
    b"MSG \xe2\x82x",  # a sequence truncated by an ASCII character
    b"MSG \xf4\x90\x80\x80",  # a code point above U+10FFFF
    b"MSG caf\xe9",  # Latin-1 text
    b"\xffMSG hi",  # a bad byte in the command word
    b"PING \xfe",  # in a PING token, which would otherwise be echoed
    b"WHO \xff",  # in an argument that would otherwise be ignored
)


@check("framing.bad-encoding-refused", "FRAME-9", "CMD-4")
def test_bad_encoding_refused(chat: Chat) -> None:
    """A line that is not UTF-8 gets `ERR bad-encoding`, in every form; the connection goes on.

    Lone continuation byte, overlong form, surrogate, truncated sequence, above U+10FFFF,
    Latin-1, and bad bytes in the command word, a PING token or after WHO.
    """
    carol = chat.connect("carol")
    alice, bob = chat.registered("alice", "bob")
    carol.send_raw(b"NAME \xff\n")
    carol.expect_error("bad-encoding")
    for line in BAD_UTF8_LINES:
        alice.send_raw(line + LF)
        alice.expect_error("bad-encoding")
    alice.send_raw(b"MSG \xff\nMSG next line\n")
    alice.expect_error("bad-encoding")
    bob.expect(f"MSG {alice.name} next line")
    alice.barrier()
    bob.barrier()  # nothing else was relayed
    carol.register()  # still unregistered, free to register
    for watcher in (alice, bob):
        watcher.expect(f"JOIN {carol.name}")


@check("framing.length-before-encoding", "FRAME-9", "FRAME-5")
def test_length_before_encoding(chat: Chat) -> None:
    """An over-long line of bad UTF-8 gets only `ERR line-too-long`, not bad-encoding too."""
    alice = chat.connect("alice")
    for line in (b"MSG " + b"\xff" * (MAX_LINE_BYTES - len(b"MSG ")) + LF, b"\xd0" * 5000 + LF):
        alice.send_raw(line)
        alice.expect_error("line-too-long")
        alice.barrier()


# ---- FRAME-10 and FRAME-11: command words and arguments ---------------------------------------


@check("framing.command-words-any-case", "FRAME-10")
def test_command_words_any_case(chat: Chat) -> None:
    """`name`, `NaMe`, `msg`, `pInG`, `wHo`, `exit` work; the server's words stay upper case."""
    (watcher,) = chat.registered("watcher")
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.send_line(f"name {alice.name}")
    alice.expect(f"WELCOME {alice.name}")
    watcher.expect(f"JOIN {alice.name}")
    bob.send_line(f"NaMe {bob.name}")
    bob.expect(f"WELCOME {bob.name}")
    for client in (watcher, alice):
        client.expect(f"JOIN {bob.name}")
    alice.send_line("msg lower case")
    alice.send_line("Msg title case")
    for client in (watcher, bob):
        client.expect(f"MSG {alice.name} lower case")
        client.expect(f"MSG {alice.name} title case")
    bob.send_line("pInG mixed")
    bob.expect("PONG mixed")
    bob.send_line("wHo")
    expect_who_reply(bob, {watcher.name, alice.name, bob.name})
    bob.send_line("exit")
    bob.expect("BYE", optional_text=True)
    for client in (watcher, alice):
        client.expect(f"LEAVE {bob.name} exit")
    alice.barrier()


VERBATIM_TEXTS = (
    "  two leading spaces",
    "two trailing spaces  ",
    "inner   three   spaces",
    "\tTAB first",
    "TAB last\t",
    " ",
    "\t",
    " \t \t ",
)


@check("framing.argument-verbatim", "FRAME-11", "MSG-3")
def test_argument_verbatim(chat: Chat) -> None:
    """The argument is everything after the first space: extra spaces and TABs are kept."""
    alice, bob = chat.registered("alice", "bob")
    for text in VERBATIM_TEXTS:
        alice.send_line(f"MSG {text}")
        bob.expect(f"MSG {alice.name} {text}")
    alice.send_line("PING  spaced token ")
    alice.expect("PONG  spaced token ")
    alice.barrier()


@check("framing.only-space-separates", "FRAME-11", "CMD-1")
def test_only_space_separates(chat: Chat) -> None:
    """Only 0x20 ends the command word: `MSG\\thi` or `PING\\u00a0x` is an unknown command."""
    alice, bob = chat.registered("alice", "bob")
    for line in ("MSG\thi", "PING\tx", "NAME\tcarol", "EXIT\tnow", "PING\u00a0x", "MSG\u3000hi"):
        alice.send_line(line)
        alice.expect_error("unknown-command")
    alice.barrier()
    bob.barrier()  # nothing was relayed


# ---- PING-3: no control character echoed ----------------------------------------------------


@check("framing.ping-never-echoes-controls", "PING-3", "FRAME-2")
def test_ping_never_echoes_controls(chat: Chat) -> None:
    """A PING token with a CR or an escape sequence gets `ERR text-invalid`, with no CR or ESC.

    Neither a PONG nor the error's free text may carry the control back to the client.
    """
    alice = chat.connect("alice")
    for line in (
        b"PING a\rb\n",
        b"PING \x1b[31m\n",
        b"PING a\r\r\n",  # the token is "a" CR
        b"PING \r\r\n",  # the token is CR
        b"PING \x1b]0;title\x07\n",
    ):
        alice.send_raw(line)
        reply = alice.expect_error("text-invalid")
        if CONTROL_CHARACTER.search(reply):
            alice.fail(f"{show(reply)} sends a control character back (PING-3)")
    alice.barrier()
