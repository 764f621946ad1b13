"""ORDER: processing order, delivery exactly once, and the order receivers see lines in."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence

from chat_conform.checks._bulk import Crowd, Link, show_bytes
from chat_conform.registry import check
from chat_conform.session import Chat

# Lines queued to a client that does not read stay below LOAD-4's 64 KiB: it must not be
# dropped for them. 15 lines of about 4000 bytes are 60 000 bytes.
BACKLOG_MESSAGES = 15
BACKLOG_TEXT_CHARS = 1990  # Cyrillic: 2 bytes each, so a relayed line is about 4000 bytes
PINGS_IN_ONE_SEGMENT = 50
COMMON_ORDER_ROUNDS = 20
MESSAGES_PER_SENDER = 200
MESSAGES_PER_WRITE = 10


@check("order.replies-in-order", "ORDER-1")
def test_replies_in_order(chat: Chat) -> None:
    """Lines sent in one segment are processed in order, and their replies come in that order."""
    alice = chat.connect("alice")
    lines = ["PING 1", "MSG too early", f"NAME {alice.name}", "PING 2", f"NAME {alice.name}"]
    lines += [f"PING {number}" for number in range(3, PINGS_IN_ONE_SEGMENT + 1)]
    alice.send_raw("".join(f"{line}\n" for line in lines).encode("utf-8"))
    alice.expect("PONG 1")
    alice.expect_error("not-registered")  # the MSG came before the NAME
    alice.expect(f"WELCOME {alice.name}")
    alice.expect("PONG 2")
    alice.expect_error("already-registered")  # the second NAME came after the first
    for number in range(3, PINGS_IN_ONE_SEGMENT + 1):
        alice.expect(f"PONG {number}")


@check("order.reply-after-queued-lines", "ORDER-1")
def test_reply_after_queued_lines(chat: Chat) -> None:
    """A PONG comes after every line the server had queued to the client before the PING.

    bob sends 15 long messages while alice does not read; bob's PONG proves they were
    processed, so they are queued to alice before her `MSG x` and `PING t` (one segment) are.
    """
    alice, bob = chat.registered("alice", "bob")
    texts = [f"{number:02d} " + "щ" * BACKLOG_TEXT_CHARS for number in range(BACKLOG_MESSAGES)]
    bob.send_raw("".join(f"MSG {text}\n" for text in texts).encode("utf-8"))
    bob.barrier()
    alice.send_raw(b"MSG x\nPING t\n")
    for text in texts:
        alice.expect(f"MSG {bob.name} {text}")
    alice.expect("PONG t")
    bob.expect(f"MSG {alice.name} x")
    bob.barrier()


@check("order.exactly-once", "ORDER-2")
def test_exactly_once(chat: Chat) -> None:
    """4 clients each send 200 messages at once; each other client gets each exactly once."""
    with Crowd(chat) as crowd:
        clients = crowd.open_registered(["Анна", "bob", "carol", "dave"])
        nonce = chat.rng.randrange(16**6)
        texts = {
            sender: [f"сообщение {nonce:06x} {index}/{n}" for n in range(MESSAGES_PER_SENDER)]
            for index, sender in enumerate(clients)
        }
        _send_interleaved(texts, MESSAGES_PER_WRITE)
        crowd.sync(clients)  # every MSG is processed: its relayed lines are queued
        received = crowd.collect(clients)
        for receiver in clients:
            expected = [
                f"MSG {sender.name} {text}".encode()
                for sender in clients
                if sender is not receiver
                for text in texts[sender]
            ]
            _expect_each_once(receiver, received[receiver], expected, strict=not chat.shared)


@check("order.sender-fifo-one-segment", "ORDER-3")
def test_sender_fifo_one_segment(chat: Chat) -> None:
    """3 senders each send 200 numbered messages in one segment; every receiver keeps the order."""
    _check_sender_fifo(chat, messages_per_write=MESSAGES_PER_SENDER)


@check("order.sender-fifo-many-segments", "ORDER-3")
def test_sender_fifo_many_segments(chat: Chat) -> None:
    """3 senders send 200 numbered messages, one segment each; every receiver keeps the order."""
    _check_sender_fifo(chat, messages_per_write=1)


@check("order.common-order", "ORDER-4")
def test_common_order(chat: Chat) -> None:
    """All receivers see concurrent MSG, JOIN and LEAVE lines in one common order.

    4 members send interleaved messages while 6 newcomers register and 5 of them leave
    (EXIT, or end of input). Any two members must see the lines they both got in one order.
    """
    with Crowd(chat) as crowd:
        members = crowd.open_registered(["m0", "m1", "Мира", "m3"])
        newcomers = [crowd.connect(f"n{number}") for number in range(6)]
        joining_in_round = {2 * number: newcomer for number, newcomer in enumerate(newcomers)}
        leavers = newcomers[:-1]  # the last one stays
        leaving_in_round = {2 * number + 5: leaver for number, leaver in enumerate(leavers)}
        departures: list[bytes] = []
        for round_number in range(COMMON_ORDER_ROUNDS):
            for index, member in enumerate(members):
                member.send_lines([f"MSG {index}.{round_number}.{k}" for k in range(5)])
            if (newcomer := joining_in_round.get(round_number)) is not None:
                newcomer.send_lines([f"NAME {newcomer.name}"])
            if (leaver := leaving_in_round.get(round_number)) is not None:
                departures.append(_leave(leaver, by_exit=len(departures) % 2 == 0))
        observer = members[0]  # once it has every LEAVE, all departures are processed
        crowd.read_until(
            [observer],
            lambda link: all(link.has_line(line) for line in departures),
            expecting="the LEAVE line of every departed newcomer",
        )
        views = crowd.collect(members)
        for first, second in itertools.combinations(members, 2):
            _expect_same_order(first, views[first], second, views[second])


@check("order.join-before-messages", "ORDER-5", "NAME-5")
def test_join_before_messages(chat: Chat) -> None:
    """`JOIN x` reaches the others before x's first MSG, even with NAME and MSG in one segment."""
    (bob,) = chat.registered("bob")
    zoya = chat.connect("Зоя")
    zoya.send_raw(f"NAME {zoya.name}\nMSG привет\nMSG и ещё раз\n".encode())
    zoya.expect(f"WELCOME {zoya.name}")
    bob.expect(f"JOIN {zoya.name}")
    bob.expect(f"MSG {zoya.name} привет")
    bob.expect(f"MSG {zoya.name} и ещё раз")
    bob.barrier()
    zoya.barrier()


