"""D-ISOLATION: one stuck client, silent at the prompt or not reading, blocks nobody."""

from __future__ import annotations

from pathlib import Path

from chat_conform.dialect_room import Room, StreamClient, Talk
from chat_conform.integrity import Payload
from chat_conform.registry import dialect_check
from chat_conform.wire import CheckFailure

# The non-reader's receive buffer: small, so that its buffers are full after a few MB.
NON_READER_BUFFER = 4096
MESSAGE_BYTES = 8192
MIN_BYTES_PER_TALKER = 8 << 20  # two talkers: "tens of MB" in all
MAX_BYTES_PER_TALKER = 64 << 20
TCP_WMEM = Path("/proc/sys/net/ipv4/tcp_wmem")


@dialect_check("dialect.silent-at-prompt", "D-ISOLATION", needs=("registration",))
def test_silent_at_prompt(room: Room) -> None:
    """A client that connects and never registers does not keep others from joining and
    talking (a server that reads the name in its accept loop waits for it forever)."""
    silent = room.connect("silent")
    first = room.dialect.register[0]
    prompted = first.expect is None or room.expect_match(silent, first.expect, within=room.timeout)
    if not prompted:
        room.fail(f"silent: registration step 1 ({first.describe()}) never came: {silent.tail()}")
    room.note("silent says nothing from now on")
    try:
        alice, bob = room.join("alice", "bob")
    except CheckFailure as failure:
        room.fail(f"while another client stayed silent at the prompt: {failure}")
    payload = room.payloads.make(alice.label, alice.name)
    room.deliver(alice, payload, [bob], context="while another client stayed silent")


@dialect_check("dialect.non-reader", "D-ISOLATION")
def test_non_reader(room: Room) -> None:
    """While one client reads nothing, two others exchange tens of MB without stalling.

    A server that sends to every client from the sender's thread blocks once the
    non-reader's buffers are full, and the whole room freezes. Dropping the non-reader is
    fine; making the others wait longer than the timeout is not. Only arrival is judged.
    """
    alice, bob = room.join("alice", "bob", recorded=False)
    # The non-reader joins last: a server that drops it is then not also judged on how it
    # removes a client from the middle of its list (dialect.close does that).
    (carol,) = room.join("carol", members=[alice, bob], receive_buffer=NON_READER_BUFFER)
    room.stop_reading(carol)
    per_talker = _bytes_per_talker()
    count = per_talker // MESSAGE_BYTES
    room.note(f"alice and bob each send {count} messages of {MESSAGE_BYTES} bytes")
    body = room.payloads.make("", "", size=MESSAGE_BYTES).text  # one body for all: faster
    plan = [
        Talk(talker, [listener], [_message(room, talker, body) for _ in range(count)])
        for talker, listener in ((alice, bob), (bob, alice))
    ]
    room.exchange(plan, window=4 if room.dialect.framed else 1)
    room.note(f"alice and bob received all {2 * count} messages")


def _message(room: Room, talker: StreamClient, body: str) -> Payload:
    return room.payloads.make(talker.label, talker.name, body=body)


def _bytes_per_talker() -> int:
    """Enough to fill the non-reader's buffers several times over: the kernel lets a
    socket's send buffer grow to the last value of tcp_wmem."""
    try:
        send_buffer = int(TCP_WMEM.read_text(encoding="ascii").split()[-1])
    except (OSError, ValueError, IndexError):
        send_buffer = 4 << 20
    return min(MAX_BYTES_PER_TALKER, max(MIN_BYTES_PER_TALKER, 2 * send_buffer))
