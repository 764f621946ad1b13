"""linechat-tui, driven headless by Textual's Pilot against the in-process reference server.

Each test is a plain function running its scenario with ``asyncio.run`` (no event-loop
plugin). The app is waited for by polling its state between ``pilot.pause()`` calls, up to a
deadline; library clients that wait for the app run in threads (``asyncio.to_thread``), so
that the app's loop keeps running meanwhile.

Set LINECHAT_UPDATE_SCREENSHOTS=1 to rewrite docs/screenshots/tui.svg (it then uses port 7777
so that the picture matches the README's commands).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("textual")

from textual.pilot import Pilot
from textual.widgets import RichLog, Static

from linechat.client import ChatClient
from linechat.codec import Closed, Leave, LeaveReason, Relay
from linechat.server import ChatServer, running_server
from linechat_clients.tui import MISSING_TEXTUAL
from linechat_clients.tui_app import (
    PALETTE,
    ChatApp,
    HistoryInput,
    Phase,
    message_line,
    name_colour,
)

TIMEOUT = 10.0
SIZE = (100, 28)
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshots" / "tui.svg"


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(scenario)


async def until(pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
    """Let the app work until ``condition`` holds; fail after TIMEOUT seconds."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {TIMEOUT} s waiting for {what}")
        await pilot.pause()


def pane(app: ChatApp) -> str:
    """The message pane as shown on screen."""
    return "\n".join(strip.text for strip in app.query_one("#messages", RichLog).lines)


def shown(widget: Static) -> str:
    return str(widget.render())


async def chatting(pilot: Pilot[None], app: ChatApp, *users: str) -> None:
    await until(pilot, lambda: app.phase is Phase.CHATTING, "registration")
    await until(pilot, lambda: app.users == sorted(users, key=str.casefold), f"users {users}")


async def next_relay(client: ChatClient) -> Relay:
    """The next message ``client`` receives (JOIN and LEAVE are skipped), bounded."""
    deadline = time.monotonic() + TIMEOUT
    while (left := deadline - time.monotonic()) > 0:
        event = await asyncio.to_thread(client.next_event, left)
        if isinstance(event, Relay):
            return event
        assert not isinstance(event, Closed), "connection closed"
    raise AssertionError("no message within the timeout")


async def type_line(pilot: Pilot[None], line: str) -> None:
    await pilot.press(*line, "enter")


@contextlib.contextmanager
def member(server: ChatServer, name: str) -> Iterator[ChatClient]:
    with ChatClient.connect(server.host, server.port, timeout=TIMEOUT) as client:
        client.register(name)
        yield client


def test_typed_message_reaches_a_library_client(server: ChatServer) -> None:
    async def scenario() -> None:
        with member(server, "bob") as bob:
            app = ChatApp(server.host, server.port, "alice")
            async with app.run_test(size=SIZE) as pilot:
                await chatting(pilot, app, "alice", "bob")
                await type_line(pilot, "hello Привет")
                relay = await next_relay(bob)
                assert (relay.sender, relay.text) == ("alice", "hello Привет")
                assert "alice: hello Привет" in pane(app)  # shown as sent: no echo comes back

    run(scenario())


def test_message_from_a_library_client_appears_in_the_pane(server: ChatServer) -> None:
    async def scenario() -> None:
        with member(server, "Борис") as boris:
            app = ChatApp(server.host, server.port, "alice")
            async with app.run_test(size=SIZE) as pilot:
                await chatting(pilot, app, "alice", "Борис")
                boris.say("Привет, Алиса!")
                await until(pilot, lambda: "Борис: Привет, Алиса!" in pane(app), "the message")

    run(scenario())


def test_join_and_leave_update_the_user_list(server: ChatServer) -> None:
    async def scenario() -> None:
        app = ChatApp(server.host, server.port, "alice")
        async with app.run_test(size=SIZE) as pilot:
            await chatting(pilot, app, "alice")
            with member(server, "carol"):
                await until(pilot, lambda: app.users == ["alice", "carol"], "carol in the list")
                dave = ChatClient.connect(server.host, server.port, timeout=TIMEOUT)
                dave.register("dave")
                await until(pilot, lambda: "dave" in app.users, "dave in the list")
                dave.close()  # no EXIT: the server announces a disconnect
                await until(pilot, lambda: app.users == ["alice", "carol"], "dave gone")
            await until(pilot, lambda: app.users == ["alice"], "carol gone")
            text = pane(app)
            assert "→ carol joined" in text
            assert "← dave left (disconnect)" in text
            assert "← carol left (exit)" in text

    run(scenario())