@check("order.leave-after-messages", "ORDER-5", "EXIT-2")
def test_leave_after_messages(chat: Chat) -> None:
    """`LEAVE x exit` reaches the others after x's last MSG, even when sent in one segment."""
    bob, zoya = chat.registered("bob", "Зоя")
    texts = ["раз", "два", "три"]
    zoya.send_raw("".join(f"MSG {text}\n" for text in texts).encode("utf-8") + b"EXIT\n")
    zoya.expect("BYE", optional_text=True)
    for text in texts:
        bob.expect(f"MSG {zoya.name} {text}")
    bob.expect(f"LEAVE {zoya.name} exit")
    bob.barrier()


@check("order.unregistered-hear-nothing", "ORDER-6")
def test_unregistered_hear_nothing(chat: Chat) -> None:
    """Unregistered connections get no JOIN, MSG or LEAVE while others join, talk and leave.

    One lurker never sends NAME; another tries a taken name and stays unregistered.
    """
    lurker = chat.connect("lurker")
    alice, bob = chat.registered("alice", "bob")
    refused = chat.connect("refused")
    refused.send_line(f"NAME {alice.name}")
    refused.expect_error("name-taken")
    carol, dave = chat.registered("carol", "Даша", seen_by=[alice, bob])
    alice.send_line("MSG всем привет")
    for receiver in (bob, carol, dave):
        receiver.expect(f"MSG {alice.name} всем привет")
    carol.send_line("EXIT")
    carol.expect("BYE", optional_text=True)
    for receiver in (alice, bob, dave):
        receiver.expect(f"LEAVE {carol.name} exit")
    dave.close()
    for receiver in (alice, bob):
        receiver.expect(f"LEAVE {dave.name} disconnect")
    lurker.barrier()  # everything above was queued before this PING was processed
    refused.barrier()


@check("order.message-then-close", "ORDER-7", "LEAVE-1")
def test_message_then_close(chat: Chat) -> None:
    """A client that sends `MSG bye` and closes at once still has it delivered, before its LEAVE."""
    alice, bob, carol = chat.registered("alice", "bob", "carol")
    carol.send_line("MSG пока")
    carol.close()
    for receiver in (alice, bob):
        receiver.expect(f"MSG {carol.name} пока")
        receiver.expect(f"LEAVE {carol.name} disconnect")
        receiver.barrier()


@check("order.last-segment-then-close", "ORDER-7", "LEAVE-1")
def test_last_segment_then_close(chat: Chat) -> None:
    """Several lines in the last segment before the close are all processed, then the LEAVE."""
    alice, bob, carol = chat.registered("alice", "bob", "carol")
    texts = ["one", "два", "three"]
    carol.send_raw("".join(f"MSG {text}\n" for text in texts).encode("utf-8"))
    carol.close()
    for receiver in (alice, bob):
        for text in texts:
            receiver.expect(f"MSG {carol.name} {text}")
        receiver.expect(f"LEAVE {carol.name} disconnect")
        receiver.barrier()


