"""D-NAMES: a second client with a name already in use does not take the first one's place."""

from __future__ import annotations

from chat_conform.dialect_room import Room
from chat_conform.registry import dialect_check


@dialect_check("dialect.duplicate-name", "D-NAMES", needs=("names",))
def test_duplicate_name(room: Room) -> None:
    """After a second client asks for alice's name, alice still receives and is still heard,
    also once the second one has left (whether the server refused or admitted it).

    A server that keeps its clients in a dict keyed by name overwrites alice's entry: her
    messages go to the newcomer, and when the newcomer leaves she is removed with it.
    """
    alice, bob = room.join("alice", "bob")
    twin = room.connect("twin")
    problem = room.try_register(twin, alice.name, within=room.timeout)
    answer = "answered" if problem is None else "did not answer"
    room.note(f"the server {answer} the second client asking for the name {alice.name}")
    context = f"after a second client asked for the name {alice.name}"
    room.deliver(bob, room.payloads.make(bob.label, bob.name), [alice], context=context)
    room.deliver(alice, room.payloads.make(alice.label, alice.name), [bob], context=context)
    room.close(twin)
    context += " and left again"
    room.deliver(bob, room.payloads.make(bob.label, bob.name), [alice], context=context)
    room.deliver(alice, room.payloads.make(alice.label, alice.name), [bob], context=context)