def test_name_prompt_retries_until_a_name_is_free(server: ChatServer) -> None:
    async def scenario() -> None:
        with member(server, "bob"):
            app = ChatApp(server.host, server.port)
            async with app.run_test(size=SIZE) as pilot:
                await until(pilot, lambda: app.phase is Phase.NAMING, "the name prompt")
                await type_line(pilot, "BOB")
                await until(pilot, lambda: 'name "BOB" refused: name-taken' in pane(app), "refusal")
                assert app.phase is Phase.NAMING
                await type_line(pilot, "no spaces")
                await until(pilot, lambda: "name-invalid" in pane(app), "refusal")
                await type_line(pilot, "Алиса")
                await chatting(pilot, app, "Алиса", "bob")

    run(scenario())


def test_server_loss_shows_disconnected_and_r_reconnects() -> None:
    async def scenario() -> None:
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(running_server())
            host, port = server.host, server.port
            app = ChatApp(host, port, "alice")
            async with app.run_test(size=SIZE) as pilot:
                await chatting(pilot, app, "alice")
                await asyncio.to_thread(stack.close)  # stops the server
                await until(pilot, lambda: app.phase is Phase.DISCONNECTED, "disconnected")
                banner = app.query_one("#banner", Static)
                assert banner.display
                assert f"disconnected from {host}:{port} - press r to reconnect" in shown(banner)
                assert app.users == []
                assert app.query_one("#input", HistoryInput).disabled
                with running_server(port=port):
                    await pilot.press("r")
                    await chatting(pilot, app, "alice")
                    assert not banner.display

    run(scenario())


def test_unreachable_server_shows_disconnected() -> None:
    async def scenario() -> None:
        with socket.socket() as closed:  # bound but never listening: connections are refused
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
            app = ChatApp("127.0.0.1", port, "alice")
            async with app.run_test(size=SIZE) as pilot:
                await until(pilot, lambda: app.phase is Phase.DISCONNECTED, "disconnected")
                assert "cannot connect" in shown(app.query_one("#banner", Static))

    run(scenario())


def test_hostile_text_is_shown_literally(server: ChatServer) -> None:
    async def scenario() -> None:
        with member(server, "mallory") as mallory:
            app = ChatApp(server.host, server.port, "alice")
            async with app.run_test(size=SIZE) as pilot:
                await chatting(pilot, app, "alice", "mallory")
                mallory.say("[bold]x[/bold] [link=http://e.vil]y[/link] \u202eevil")
                await until(pilot, lambda: "evil" in pane(app), "mallory's message")
                text = pane(app)
                assert "mallory: [bold]x[/bold] [link=http://e.vil]y[/link] evil" in text
                assert "\u202e" not in text  # a bidi override would reorder the line

    run(scenario())


def test_escape_sequences_never_reach_the_screen() -> None:
    """The server refuses control characters (MSG-2), so this is checked on the renderer."""
    line = message_line("eve\x1b]0;owned\x07", "\x1b[31mred\x1b[0m bell\x07 [b]x[/b]")
    assert line.plain.endswith("eve: red bell\ufffd [b]x[/b]")
    assert "\x1b" not in line.plain
    assert all("red" not in str(span.style) for span in line.spans)


