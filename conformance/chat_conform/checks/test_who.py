"""WHO: the list of registered clients."""

from __future__ import annotations

from chat_conform.registry import check
from chat_conform.session import Chat


@check("who.lists-registered", "WHO-1")
def test_lists_registered(chat: Chat) -> None:
    """WHO lists every registered client once, the asker included, then `END WHO <count>`."""
    alice, bob, carol = chat.registered("alice", "bob", "carol")
    chat.expect_who(bob, present={alice.name, bob.name, carol.name})


@check("who.names-verbatim", "WHO-1", "NAME-5")
def test_names_verbatim(chat: Chat) -> None:
    """WHO lists names exactly as registered: Cyrillic, case and punctuation intact."""
    alice, bob = chat.registered("Алиса", "Bob.X_1-z")
    chat.expect_who(alice, present={alice.name, bob.name})


@check("who.unregistered-asker", "WHO-2")
def test_unregistered_asker(chat: Chat) -> None:
    """An unregistered client may ask WHO; it is not listed itself."""
    carol = chat.connect("carol")
    if not chat.shared:
        chat.expect_who(carol, present=set())  # nobody registered: `END WHO 0`
    alice, bob = chat.registered("alice", "bob")
    chat.expect_who(carol, present={alice.name, bob.name}, absent={carol.name})


@check("who.argument-ignored", "WHO-3")
def test_argument_ignored(chat: Chat) -> None:
    """Anything after `WHO` is ignored: `WHO x`, `WHO ` and `WHO  a b ` answer like `WHO`."""
    alice, bob = chat.registered("alice", "bob")
    for argument in ("x", "", " a b ", "Все"):
        chat.expect_who(alice, present={alice.name, bob.name}, argument=argument)


@check("who.exit-argument-ignored", "WHO-3", "EXIT-1")
def test_exit_argument_ignored(chat: Chat) -> None:
    """Anything after `EXIT` is ignored: `EXIT now please` ends the connection with BYE."""
    alice = chat.connect("alice")
    alice.send_line("EXIT now please")
    alice.expect("BYE", optional_text=True)
    alice.expect_closed()


@check("who.snapshot", "WHO-4")
def test_snapshot(chat: Chat) -> None:
    """WHO includes whoever got WELCOME before it, and nobody whose LEAVE was sent before it."""
    asker = chat.connect("asker")  # unregistered: it receives no JOIN or LEAVE lines
    (alice,) = chat.registered("alice")
    bob = chat.connect("bob")
    bob.register()  # no one has read JOIN bob yet: WELCOME alone puts bob in the list
    chat.expect_who(asker, present={alice.name, bob.name})
    alice.expect(f"JOIN {bob.name}")

    carol, dave = chat.registered("carol", "dave", seen_by=[alice, bob])
    carol.send_line("EXIT")
    carol.expect("BYE", optional_text=True)
    for client in (alice, bob, dave):
        client.expect(f"LEAVE {carol.name} exit")
    chat.expect_who(asker, present={alice.name, bob.name, dave.name}, absent={carol.name})

    dave.close()
    for client in (alice, bob):
        client.expect(f"LEAVE {dave.name} disconnect")
    chat.expect_who(asker, present={alice.name, bob.name}, absent={carol.name, dave.name})
