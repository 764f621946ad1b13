"""EXIT: leaving politely, with BYE, a LEAVE for the others, and nothing processed after it."""

from __future__ import annotations

from chat_conform.registry import check
from chat_conform.session import Chat


@check("exit.bye-then-close", "EXIT-1")
def test_bye_then_close(chat: Chat) -> None:
    """`EXIT` gets `BYE` [text], then the server closes the connection."""
    alice, bob = chat.registered("alice", "bob")
    alice.send_line("EXIT")
    alice.expect("BYE", optional_text=True)
    alice.expect_closed()
    bob.expect(f"LEAVE {alice.name} exit")


@check("exit.leave-to-others", "EXIT-2", "EXIT-1")
def test_leave_to_others(chat: Chat) -> None:
    """Every other registered client receives `LEAVE <name> exit`; unregistered ones nothing."""
    lurker = chat.connect("lurker")
    alice, bob, carol = chat.registered("alice", "Борис", "carol")
    bob.send_line("EXIT")
    bob.expect("BYE", optional_text=True)
    for client in (alice, carol):
        client.expect(f"LEAVE {bob.name} exit")
    bob.expect_closed()
    lurker.barrier()  # ORDER-6: no LEAVE to an unregistered connection
    alice.send_line("MSG after bob")
    carol.expect(f"MSG {alice.name} after bob")


@check("exit.rest-of-segment-ignored", "EXIT-3")
def test_rest_of_segment_ignored(chat: Chat) -> None:
    """Lines after EXIT in the same TCP segment are never processed: no MSG, PONG or NAME."""
    alice, bob = chat.registered("alice", "bob")
    bob.send_raw(b"EXIT\nMSG ghost\nPING after-exit\n")
    bob.expect("BYE", optional_text=True)
    bob.expect_closed()  # a PONG here means the PING after EXIT was processed
    alice.expect(f"LEAVE {bob.name} exit")
    alice.barrier()  # a `MSG bob ghost` here means the MSG after EXIT was relayed

    ghost_name = chat.name("ghost")
    carol = chat.connect("carol")
    carol.send_raw(f"EXIT\nNAME {ghost_name}\nMSG boo\n".encode())
    carol.expect("BYE", optional_text=True)
    carol.expect_closed()
    alice.barrier()  # no JOIN, MSG or LEAVE from carol
    ghost = chat.connect("ghost")
    ghost.register()  # carol's NAME after EXIT never took the name
    alice.expect(f"JOIN {ghost.name}")


@check("exit.before-registration", "EXIT-4", "EXIT-1")
def test_before_registration(chat: Chat) -> None:
    """An unregistered client may EXIT: it gets `BYE`, and nobody gets a LEAVE."""
    (alice,) = chat.registered("alice")
    carol = chat.connect("carol")
    carol.send_line("EXIT")
    carol.expect("BYE", optional_text=True)
    carol.expect_closed()
    alice.barrier()  # no LEAVE for a client that never had a name
    chat.expect_who(alice, present={alice.name})
