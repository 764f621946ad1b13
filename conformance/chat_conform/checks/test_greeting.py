"""GREET: the greeting on every connection, and the client limit."""

from __future__ import annotations

from chat_conform.registry import check
from chat_conform.session import Chat


@check("greeting.hello-first", "GREET-1")
def test_hello_first(chat: Chat) -> None:
    """The first line is `HELLO linechat/1` [text], sent before the client says anything."""
    alice = chat.connect_raw("alice")
    alice.expect_hello()


@check("greeting.hello-on-every-connection", "GREET-1")
def test_hello_on_every_connection(chat: Chat) -> None:
    """Every connection gets HELLO, while others are open, registered or closed."""
    chat.registered("alice")
    chat.connect("bob")
    carol = chat.connect("carol")
    carol.close()
    chat.connect("dave")


@check("greeting.server-full", "GREET-2", server_options={"max_clients": 2})
def test_server_full(chat: Chat) -> None:
    """At its limit the server sends `ERR server-full` instead of HELLO, then closes."""
    (alice,) = chat.registered("alice")
    chat.connect("bob")  # unregistered connections count too
    carol = chat.connect_raw("carol")
    carol.expect_error("server-full")
    carol.expect_closed()
    alice.barrier()  # the others are served as before
