"""D-FANOUT, D-ECHO: a message reaches every other client once, and never its sender."""

from __future__ import annotations

from chat_conform.dialect_room import Room
from chat_conform.registry import dialect_check


@dialect_check("dialect.fan-out", "D-FANOUT")
def test_fan_out(room: Room) -> None:
    """Each client's message reaches every other client, once, attributed to its sender."""
    clients = room.join("alice", "bob", "carol", "dave")
    sent = []
    for sender in clients:
        payload = room.payloads.make(sender.label, sender.name)
        room.deliver(sender, payload, [client for client in clients if client is not sender])
        sent.append(payload)
    room.settle()  # a second copy would arrive within the quiet period
    room.fail_unless_intact(room.judge(sent, clients), context="after a quiet period")


@dialect_check("dialect.sender-exclusion", "D-ECHO")
def test_sender_exclusion(room: Room) -> None:
    """The sender does not receive its own message back, alone in the room or not."""
    (alice,) = room.join("alice")
    alone = room.payloads.make(alice.label, alice.name)
    room.say(alice, alone)
    room.expect_no_echo([alone])
    bob, carol = room.join("bob", "carol", members=[alice])
    everyone = [alice, bob, carol]
    sent = []
    for sender in everyone:
        payload = room.payloads.make(sender.label, sender.name)
        room.deliver(sender, payload, [client for client in everyone if client is not sender])
        sent.append(payload)
    room.expect_no_echo(sent)
