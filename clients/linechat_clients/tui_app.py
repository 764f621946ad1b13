"""The Textual application behind ``linechat-tui`` (needs the ``tui`` extra).

Threads and the event loop
--------------------------
Textual objects belong to the event loop's thread. The client library reads on its own
receiver thread; its ``on_event`` callback only *posts* a ``Received`` message to the app
(``post_message`` is thread-safe and never blocks), and every change to the screen happens in
the handler, on the loop. Calls that wait for the server (connect, NAME, WHO, PING, EXIT, and
even MSG, whose send may block) run in worker threads via ``asyncio.to_thread``, so the input
line never freezes.

Safety of what is shown
-----------------------
Everything that came from the network goes through ``codec.sanitize`` (no terminal escapes,
no bidi overrides) and is put on screen as ``rich.text.Text`` objects, which are never parsed
as markup: a peer who sends ``[bold]x[/bold]`` is shown exactly that.

The user list
-------------
The initial WHO answer is a snapshot taken when the server processed the WHO, but JOIN and
LEAVE events reach the app on a different path than the WHO answer. So every JOIN and LEAVE
received before the snapshot is applied is kept and replayed on top of it: for each name, its
last event since WELCOME is the truth, and the snapshot covers the names that had none.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import time
import zlib
from collections.abc import Sequence
from contextlib import suppress
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Footer, Input, Label, OptionList, RichLog, Static

from linechat.client import ChatClient, ChatError, Event, Malformed, NameInvalid, NameTaken
from linechat.codec import (
    MAX_LINE,
    Bye,
    Closed,
    Error,
    Join,
    Leave,
    Relay,
    name_key,
    sanitize,
    text_problem,
    valid_name,
)

__all__ = ["PALETTE", "ChatApp", "Phase", "message_line", "name_colour"]

PALETTE: tuple[str, ...] = (
    "#e5c07b",  # yellow
    "#61afef",  # blue
    "#98c379",  # green
    "#c678dd",  # purple
    "#56b6c2",  # cyan
    "#e06c75",  # red
    "#d19a66",  # orange
    "#ff79c6",  # pink
)
"""Name colours, readable on a dark background and far enough apart to tell people apart."""

NAME_RULE = "1 to 32 letters, digits, '_', '-' or '.'"
HELP = (
    "type a line and press Enter to send it; Up/Down recall earlier lines",
    "/who      list who is online",
    "/help     this help",
    "/quit     leave the chat (also Ctrl+Q)",
    "//text    send a line that starts with '/'",
)


class Phase(enum.Enum):
    """Where the session is; it decides what the input line does and what the status says."""

    CONNECTING = "connecting…"
    NAMING = "choose a name"
    REGISTERING = "registering…"
    CHATTING = "connected"
    DISCONNECTED = "disconnected"


def name_colour(name: str) -> str:
    """A stable colour per name: the same on every run and every machine (CRC-32, not
    ``hash()``, which is salted per process), and the same for every spelling of one name."""
    return PALETTE[zlib.crc32(name_key(name).encode("utf-8")) % len(PALETTE)]


def styled_name(name: str, style: str = "bold") -> Text:
    """A name, sanitised, in its colour."""
    return Text(sanitize(name), style=f"{style} {name_colour(name)}".strip())


def _clock() -> Text:
    return Text(time.strftime("%H:%M "), style="dim")


def message_line(sender: str, text: str) -> Text:
    """One chat message for the pane; the text is sanitised and never read as markup."""
    line = _clock()
    line.append_text(styled_name(sender))
    line.append(": ")
    line.append(sanitize(text))
    return line


def notice_line(text: str | Text, style: str = "italic #8a8f98") -> Text:
    """A line from the client itself (joins, leaves, errors, help), set apart by its style."""
    line = _clock()
    line.append_text(text if isinstance(text, Text) else Text(text, style=style))
    return line


def _names(names: Sequence[str]) -> Text:
    """Names in their colours, comma separated."""
    return Text(", ").join(styled_name(n, style="") for n in names)


def _explain(exc: BaseException) -> str:
    if isinstance(exc, ChatError) and exc.code is not None:
        return exc.code.value
    return str(exc) or type(exc).__name__


class Received(Message):
    """An event from ``client``'s receiver thread, handed to the event loop."""

    def __init__(self, client: ChatClient, event: Event) -> None:
        super().__init__()
        self.client = client
        self.event = event


