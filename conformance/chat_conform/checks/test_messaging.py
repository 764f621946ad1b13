"""MSG: who may talk, which text is valid, and who receives a message in which form."""

from __future__ import annotations

from chat_conform.registry import check
from chat_conform.session import Chat
from chat_conform.wire import MAX_LINE_BYTES

# One text per forbidden range of MSG-2, the control at the start, inside and at the end.
# (Not CR at the end: there a CR before the LF is the line ending, FRAME-3.)
CONTROL_TEXTS = (
    "nul\x00",
    "\x01start",
    "red \x1b[31m text",  # ESC
    "a\rb",  # CR inside the text
    "unit\x1fsep",
    "del\x7f",
    "\x80c1",
    "next\x85line",  # NEL, a C1 control
    "c1 end\x9f",
)
# Valid texts a careless server refuses or mangles: TAB (the one allowed C0 control), no-break
# space (U+00A0, right after the C1 range), U+00FF, line separator (U+2028, category Zl).
ALLOWED_TEXTS = ("a\tb", "\t", " ", "\u00a0", "no\u00a0break", "ÿ\u00a0", "line\u2028sep")
# Texts that must arrive byte for byte: spaces around and inside, TABs, Cyrillic, emoji.
VERBATIM_TEXTS = (
    "   hi  there\t ",
    "trailing  ",
    "  leading",
    "Привет, мир!",
    "🙂 👍🏽 🇺🇦",
    "MSG someone else",
    "ERR text-invalid",
)
RELAY_OVERHEAD = len(b"MSG ") + len(b" ") + len(b"\n")  # around the name and text (MSG-5)


@check("messaging.unregistered-refused", "MSG-1")
def test_unregistered_refused(chat: Chat) -> None:
    """MSG before NAME gets `ERR not-registered`, whatever its text, and reaches nobody."""
    (bob,) = chat.registered("bob")
    carol = chat.connect("carol")
    for line in ("MSG hi", "MSG Привет всем", "MSG   spaced  ", "MSG", "MSG "):
        carol.send_line(line)
        carol.expect_error("not-registered")
    bob.barrier()
    carol.register()
    bob.expect(f"JOIN {carol.name}")
    carol.send_line("MSG now I am in")
    bob.expect(f"MSG {carol.name} now I am in")


@check("messaging.control-characters-refused", "MSG-2")
def test_control_characters_refused(chat: Chat) -> None:
    """Text with a C0 control (not TAB), DEL or a C1 control gets `ERR text-invalid`, unsent."""
    alice, bob = chat.registered("alice", "bob")
    for text in CONTROL_TEXTS:
        alice.send_line(f"MSG {text}")
        alice.expect_error("text-invalid")
    bob.barrier()  # nothing was relayed
    alice.send_line("MSG still registered")
    bob.expect(f"MSG {alice.name} still registered")


@check("messaging.tab-and-no-break-space-allowed", "MSG-2", "MSG-3")
def test_tab_and_no_break_space_allowed(chat: Chat) -> None:
    """TAB, U+00A0 NO-BREAK SPACE, U+00FF and U+2028 are valid text, relayed as sent."""
    alice, bob = chat.registered("alice", "bob")
    for text in ALLOWED_TEXTS:
        alice.send_line(f"MSG {text}")
        bob.expect(f"MSG {alice.name} {text}")
    alice.barrier()  # no error, no reply


@check("messaging.fan-out", "MSG-3", "MSG-4")
def test_fan_out(chat: Chat) -> None:
    """Each MSG reaches every other registered client as `MSG <sender> <text>`, not the sender."""
    clients = chat.registered("alice", "bob", "carol", "dave")
    for sender in clients:
        sender.send_line(f"MSG привет от {sender.label} 🙂")
        for receiver in clients:
            if receiver is not sender:
                receiver.expect(f"MSG {sender.name} привет от {sender.label} 🙂")
        sender.barrier()


@check("messaging.text-verbatim", "MSG-3")
def test_text_verbatim(chat: Chat) -> None:
    """The text is relayed byte for byte: leading and trailing spaces, TABs, Cyrillic, emoji."""
    alice, bob = chat.registered("Алиса", "bob")
    for text in VERBATIM_TEXTS:
        alice.send_line(f"MSG {text}")
        bob.expect(f"MSG {alice.name} {text}")
    alice.barrier()


@check("messaging.sender-excluded", "MSG-4")
def test_sender_excluded(chat: Chat) -> None:
    """The sender never receives its own message, alone or among others."""
    (alice,) = chat.registered("alice")
    alice.send_line("MSG anyone there?")
    alice.barrier()  # alone: no echo, no reply
    (bob,) = chat.registered("bob", seen_by=[alice])
    for text in ("one", "two", "three"):
        alice.send_line(f"MSG {text}")
        bob.expect(f"MSG {alice.name} {text}")
    alice.barrier()


@check("messaging.relayed-length-limit", "MSG-5")
def test_relayed_length_limit(chat: Chat) -> None:
    """A text whose relayed line is 4096 bytes is relayed; one byte more: `ERR line-too-long`.

    The limit depends on the sender's name in bytes: with a Cyrillic name (2 bytes a letter)
    a server that counts characters allows too much.
    """
    sender, receiver = chat.registered("Жанна", "bob")
    room = MAX_LINE_BYTES - RELAY_OVERHEAD - len(sender.name.encode("utf-8"))
    letters = (room - 1) // 2
    fitting = "Ж" * letters + "." * (room - 2 * letters)  # exactly `room` bytes
    sender.send_line(f"MSG {fitting}")
    receiver.expect(f"MSG {sender.name} {fitting}")
    sender.barrier()
    sender.send_line(f"MSG {fitting}.")
    sender.expect_error("line-too-long")
    receiver.barrier()  # the refused text reached nobody
    sender.send_line("MSG short again")
    receiver.expect(f"MSG {sender.name} short again")
