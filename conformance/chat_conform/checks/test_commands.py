"""CMD: unknown commands, the error codes, missing arguments, and the state after an error."""

from __future__ import annotations

import re

from chat_conform.registry import check
from chat_conform.session import Chat
from chat_conform.wire import MAX_LINE_BYTES, Client, show

ERROR_CODES = frozenset(
    {
        "syntax",
        "unknown-command",
        "not-registered",
        "already-registered",
        "name-taken",
        "name-invalid",
        "text-invalid",
        "line-too-long",
        "bad-encoding",
        "server-full",
    }
)
ERROR_LINE = re.compile(r"ERR ([^ ]*)(?: .*)?", re.DOTALL)

UNKNOWN_COMMANDS = (
    "HELLO",  # the server's own line words are not commands
    "HELLO linechat/1",
    "WELCOME alice",
    "JOIN alice",
    "USER alice",
    "END WHO 0",
    "PONG",
    "BYE",
    "ERR syntax",
    "QUIT",  # other chat protocols
    "NAMES",
    "MSGX hi",  # a command word that merely starts like one
    "MS hi",
    " ",  # an empty command word
    " MSG hi",
    "\x00",
    "\ufeffPING bom",  # a byte order mark is part of the command word
)


def unregistered_errors(taken_name: str) -> list[tuple[bytes, str]]:
    """Bad lines of an unregistered client, with the error code each must get."""
    return [
        (b"FOO\n", "unknown-command"),
        (b"NAME\n", "syntax"),
        (b"NAME a b\n", "name-invalid"),
        (f"NAME {taken_name.upper()}\n".encode(), "name-taken"),
        (b"MSG hi\n", "not-registered"),
    ]


def registered_errors() -> list[tuple[bytes, str]]:
    """Bad lines of a registered client, with the error code each must get."""
    return [
        (b"NAME another\n", "already-registered"),
        (b"MSG\n", "syntax"),
        (b"QUIT\n", "unknown-command"),
    ]


def content_errors(name: str) -> list[bytes]:
    """Lines that get line-too-long, bad-encoding or text-invalid from a client called ``name``.

    (Other checks cover these codes with their rules: FRAME-5, MSG-5, FRAME-9, MSG-2, PING-3.)
    """
    too_long_to_relay = "x" * (MAX_LINE_BYTES - len(f"MSG {name} \n".encode()) + 1)
    return [
        b"PING " + b"x" * MAX_LINE_BYTES + b"\n",
        f"MSG {too_long_to_relay}\n".encode(),
        b"MSG \xff\n",
        b"\xffPING\n",
        b"MSG a\x01b\n",
        b"PING \x1b[1m\n",
    ]


def send_bad_lines(client: Client, bad_lines: list[tuple[bytes, str]]) -> None:
    """Send each bad line; it must get exactly its `ERR <code>`, and nothing else."""
    for line, code in bad_lines:
        client.send_raw(line)
        client.expect_error(code)
    client.barrier()


@check("commands.unknown-refused", "CMD-1", "CMD-4")
def test_unknown_refused(chat: Chat) -> None:
    """Unknown command words get `ERR unknown-command`, and the connection goes on as before.

    Server line words, other protocols' commands, near misses, an empty command word (a line
    of one space), NUL, and a byte order mark before PING; registered or not.
    """
    carol = chat.connect("carol")
    alice, bob = chat.registered("alice", "bob")
    for client in (carol, alice):
        for line in UNKNOWN_COMMANDS:
            client.send_line(line)
            client.expect_error("unknown-command")
        client.barrier()
    bob.barrier()  # nothing was relayed or announced
    carol.send_line("MSG still unregistered?")
    carol.expect_error("not-registered")
    alice.send_line("MSG still registered")
    bob.expect(f"MSG {alice.name} still registered")


@check("commands.error-codes-known", "CMD-2")
def test_error_codes_known(chat: Chat) -> None:
    """Every error line is `ERR <code>` [text], with one of the ten codes, in upper case ERR.

    A battery of bad lines (for all nine codes but server-full, registered or not) is sent;
    every line that comes back starting with ERR, in any case, must be well formed.
    """
    (alice,) = chat.registered("alice")
    carol = chat.connect("carol")
    battery = [
        *((carol, line) for line, _ in unregistered_errors(alice.name)),
        *((alice, line) for line, _ in registered_errors()),
        *((client, line) for client in (carol, alice) for line in content_errors(alice.name)),
    ]
    errors_seen = 0
    for client, line in battery:
        client.send_raw(line)
        for reply in client.collect_until_pong():
            if reply[:3].upper() == "ERR":
                expect_well_formed_error(client, reply)
                errors_seen += 1
    if errors_seen == 0:
        alice.fail(f"no ERR line at all in reply to {len(battery)} bad lines")


def expect_well_formed_error(client: Client, line: str) -> None:
    """``line`` must be `ERR <code>` or `ERR <code> <text>` with a code of CMD-2."""
    match = ERROR_LINE.fullmatch(line)
    if match is None or match.group(1) not in ERROR_CODES:
        client.fail(f"{show(line)} is not `ERR <code>` [text] with a code of CMD-2")


@check("commands.missing-argument", "CMD-3")
def test_missing_argument(chat: Chat) -> None:
    """`NAME`, `NAME `, `MSG` and `MSG ` get `ERR syntax` where the command is allowed."""
    carol = chat.connect("carol")
    alice, bob = chat.registered("alice", "bob")
    send_bad_lines(carol, [(b"NAME\n", "syntax"), (b"NAME \n", "syntax")])
    send_bad_lines(alice, [(b"MSG\n", "syntax"), (b"MSG \n", "syntax")])
    bob.barrier()  # nothing was relayed


@check("commands.state-before-argument", "CMD-3")
def test_state_before_argument(chat: Chat) -> None:
    """The state is checked before the argument: bare `MSG` unregistered is not-registered.

    And a bare `NAME` on a registered connection gets already-registered, not syntax.
    """
    carol = chat.connect("carol")
    alice, bob = chat.registered("alice", "bob")
    send_bad_lines(carol, [(b"MSG\n", "not-registered"), (b"MSG \n", "not-registered")])
    send_bad_lines(alice, [(b"NAME\n", "already-registered"), (b"NAME \n", "already-registered")])
    bob.barrier()


@check("commands.state-kept-after-errors", "CMD-4")
def test_state_kept_after_errors(chat: Chat) -> None:
    """After errors the state is unchanged and the client may go on (in either state).

    An unregistered client is still unregistered (MSG is refused, nobody hears of it) and can
    then register; a registered one keeps its name (its MSG is relayed under it, WHO lists it).
    """
    (alice,) = chat.registered("alice")
    carol = chat.connect("carol")
    send_bad_lines(carol, unregistered_errors(alice.name))
    carol.send_line("MSG am I in?")
    carol.expect_error("not-registered")
    alice.barrier()  # no JOIN, no MSG from carol
    carol.register()
    alice.expect(f"JOIN {carol.name}")
    send_bad_lines(alice, registered_errors())
    alice.send_line("MSG same name")
    carol.expect(f"MSG {alice.name} same name")
    chat.expect_who(carol, present={alice.name, carol.name})
