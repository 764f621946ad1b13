"""D-INTEGRITY: every message arrives whole, whatever its size, script, and timing.

The verdicts (intact, glued, split, corrupted) and why they are server bugs and not TCP's
doing are defined in ``chat_conform.integrity``.
"""

from __future__ import annotations

from chat_conform.dialect_room import Room, StreamClient
from chat_conform.integrity import Delivery, Payload
from chat_conform.registry import dialect_check

# Sizes in bytes, markers included: from the smallest payload to most of a 1 KB read.
SIZES = (20, 21, 60, 127, 128, 255, 300, 511, 700, 900)
LONG_BYTES = 5000
# Each: text a careless server re-encodes, strips or truncates. None spells a join or
# leave word of the built-in profiles.
NON_ASCII_TEXTS = (
    "Привет, мир! Съешь же ещё этих мягких французских булок",
    "Ёжик в тумане: «ёлки-палки» — 100 %",
    "Zoë, façade, naïve, Ærø, Straße, ½ ¼",
    "Γειά σου κόσμε",
    "你好，世界",
    "emoji 🙂👍🏽🇺🇦 и ещё 🎉",
)


@dialect_check("dialect.integrity", "D-INTEGRITY")
def test_integrity(room: Room) -> None:
    """Messages of 20 to 900 bytes arrive intact: not glued, not split, not corrupted.

    With a send terminator (messages framed, e.g. by LF) two clients' messages are sent the
    way fast clients send them: a burst in one write, and one message written in two
    halves with another client's message in between. Without one, each message is a send()
    of its own, and the next one goes out once the previous one arrived.
    """
    alice, bob, carol = room.join("alice", "bob", "carol")
    if room.dialect.framed:
        _burst_and_interleave(room, alice, bob, carol)
        return
    sent = []
    for number, size in enumerate(SIZES):
        sender = (alice, bob)[number % 2]
        payload = room.payloads.make(sender.label, sender.name, size=size)
        room.deliver(sender, payload, [c for c in (alice, bob, carol) if c is not sender])
        sent.append(payload)
    room.settle()
    room.fail_unless_intact(room.judge(sent, [alice, bob, carol]), context="after a quiet period")


def _burst_and_interleave(
    room: Room, alice: StreamClient, bob: StreamClient, carol: StreamClient
) -> None:
    burst = [room.payloads.make(alice.label, alice.name, size=size) for size in SIZES]
    data = b"".join(room.dialect.message_bytes(payload.text) for payload in burst)
    room.send(alice, data, shown=f"({len(burst)} messages in one write)")
    deliveries = room.expect_delivered(burst, [bob, carol], context="a burst of messages")
    halved = room.payloads.make(alice.label, alice.name, size=300)
    data = room.dialect.message_bytes(halved.text)
    room.send(alice, data[: len(data) // 2], shown="(the first half of a message)")
    first_half = halved.start.encode()
    # A server that forwards what it read so far does so at once; one that waits for the
    # whole message forwards nothing: then the quiet period bounds the wait.
    room.wait_until(
        lambda: any(first_half in c.stream for c in (bob, carol)), within=room.quiet_period
    )
    between = room.payloads.make(bob.label, bob.name, size=100)
    room.say(bob, between)
    room.wait_delivered([between], [alice, carol])
    room.send(alice, data[len(data) // 2 :], shown="(the second half)")
    room.wait_delivered([halved], [bob, carol])
    deliveries += room.judge([halved, between], [alice, bob, carol])
    room.fail_unless_intact(deliveries)


@dialect_check("dialect.long-message", "D-INTEGRITY")
def test_long_message(room: Room) -> None:
    """A 5000-byte message arrives intact, in ASCII and in Cyrillic.

    The Cyrillic one has no spaces and one ASCII byte before its letters, so that every even
    byte offset falls inside a letter: a server that reads 1024 bytes at a time and forwards
    each read as a message splits it (the name prefix repeated), or cuts a letter in two.
    """
    alice, bob, carol = room.join("alice", "bob", "carol")
    payloads = [room.payloads.make(alice.label, alice.name, size=LONG_BYTES)]
    if room.dialect.can_encode("Ж"):
        cyrillic = room.payloads.make_unspaced_cyrillic(alice.label, alice.name, size=LONG_BYTES)
        payloads.append(cyrillic)
    deliveries: list[Delivery] = []
    for payload in payloads:
        deliveries += _one_at_a_time(room, alice, payload, [bob, carol])
    room.fail_unless_intact(deliveries)


@dialect_check("dialect.non-ascii", "D-INTEGRITY")
def test_non_ascii(room: Room) -> None:
    """Cyrillic, accented, Greek, Chinese and emoji text arrives byte for byte, also from a
    client with a Cyrillic name."""
    boris, alice = room.join("Борис", "alice")
    texts = [text for text in NON_ASCII_TEXTS if room.dialect.can_encode(text)]
    deliveries: list[Delivery] = []
    for number, text in enumerate(texts):
        sender, receiver = (boris, alice) if number % 2 == 0 else (alice, boris)
        payload = room.payloads.make(sender.label, sender.name, body=text)
        deliveries += _one_at_a_time(room, sender, payload, [receiver])
    room.fail_unless_intact(deliveries)


def _one_at_a_time(
    room: Room, sender: StreamClient, payload: Payload, receivers: list[StreamClient]
) -> list[Delivery]:
    """Send one message, wait for it (or the timeout), and judge it at every receiver."""
    room.say(sender, payload)
    room.wait_delivered([payload], receivers)
    return room.judge([payload], receivers)