@check("order.join-to-others-only", "ORDER-8")
def test_join_to_others_only(chat: Chat) -> None:
    """After `WELCOME x` every other registered client gets one `JOIN x`; x gets none."""
    alice = chat.connect("alice")
    alice.register()
    alice.barrier()  # no JOIN for herself
    bob = chat.connect("bob")
    bob.register()
    bob.barrier()
    alice.expect(f"JOIN {bob.name}")
    alice.barrier()  # exactly one
    kira = chat.connect("Кира")
    kira.register()
    kira.barrier()
    for receiver in (alice, bob):
        receiver.expect(f"JOIN {kira.name}")
        receiver.barrier()


# -- helpers -------------------------------------------------------------------------------


def _send_interleaved(texts: dict[Link, list[str]], per_write: int) -> None:
    """Each sender sends its texts as MSG lines, ``per_write`` lines per write, in turns."""
    count = max(len(sender_texts) for sender_texts in texts.values())
    for start in range(0, count, per_write):
        for sender, sender_texts in texts.items():
            sender.send_lines([f"MSG {text}" for text in sender_texts[start : start + per_write]])


def _expect_each_once(
    receiver: Link, lines: list[bytes], expected: list[bytes], *, strict: bool
) -> None:
    """``lines`` must hold each of ``expected`` exactly once (and, if strict, nothing else)."""
    counts = Counter(lines)
    missing = [line for line in expected if counts[line] == 0]
    repeated = [line for line in expected if counts[line] > 1]
    wanted = set(expected)
    unexpected = [line for line in counts if line not in wanted]
    if missing:
        receiver.fail(
            f"{len(missing)} of {len(expected)} messages never arrived, "
            f"the first of them {show_bytes(missing[0])}"
        )
    if repeated:
        receiver.fail(
            f"{len(repeated)} messages arrived more than once, e.g. {show_bytes(repeated[0])} "
            f"{counts[repeated[0]]} times"
        )
    if unexpected and strict:
        receiver.fail(
            f"{len(unexpected)} unexpected lines arrived, the first {show_bytes(unexpected[0])}"
        )


def _check_sender_fifo(chat: Chat, *, messages_per_write: int) -> None:
    """Every receiver gets each sender's numbered messages in increasing order (ORDER-3)."""
    with Crowd(chat) as crowd:
        clients = crowd.open_registered(["alice", "Борис", "carol", "listener"])
        senders = clients[:3]
        nonce = chat.rng.randrange(16**6)
        texts = {
            sender: [f"{number} {nonce:06x}" for number in range(MESSAGES_PER_SENDER)]
            for sender in senders
        }
        _send_interleaved(texts, messages_per_write)
        crowd.sync(clients)  # every MSG is processed: its relayed lines are queued
        received = crowd.collect(clients)
        for receiver in clients:
            for sender in senders:
                if sender is not receiver:
                    _expect_increasing(receiver, received[receiver], sender, texts[sender])


def _expect_increasing(receiver: Link, lines: list[bytes], sender: Link, texts: list[str]) -> None:
    """The lines of ``sender``'s messages must come in the order of ``texts``."""
    position = {f"MSG {sender.name} {text}".encode(): index for index, text in enumerate(texts)}
    previous: bytes | None = None
    for line in lines:
        index = position.get(line)
        if index is None:
            continue
        if previous is not None and index <= position[previous]:
            receiver.fail(
                f"received {show_bytes(line)} after {show_bytes(previous)}, but "
                f"{sender.label} sent them the other way round"
            )
        previous = line


def _leave(newcomer: Link, *, by_exit: bool) -> bytes:
    """End ``newcomer`` by EXIT or by end of input; return the LEAVE line the others expect."""
    if by_exit:
        newcomer.send_lines(["EXIT"])
        return f"LEAVE {newcomer.name} exit".encode()
    newcomer.half_close()
    return f"LEAVE {newcomer.name} disconnect".encode()


def _expect_same_order(
    first: Link, first_lines: Sequence[bytes], second: Link, second_lines: Sequence[bytes]
) -> None:
    """The lines both received must come in the same order in both (ORDER-4)."""
    common = set(first_lines) & set(second_lines)
    first_common = [line for line in dict.fromkeys(first_lines) if line in common]
    second_common = [line for line in dict.fromkeys(second_lines) if line in common]
    for mine, theirs in zip(first_common, second_common, strict=True):
        if mine != theirs:
            first.fail(
                f"received {show_bytes(mine)} before {show_bytes(theirs)}, but {second.label} "
                "received them the other way round"
            )
