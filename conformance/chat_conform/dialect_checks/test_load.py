"""D-LOAD: many clients talking at once."""

from __future__ import annotations

from chat_conform.dialect_room import Room, StreamClient, Talk
from chat_conform.integrity import Payload
from chat_conform.registry import dialect_check

CLIENTS = 50
MESSAGES_EACH = 4
FRAMED_SIZES = (200, 1500)  # four of them are a few KB: more than one 1 KB read
UNFRAMED_SIZES = (100, 900)  # one send() each, below a 1 KB read: load, not length
CUT_MESSAGE = 2  # with a terminator, the first write of each client ends inside message 3


@dialect_check("dialect.load", "D-LOAD")
def test_load(room: Room) -> None:
    """50 clients each send 4 messages at once: all 49 others get every one, intact.

    With a send terminator every client writes its four messages in two writes cut inside
    the third message, all clients at once: first every first part, then (once those have
    been relayed) every rest. A server that keeps lines whole relays each line once it is
    complete; one that relays whatever it read cuts every client's third line with other
    clients' lines. Without a terminator each client sends its next message once the
    previous one has arrived somewhere.
    """
    labels = [f"user{number:02d}" for number in range(1, CLIENTS + 1)]
    clients = room.join(*labels, recorded=False)
    low, high = FRAMED_SIZES if room.dialect.framed else UNFRAMED_SIZES
    sent = {
        client.label: [
            room.payloads.make(client.label, client.name, size=room.rng.randint(low, high))
            for _ in range(MESSAGES_EACH)
        ]
        for client in clients
    }
    room.note(f"{CLIENTS} clients send {MESSAGES_EACH} messages each, all at once")
    if room.dialect.framed:
        _in_two_writes_each(room, clients, sent)
    else:
        plan = [Talk(c, [o for o in clients if o is not c], sent[c.label]) for c in clients]
        room.exchange(plan, window=1)
    payloads = [payload for talk in sent.values() for payload in talk]
    room.fail_unless_intact(room.judge(payloads, clients))


def _in_two_writes_each(
    room: Room, clients: list[StreamClient], sent: dict[str, list[Payload]]
) -> None:
    rests = {}
    for client in clients:
        payloads = sent[client.label]
        data = b"".join(room.dialect.message_bytes(payload.text) for payload in payloads)
        whole = sum(len(room.dialect.message_bytes(p.text)) for p in payloads[:CUT_MESSAGE])
        cut = whole + len(room.dialect.message_bytes(payloads[CUT_MESSAGE].text)) // 2
        room.send(client, data[:cut], shown=f"(messages 1-{CUT_MESSAGE}, half of the next)")
        rests[client.label] = data[cut:]
    room.wait_delivered([p for talk in sent.values() for p in talk[:CUT_MESSAGE]], clients)
    halves = {talk[CUT_MESSAGE].key for talk in sent.values()}
    # A server that relays what it read so far relays the halves at once; one that keeps
    # lines whole relays nothing more: then the quiet period bounds the wait.
    room.wait_until(
        lambda: all(len(halves - client.starts_seen) <= 1 for client in clients),
        within=room.quiet_period,
    )
    for client in clients:
        room.send(client, rests[client.label], shown="(the rest)")
    missing = room.wait_delivered([p for talk in sent.values() for p in talk], clients)
    if missing:
        room.note(f"{len(missing)} clients still miss messages after {room.timeout:g} s")
