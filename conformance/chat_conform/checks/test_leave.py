"""LEAVE: departures without EXIT, the names they free, and a server that survives them."""

from __future__ import annotations

import re
from collections.abc import Iterable

from chat_conform.registry import check
from chat_conform.session import Chat
from chat_conform.wire import Client, show

LEAVE_LINE = re.compile(r"LEAVE (\S+) (exit|disconnect|timeout|kicked)")


def expect_leave(watchers: Iterable[Client], departed: Client, reason: str) -> None:
    """Each watcher's next line is `LEAVE <departed> <reason>`.

    A LEAVE line with a reason outside the four of LEAVE-4 fails as such, before the
    comparison with the expected reason.
    """
    wanted = f"LEAVE {departed.name} {reason}"
    for watcher in watchers:
        line = watcher.read_line(expecting=show(wanted))
        if line.startswith("LEAVE ") and LEAVE_LINE.fullmatch(line) is None:
            watcher.fail(f"{show(line)} is not `LEAVE <name> exit|disconnect|timeout|kicked`")
        if line != wanted:
            watcher.fail(f"expected {show(wanted)}, got {show(line)}")


def expect_conversation(chat: Chat, talkers: list[Client]) -> None:
    """The remaining clients still talk, and a newcomer still gets HELLO and registers."""
    for sender in talkers:
        sender.send_line(f"MSG still here, {sender.label}")
        for receiver in talkers:
            if receiver is not sender:
                receiver.expect(f"MSG {sender.name} still here, {sender.label}")
    chat.registered("newcomer", seen_by=talkers)


@check("leave.disconnect-on-close", "LEAVE-1")
def test_disconnect_on_close(chat: Chat) -> None:
    """A registered client that closes without EXIT: the others get `LEAVE <name> disconnect`."""
    alice, bob, carol = chat.registered("alice", "Борис", "carol")
    bob.close()
    expect_leave((alice, carol), bob, "disconnect")
    chat.expect_who(alice, present={alice.name, carol.name}, absent={bob.name})


@check("leave.disconnect-on-reset", "LEAVE-1")
def test_disconnect_on_reset(chat: Chat) -> None:
    """A registered client that resets (RST): the others get `LEAVE <name> disconnect`."""
    alice, bob, carol = chat.registered("alice", "Борис", "carol")
    bob.reset()
    expect_leave((alice, carol), bob, "disconnect")
    chat.expect_who(alice, present={alice.name, carol.name}, absent={bob.name})


@check("leave.name-free-after-exit", "LEAVE-2")
def test_name_free_after_exit(chat: Chat) -> None:
    """Once `LEAVE alice exit` is out, a new client can register `alice` (and `ALICE`)."""
    alice, bob = chat.registered("alice", "bob")
    departed_name = alice.name
    alice.send_line("EXIT")
    alice.expect("BYE", optional_text=True)
    expect_leave((bob,), alice, "exit")
    again = chat.connect("alice")
    again.register(departed_name)
    bob.expect(f"JOIN {departed_name}")
    again.send_line("EXIT")
    again.expect("BYE", optional_text=True)
    expect_leave((bob,), again, "exit")
    shouting = chat.connect("ALICE")
    shouting.register(departed_name.upper())
    bob.expect(f"JOIN {shouting.name}")


@check("leave.name-free-after-disconnect", "LEAVE-2")
def test_name_free_after_disconnect(chat: Chat) -> None:
    """Once `LEAVE x disconnect` is out (FIN or RST), `x` is free, in any case."""
    alice, bob = chat.registered("Алиса", "bob")
    alice.close()
    expect_leave((bob,), alice, "disconnect")
    again = chat.connect("АЛИСА")
    again.register(alice.name.upper())
    bob.expect(f"JOIN {again.name}")
    again.reset()
    expect_leave((bob,), again, "disconnect")
    third = chat.connect("Алиса")
    third.register(alice.name)
    bob.expect(f"JOIN {third.name}")


@check("leave.unregistered-departure-silent", "LEAVE-3")
def test_unregistered_departure_silent(chat: Chat) -> None:
    """A connection that ends unregistered (FIN, RST, after refused NAMEs) causes no LEAVE."""
    (alice,) = chat.registered("alice")
    quiet = chat.connect("quiet")
    quiet.close()
    refused = chat.connect("refused")
    refused.send_line(f"NAME {alice.name.upper()}")
    refused.expect_error("name-taken")
    refused.send_line("NAME not valid")
    refused.expect_error("name-invalid")
    refused.reset()
    alice.barrier()  # no LEAVE for either of them
    chat.expect_who(alice, present={alice.name})
    for label in ("quiet", "refused"):
        chat.registered(label, seen_by=[alice])  # their names were never held


@check("leave.reasons", "LEAVE-4", "EXIT-2", "LEAVE-1")
def test_reasons(chat: Chat) -> None:
    """The reason says how a client left: EXIT -> `exit`, FIN or RST -> `disconnect`."""
    watcher, by_exit, by_close, by_reset = chat.registered("watcher", "exit", "close", "reset")
    by_exit.send_line("EXIT")
    by_exit.expect("BYE", optional_text=True)
    expect_leave((watcher, by_close, by_reset), by_exit, "exit")
    by_close.close()
    expect_leave((watcher, by_reset), by_close, "disconnect")
    by_reset.reset()
    expect_leave((watcher,), by_reset, "disconnect")
    watcher.barrier()


@check("leave.serving-after-reset", "LEAVE-5")
def test_serving_after_reset(chat: Chat) -> None:
    """After a client resets its connection, the others still talk and newcomers still join."""
    alice, bob, carol = chat.registered("alice", "bob", "carol")
    carol.reset()
    expect_leave((alice, bob), carol, "disconnect")
    unregistered = chat.connect("unregistered")
    unregistered.reset()  # an unregistered one too
    expect_conversation(chat, [alice, bob])


@check("leave.serving-after-mid-line-vanish", "LEAVE-5", "FRAME-8")
def test_serving_after_mid_line_vanish(chat: Chat) -> None:
    """A client that vanishes mid-line (`MSG half`, no LF, then RST or FIN) is dropped cleanly.

    The partial line is not relayed (FRAME-8), the others get the LEAVE, and go on talking.
    """
    alice, bob, carol, dave = chat.registered("alice", "bob", "carol", "dave")
    carol.send_raw(b"MSG half")
    carol.reset()
    expect_leave((alice, bob, dave), carol, "disconnect")
    dave.send_raw("MSG полу".encode())
    dave.close()
    expect_leave((alice, bob), dave, "disconnect")
    expect_conversation(chat, [alice, bob])
