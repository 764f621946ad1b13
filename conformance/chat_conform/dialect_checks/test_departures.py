"""D-DISCONNECT, D-CHURN: clients that vanish, one at a time or by the hundred.

The leaver joins second, between the first client and the others: a server that removes
it from its list while iterating over that list skips the client after it.
"""

from __future__ import annotations

from collections.abc import Callable

from chat_conform.dialect_room import Room, StreamClient
from chat_conform.registry import dialect_check

CHURN_CYCLES = 200


@dialect_check("dialect.close", "D-DISCONNECT")
def test_close(room: Room) -> None:
    """After a client closes its connection (FIN), everyone else is still served."""
    _still_served_after(room, room.close, "closed its connection")


@dialect_check("dialect.reset", "D-DISCONNECT")
def test_reset(room: Room) -> None:
    """After a client resets its connection (RST), everyone else is still served."""
    _still_served_after(room, room.reset, "reset its connection")


def _still_served_after(room: Room, leave: Callable[[StreamClient], None], how: str) -> None:
    """Each remaining client says two things to the others, then a newcomer joins and talks."""
    alice, leaver, bob, carol = room.join("alice", "dmitry", "bob", "carol")
    leave(leaver)
    remaining = [alice, bob, carol]
    context = f"after {leaver.label} {how}"
    for sender in remaining:
        for _ in range(2):
            payload = room.payloads.make(sender.label, sender.name)
            others = [client for client in remaining if client is not sender]
            room.deliver(sender, payload, others, context=context)
    (dave,) = room.join("dave", members=remaining)
    payload = room.payloads.make(dave.label, dave.name)
    room.deliver(dave, payload, remaining, context=f"{context}, to a newcomer's message")


@dialect_check("dialect.churn", "D-CHURN")
def test_churn(room: Room) -> None:
    """200 clients connect, register and leave (closing, resetting, or with the exit word)
    while alice talks: bob gets every message, and a newcomer can still join."""
    alice, bob = room.join("alice", "bob")
    ways: list[Callable[[StreamClient], None]] = [room.close, room.reset]
    if room.dialect.exit is not None:
        ways.append(_exit_and_close(room))
    sent = []
    for cycle in range(CHURN_CYCLES):
        guest = room.connect(f"guest{cycle}", recorded=False)
        room.register(guest)
        payload = room.payloads.make(alice.label, alice.name)
        room.say(alice, payload)  # while the guest leaves: the two race in the server
        ways[cycle % len(ways)](guest)
        if room.wait_delivered([payload], [bob]):
            room.fail(
                f"bob never got alice's {payload.key}, sent as guest{cycle} left "
                f"(cycle {cycle + 1} of {CHURN_CYCLES}); bob received {bob.tail()}"
            )
        sent.append(payload)
    room.note(f"{CHURN_CYCLES} guests joined and left")
    (dave,) = room.join("dave", members=[alice, bob])
    room.deliver(bob, room.payloads.make(bob.label, bob.name), [alice, dave])
    room.fail_unless_intact(room.judge(sent, [bob]), context="during the churn")


def _exit_and_close(room: Room) -> Callable[[StreamClient], None]:
    def leave(client: StreamClient) -> None:
        room.say_exit(client)
        room.close(client)

    return leave