def test_commands_and_input_history(server: ChatServer) -> None:
    async def scenario() -> None:
        with member(server, "bob") as bob:
            app = ChatApp(server.host, server.port, "alice")
            async with app.run_test(size=SIZE) as pilot:
                await chatting(pilot, app, "alice", "bob")
                await type_line(pilot, "one")
                await type_line(pilot, "//two")
                assert [(await next_relay(bob)).text for _ in range(2)] == ["one", "/two"]
                await type_line(pilot, "/who")
                await until(
                    pilot, lambda: "2 online: alice, bob" in pane(app).split("\n")[-1], "who"
                )
                await type_line(pilot, "/help")
                await until(pilot, lambda: "/quit" in pane(app), "the help")
                entry = app.query_one("#input", HistoryInput)
                await pilot.press(*"draft")
                values = []
                for key in ("up", "up", "up", "down", "down", "down", "down"):
                    await pilot.press(key)
                    values.append(entry.value)
                assert values == ["/help", "/who", "//two", "/who", "/help", "draft", "draft"]
                await pilot.press(*["backspace"] * len("draft"))
                await type_line(pilot, "/quit")
                await until(pilot, lambda: app.return_code is not None, "the app to quit")
            leave = await asyncio.to_thread(bob.next_event, TIMEOUT)
            assert leave == Leave("alice", LeaveReason.EXIT)  # /quit says EXIT

    run(scenario())


def test_status_line_shows_address_name_and_round_trip_time(server: ChatServer) -> None:
    async def scenario() -> None:
        app = ChatApp(server.host, server.port, "alice", ping_interval=0.2)
        async with app.run_test(size=SIZE) as pilot:
            await chatting(pilot, app, "alice")
            status = app.query_one("#status", Static)
            await until(
                pilot, lambda: re.search(r"rtt \d+\.\d ms", shown(status)) is not None, "rtt"
            )
            assert f"{server.host}:{server.port}" in shown(status)
            assert "alice" in shown(status)
            assert "connected" in shown(status)

    run(scenario())


def test_name_colours_are_stable_per_name_and_spread() -> None:
    assert name_colour("Алиса") == name_colour("АЛИСА") == name_colour("алиса")
    colours = {name_colour(f"user{i}") for i in range(64)}
    assert colours <= set(PALETTE)
    assert len(colours) >= len(PALETTE) - 1


def _svg_text(svg: str) -> str:
    """The text an SVG screenshot shows, its segments joined in order."""
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


async def conversation_screenshot(server: ChatServer, path: Path) -> None:
    """Play a short conversation with the app as alice and save it as an SVG."""
    with member(server, "bob") as bob, member(server, "Борис") as boris:
        app = ChatApp(server.host, server.port, "alice")
        async with app.run_test(size=SIZE) as pilot:
            await chatting(pilot, app, "alice", "bob", "Борис")
            bob.say("hi alice! did the conformance run pass?")
            await until(pilot, lambda: "conformance" in pane(app), "bob's message")
            await type_line(pilot, "yes: every check green on the reference")
            await next_relay(boris)
            boris.say("Привет всем! [bold]markup[/bold] stays literal")
            await until(pilot, lambda: "literal" in pane(app), "Борис's message")
            with member(server, "carol"):
                await until(pilot, lambda: "carol" in app.users, "carol")
            await until(pilot, lambda: "carol left" in pane(app), "carol's leave")
            await until(pilot, lambda: app.rtt is not None, "a round trip")
            app.save_screenshot(path.name, str(path.parent))


def test_screenshot_mid_conversation(tmp_path: Path) -> None:
    update = os.environ.get("LINECHAT_UPDATE_SCREENSHOTS") == "1"
    path = tmp_path / "tui.svg"
    with running_server(**({"port": 7777} if update else {})) as server:
        run(conversation_screenshot(server, path))
    svg = path.read_text(encoding="utf-8")
    text = _svg_text(svg)
    for expected in (
        "bob: hi alice! did the conformance run pass?",
        "alice: yes: every check green on the reference",
        "Борис: Привет всем! [bold]markup[/bold] stays literal",
        "← carol left (exit)",
        "3 online: alice, bob, Борис",
    ):
        assert expected in text
    if update:
        SCREENSHOT.write_text(svg, encoding="utf-8")
    assert "Привет всем!" in _svg_text(SCREENSHOT.read_text(encoding="utf-8"))


def test_missing_textual_gives_a_one_line_hint() -> None:
    code = (
        "import sys; sys.modules['textual'] = None; sys.argv = ['linechat-tui'];"
        "from linechat_clients.tui import main; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr == MISSING_TEXTUAL + "\n"
    assert proc.stdout == ""
