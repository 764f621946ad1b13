"""D-NOTICES: the others are told when a client joins and when it leaves, however it leaves.

Only where the profile describes the notices ([receive] join, [receive] leave, [send] exit);
elsewhere these checks are not applicable. The leaver joins second, between the first
client and the others: a server that removes it from its list while iterating over that
list skips the client after it.
"""

from __future__ import annotations

from collections.abc import Callable

from chat_conform.dialect_room import Room, StreamClient
from chat_conform.registry import dialect_check


@dialect_check("dialect.join-notice", "D-NOTICES", needs=("join",))
def test_join_notice(room: Room) -> None:
    """When a client registers, every client already in the room gets a join notice."""
    assert room.dialect.join is not None
    alice, bob = room.join("alice", "bob")
    since = room.offsets([alice, bob])
    carol = room.connect("carol")
    room.register(carol)
    room.expect_notice("join", room.dialect.join, carol, [alice, bob], since)


@dialect_check("dialect.leave-on-exit", "D-NOTICES", needs=("leave", "exit"))
def test_leave_on_exit(room: Room) -> None:
    """The exit word: the others get a leave notice (not the word as a message), and the
    server ends the connection."""
    others = _leave_and_expect_notice(room, room.say_exit)
    leaver = room.clients[1]
    if not room.wait_until(lambda: leaver.ended is not None, within=room.timeout):
        room.fail(f"the server did not end {leaver.label}'s connection after the exit word")
    assert room.dialect.exit is not None
    word = room.dialect.exit.render()
    relayed = room.dialect.received.compile(name=leaver.name, text=word)
    room.settle()
    for other in others:
        if relayed.search(other.text_since(0, room.dialect)):
            room.fail(f"{other.label} received the exit word as a message from {leaver.label}")


@dialect_check("dialect.leave-on-close", "D-NOTICES", needs=("leave",))
def test_leave_on_close(room: Room) -> None:
    """A client that closes its connection (FIN) without the exit word: the others get a
    leave notice."""
    _leave_and_expect_notice(room, room.close)


@dialect_check("dialect.leave-on-reset", "D-NOTICES", needs=("leave",))
def test_leave_on_reset(room: Room) -> None:
    """A client whose connection is reset (RST): the others get a leave notice."""
    _leave_and_expect_notice(room, room.reset)


def _leave_and_expect_notice(
    room: Room, leave: Callable[[StreamClient], None]
) -> list[StreamClient]:
    """alice, dmitry, bob, carol join; dmitry leaves with ``leave``; the others must be told."""
    assert room.dialect.leave is not None
    alice, leaver, bob, carol = room.join("alice", "dmitry", "bob", "carol")
    others = [alice, bob, carol]
    since = room.offsets(others)
    leave(leaver)
    room.expect_notice("leave", room.dialect.leave, leaver, others, since)
    return others