class HistoryInput(Input):
    """The input line, with Up/Down through the lines sent before (the draft is kept)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Previous line", show=False),
        Binding("down", "history(1)", "Next line", show=False),
    ]

    def __init__(self, *, placeholder: str = "", id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id)
        self.history: list[str] = []
        self._position = 0
        self._draft = ""

    def remember(self, line: str) -> None:
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
        self._position = len(self.history)
        self._draft = ""

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._position == len(self.history):
            self._draft = self.value
        self._position = max(0, min(len(self.history), self._position + step))
        at_draft = self._position == len(self.history)
        self.value = self._draft if at_draft else self.history[self._position]
        self.cursor_position = len(self.value)


class ChatApp(App[None]):
    """A full-screen linechat/1 client: messages, who is online, status, one input line."""

    CSS_PATH = "tui.tcss"
    TITLE = "linechat"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reconnect", "Reconnect"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 7777,
        name: str | None = None,
        *,
        timeout: float = 5.0,
        ping_interval: float = 3.0,
    ) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self.timeout = timeout
        self.ping_interval = ping_interval
        self.phase = Phase.CONNECTING
        self.chat_name = name  # wanted before WELCOME, welcomed after; reused on reconnect
        self.rtt: float | None = None
        self._client: ChatClient | None = None
        self._users: dict[str, str] = {}  # name_key -> name
        self._unapplied: list[Join | Leave] | None = None  # JOIN/LEAVE awaiting the snapshot
        self._farewell: str | None = None
        self._pinging = False
        self._send_lock = asyncio.Lock()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def users(self) -> list[str]:
        """Who is online as the user list shows it, sorted."""
        return sorted(self._users.values(), key=name_key)

    # -- layout

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with Horizontal(id="body"):
            yield RichLog(id="messages", wrap=True, markup=False, highlight=False)
            yield OptionList(id="users")
        yield Static(id="banner")
        with Horizontal(id="entry"):
            yield Label(id="prompt")
            yield HistoryInput(id="input")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#messages", RichLog).border_title = "messages"
        users = self.query_one("#users", OptionList)
        users.border_title = "online"
        users.can_focus = False
        self.set_interval(self.ping_interval, self._ping_tick)
        self.run_worker(self._connect(), group="session")

    def _set_phase(self, phase: Phase) -> None:
        self.phase = phase
        entry = self.query_one("#input", HistoryInput)
        entry.disabled = phase not in (Phase.NAMING, Phase.CHATTING)
        if not entry.disabled:
            entry.focus()
        prompt = self.query_one("#prompt", Label)
        if phase is Phase.NAMING or not self.chat_name:
            prompt.update(Text("name:", style="bold"))
            entry.placeholder = "your name" if phase is Phase.NAMING else ""
        else:
            prompt.update(styled_name(self.chat_name).append(" ›"))
            entry.placeholder = "message, or /help" if phase is Phase.CHATTING else ""
        self.query_one("#banner", Static).display = phase is Phase.DISCONNECTED
        self._show_status()
        self.refresh_bindings()

    def _show_status(self) -> None:
        status = Text.assemble(("linechat ", "bold"), (self.address, "bold #61afef"))
        if self.chat_name and self.phase is Phase.CHATTING:
            status.append(" │ ")
            status.append_text(styled_name(self.chat_name))
        colour = {Phase.CHATTING: "#98c379", Phase.DISCONNECTED: "#e06c75"}
        status.append(" │ ")
        status.append(f"● {self.phase.value}", style=colour.get(self.phase, "#e5c07b"))
        if self.phase is Phase.CHATTING:
            rtt = "…" if self.rtt is None else f"{self.rtt * 1000:.1f} ms"
            status.append(f" │ rtt {rtt}")
        self.query_one("#status", Static).update(status)

    def _show_users(self) -> None:
        me = name_key(self.chat_name) if self.chat_name else None
        lines = []
        for name in self.users:
            line = styled_name(name, style="")
            if name_key(name) == me:
                line.append(" (you)", style="dim")
            lines.append(line)
        users = self.query_one("#users", OptionList)
        users.set_options(lines)
        users.border_subtitle = str(len(lines))

    def _write(self, line: Text) -> None:
        self.query_one("#messages", RichLog).write(line)

    def _notice(self, text: str | Text, style: str = "italic #8a8f98") -> None:
        self._write(notice_line(text, style))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reconnect":
            return self.phase is Phase.DISCONNECTED
        return True

    # -- the session: connect, name, chat, lose

    async def _connect(self) -> None:
        self._set_phase(Phase.CONNECTING)
        self._notice(f"connecting to {self.address}…")
        try:
            client = await asyncio.to_thread(ChatClient.connect, self.host, self.port, self.timeout)
        except (ChatError, TimeoutError, OSError) as exc:
            if self.is_running:
                self._set_disconnected(f"cannot connect: {_explain(exc)}")
            return
        if not self.is_running:  # the app was closed while connecting
            client.close()
            return
        self._client, self._farewell, self.rtt = client, None, None
        self._users.clear()
        self._unapplied = []
        client.on_event(functools.partial(self._forward, client))
        if self.chat_name is None:
            self._ask_name()
        else:
            await self._register_name(client, self.chat_name)

    def _current(self, client: ChatClient) -> bool:
        """Whether ``client`` is still the connection on screen: not lost, not replaced by a
        reconnect, and the app not shutting down. Results for any other are dropped."""
        return client is self._client and self.is_running

    def _forward(self, client: ChatClient, event: Event) -> None:
        """On the receiver thread: hand the event to the loop, never touch the UI here."""
        with suppress(RuntimeError):  # the loop is already closed: the app has ended
            self.post_message(Received(client, event))

    def _ask_name(self, refusal: str | None = None) -> None:
        if refusal:
            self._notice(refusal, "bold #e06c75")
        self._notice(f"choose a name: {NAME_RULE}")
        self._set_phase(Phase.NAMING)

    async def _register_name(self, client: ChatClient, name: str) -> None:
        self._set_phase(Phase.REGISTERING)
        try:
            welcomed = await asyncio.to_thread(client.register, name)
        except (NameTaken, NameInvalid) as exc:
            if self._current(client):
                self.chat_name = None
                self._ask_name(f'name "{name}" refused: {_explain(exc)}')
            return
        except (ChatError, TimeoutError) as exc:
            self._lose(client, _explain(exc))
            return
        if not self._current(client):
            return
        self.chat_name = welcomed
        self._set_phase(Phase.CHATTING)
        self._notice(f"you are {welcomed} on {self.address}; /help lists the commands")
        self._ping_tick()
        try:
            snapshot = await asyncio.to_thread(client.who)
        except (ChatError, TimeoutError) as exc:
            self._lose(client, _explain(exc))
            return
        if self._current(client):
            self._apply_snapshot(snapshot)

    def _apply_snapshot(self, names: list[str]) -> None:
        self._users = {name_key(n): n for n in names}
        for change in self._unapplied or []:
            self._apply_change(change)
        self._unapplied = None
        self._show_users()
        self._notice(Text.assemble(f"{len(names)} online: ", _names(self.users)))

    def _apply_change(self, change: Join | Leave) -> None:
        if isinstance(change, Join):
            self._users[name_key(change.name)] = change.name
        else:
            self._users.pop(name_key(change.name), None)

    def _lose(self, client: ChatClient, reason: str) -> None:
        """The connection ended (or never worked): say so plainly and offer a reconnect."""
        if not self._current(client):
            return  # an old connection's last words
        self._client = None
        client.close()
        self._set_disconnected(reason)

    def _set_disconnected(self, reason: str) -> None:
        reason = sanitize(reason)
        self._users.clear()
        self._show_users()
        banner = Text(f"disconnected from {self.address} - press r to reconnect", style="bold")
        banner.append(f"\n{reason}", style="not bold")
        self.query_one("#banner", Static).update(banner)
        self._notice(f"disconnected from {self.address}: {reason}", "bold #e06c75")
        self._set_phase(Phase.DISCONNECTED)

    @on(Received)
    def _on_received(self, message: Received) -> None:
        client, event = message.client, message.event
        if not self._current(client):
            return
        match event:
            case Relay(sender, text):
                self._write(message_line(sender, text))
            case Join() | Leave():
                self._on_join_or_leave(event)
            case Error(code, text):
                detail = f"{code.value} {sanitize(text or '')}".rstrip()
                self._notice(f"the server refused: {detail}", "#e06c75")
            case Malformed(detail):
                self._notice(f"ignored a malformed line: {sanitize(detail)}", "#e06c75")
            case Bye(text):
                self._farewell = f"the server said goodbye: {sanitize(text or '')}".rstrip(": ")
            case Closed():
                self._lose(client, self._farewell or "the server closed the connection")

    def _on_join_or_leave(self, event: Join | Leave) -> None:
        who = styled_name(event.name)
        if isinstance(event, Join):
            self._notice(Text.assemble("→ ", who, " joined", style="#8a8f98"))
        else:
            self._notice(Text.assemble("← ", who, f" left ({event.reason.value})", style="#8a8f98"))
        if self._unapplied is not None:
            self._unapplied.append(event)
        else:
            self._apply_change(event)
            self._show_users()

    # -- input

    @on(Input.Submitted, "#input")
    def _on_submitted(self, submitted: Input.Submitted) -> None:
        entry = self.query_one("#input", HistoryInput)
        line = submitted.value
        entry.value = ""
        client = self._client
        if client is None:
            return
        if self.phase is Phase.NAMING:
            self._submit_name(client, line.strip())
        elif self.phase is Phase.CHATTING and line:
            entry.remember(line)
            self._submit_chat(client, line)

    def _submit_name(self, client: ChatClient, name: str) -> None:
        if not valid_name(name):
            self._ask_name(f'name "{name}" refused: name-invalid')
            return
        self.run_worker(self._register_name(client, name), group="session")

    def _submit_chat(self, client: ChatClient, line: str) -> None:
        if line.startswith("//"):
            self._send(client, line[1:])
            return
        if not line.startswith("/"):
            self._send(client, line)
            return
        command = line.split()[0].lower()
        if command == "/who":
            self.run_worker(self._who(client))
        elif command in ("/quit", "/exit"):
            self.run_worker(self.action_quit())
        elif command == "/help":
            for text in HELP:
                self._notice(text)
        else:
            self._notice(f"unknown command {command}; /help lists the commands", "#e06c75")

    def _send(self, client: ChatClient, text: str) -> None:
        """Show the line as sent (the server does not echo it back) and send it in order."""
        assert self.chat_name is not None
        problem = text_problem(text)
        size = len(f"MSG {self.chat_name} {text}\n".encode())
        if problem is None and size > MAX_LINE:
            problem = f"{size} bytes, at most {MAX_LINE} fit on one line"
        if problem:
            self._notice(f"not sent: {problem}", "#e06c75")
            return
        self._write(message_line(self.chat_name, text))
        self.run_worker(self._say(client, text), group="send")

    async def _say(self, client: ChatClient, text: str) -> None:
        async with self._send_lock:  # FIFO: lines go out in the order they were typed
            try:
                await asyncio.to_thread(client.say, text)
            except (ChatError, TimeoutError) as exc:
                self._lose(client, _explain(exc))

    async def _who(self, client: ChatClient) -> None:
        try:
            names = await asyncio.to_thread(client.who)
        except (ChatError, TimeoutError) as exc:
            self._lose(client, _explain(exc))
            return
        if not self._current(client):
            return
        ordered = sorted(names, key=name_key)
        self._notice(Text.assemble(f"{len(names)} online: ", _names(ordered)))

    # -- round-trip time

    def _ping_tick(self) -> None:
        if self.phase is Phase.CHATTING and self._client and not self._pinging:
            self._pinging = True
            self.run_worker(self._ping(self._client), group="ping")

    async def _ping(self, client: ChatClient) -> None:
        try:
            self.rtt = await asyncio.to_thread(client.ping, timeout=self.ping_interval)
        except TimeoutError:
            self.rtt = None
        except ChatError as exc:
            self._lose(client, _explain(exc))
        finally:
            self._pinging = False
        if self._current(client):
            self._show_status()

    # -- actions

    def action_reconnect(self) -> None:
        if self.phase is Phase.DISCONNECTED:
            self.run_worker(self._connect(), group="session")

    async def action_quit(self) -> None:
        """Leave politely: EXIT and wait (briefly) for BYE, then end the app."""
        client, self._client = self._client, None
        if client is not None:
            with suppress(ChatError, TimeoutError):
                await asyncio.to_thread(client.exit, 2.0)
        self.exit()

    def on_unmount(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
