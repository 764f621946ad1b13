"""PING: the round trip that every check also uses to synchronise."""

from __future__ import annotations

from chat_conform.registry import check
from chat_conform.session import Chat

# Tokens that a lazy server would mangle: spaces, TAB, trailing space, Cyrillic, emoji.
VERBATIM_TOKENS = ("abc", "a  b   c", "x\ty", "trailing  ", "Привет, мир", "🙂 ok")


@check("ping.bare", "PING-1")
def test_bare(chat: Chat) -> None:
    """`PING` without a token gets `PONG`."""
    alice = chat.connect("alice")
    alice.send_line("PING")
    alice.expect("PONG")


@check("ping.token-verbatim", "PING-1")
def test_token_verbatim(chat: Chat) -> None:
    """`PING <token>` gets `PONG <token>`, the token byte for byte."""
    alice = chat.connect("alice")
    random_token = "".join(chat.rng.choices("abcdefXYZ0123456789 -_.:", k=24)).strip() or "t"
    for token in (*VERBATIM_TOKENS, random_token):
        alice.send_line(f"PING {token}")
        alice.expect(f"PONG {token}")


@check("ping.empty-token", "PING-1")
def test_empty_token(chat: Chat) -> None:
    """`PING ` (a space, then nothing) gets `PONG`."""
    alice = chat.connect("alice")
    alice.send_line("PING ")
    alice.expect("PONG")


@check("ping.every-state", "PING-2")
def test_every_state(chat: Chat) -> None:
    """PING works before registration and once registered."""
    alice = chat.connect("alice")
    alice.send_line("PING unregistered")
    alice.expect("PONG unregistered")
    alice.register()
    alice.send_line("PING registered")
    alice.expect("PONG registered")


@check("ping.control-token-refused", "PING-3")
def test_control_token_refused(chat: Chat) -> None:
    """A token with a control character (ESC, CR inside, DEL, C1) gets `ERR text-invalid`."""
    alice = chat.connect("alice")
    for token in ("a\x1b[31mb", "a\rb", "del\x7f", "c1\x85", "nul\x00"):
        alice.send_line(f"PING {token}")
        alice.expect_error("text-invalid")
    alice.send_line("PING still-open")
    alice.expect("PONG still-open")
