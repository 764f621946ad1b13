"""LIFE: the server's shutdown and idle limit.

LIFE-2 (MAY: a server may time out idle clients) can only be observed when the server is
started with a short idle limit: ``life.idle-timeout`` runs when the server command has an
``{idle_timeout}`` placeholder and is skipped, with that reason, otherwise.
"""

from __future__ import annotations

import contextlib
import re
import signal
import time

from chat_conform.registry import check
from chat_conform.session import Chat
from chat_conform.wire import CheckFailure, Client, show

MAX_LINES_BEFORE_BYE = 100
_DEPARTURE = re.compile(r"LEAVE (\S+) (?:exit|disconnect|timeout|kicked)")


@check("life.sigterm-bye", "LIFE-1", needs_own_server=True)
def test_sigterm_bye(chat: Chat) -> None:
    """On SIGTERM every connection, registered or not, gets `BYE` and is closed; exit status 0."""
    _expect_clean_shutdown(chat, signal.SIGTERM)


@check("life.sigint-bye", "LIFE-1", needs_own_server=True)
def test_sigint_bye(chat: Chat) -> None:
    """On SIGINT every connection, registered or not, gets `BYE` and is closed; exit status 0."""
    _expect_clean_shutdown(chat, signal.SIGINT)


def _expect_clean_shutdown(chat: Chat, sig: signal.Signals) -> None:
    alice, boris = chat.registered("alice", "Борис")
    carol = chat.connect("carol")  # unregistered
    clients = [alice, boris, carol]
    for client in clients:
        client.barrier()  # the server is serving each of them when the signal comes
    chat.stop_server_with(sig)
    for client in clients:
        _expect_bye(client, departing={alice.name, boris.name} if client is not carol else set())
        client.expect_closed()
    status = chat.own_server.wait_exit(chat.timeout)
    if status is None:
        raise CheckFailure(f"server: still running {chat.timeout:g} s after {sig.name}")
    if status < 0:
        raise CheckFailure(f"server: killed by {signal.Signals(-status).name}, not exited with 0")
    if status != 0:
        raise CheckFailure(f"server: exited with status {status} after {sig.name}, not 0")


def _expect_bye(client: Client, *, departing: set[str]) -> None:
    """The next line is `BYE` [text]; `LEAVE` lines about ``departing`` may come before it.

    A server that closes its connections one by one may tell the ones still open that the
    others left: the rules do not forbid it, and nothing may follow the BYE anyway.
    """
    for _ in range(MAX_LINES_BEFORE_BYE):
        line = client.read_line(expecting='"BYE" optionally followed by a space and text')
        if line == "BYE" or line.startswith("BYE "):
            return
        departure = _DEPARTURE.fullmatch(line)
        if departure is None or departure.group(1) not in departing - {client.name}:
            client.fail(f'expected "BYE" optionally followed by a space and text, got {show(line)}')
    client.fail(f"no BYE after {MAX_LINES_BEFORE_BYE} lines")


IDLE_LIMIT_SECONDS = 1


@check("life.idle-timeout", "LIFE-2", server_options={"idle_timeout": IDLE_LIMIT_SECONDS})
def test_idle_timeout(chat: Chat) -> None:
    """With a 1 s idle limit, a silent client is dropped with `LEAVE <name> timeout` to the
    others, while a client that keeps talking stays."""
    sleeper, talker = chat.registered("sleeper", "talker")
    deadline = time.monotonic() + 3 * IDLE_LIMIT_SECONDS + chat.timeout
    while time.monotonic() < deadline:
        talker.send_line("PING still-here")  # activity: the talker must not time out
        line = talker.read_line(IDLE_LIMIT_SECONDS / 4, expecting="PONG or the LEAVE")
        if line == "PONG still-here":
            # Waiting here is the point: only the server's own clock can end the wait.
            with contextlib.suppress(CheckFailure):
                line = talker.read_line(IDLE_LIMIT_SECONDS / 4, expecting="the LEAVE")
        if line.startswith("LEAVE "):
            if line != f"LEAVE {sleeper.name} timeout":
                talker.fail(f"expected LEAVE {sleeper.name} timeout, got {show(line)}")
            return
    talker.fail(
        f"{sleeper.name} was silent for {3 * IDLE_LIMIT_SECONDS + chat.timeout:g} s with an idle "
        f"limit of {IDLE_LIMIT_SECONDS} s, but no LEAVE {sleeper.name} timeout came"
    )
