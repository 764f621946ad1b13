"""``linechat-client``: the reference terminal client, in the simple threaded design.

The main thread reads the keyboard (``input()``) and sends; one printer thread prints what
arrives (it iterates ``ChatClient.events()``). Everything printed goes through
``codec.sanitize``, so a hostile server can neither move the cursor, recolour, retitle or
clear the terminal, nor reorder what it shows.

When the connection is lost the printer thread ends the process with ``os._exit(1)``: the main
thread may be blocked in ``input()``, which no other thread can interrupt portably, and there
is nothing left to clean up once the connection is gone.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from typing import Final, NoReturn

import click

from .client import (
    ChatClient,
    ChatError,
    ConnectionLost,
    Malformed,
    NameInvalid,
    NameTaken,
    ServerFull,
)
from .codec import Bye, Error, Join, Leave, Relay, ServerEvent, encode, name_key, sanitize

__all__ = ["main"]

PROG: Final = "linechat-client"
EXIT_TIMEOUT: Final = 5.0
"""How long to wait for BYE after EXIT (and for the printer to finish) before leaving anyway."""
NAME_RULE: Final = "1 to 32 letters, digits, '_', '-' or '.'"
HELP: Final = (
    "* /who lists who is here; /quit or exit leaves; /help shows this",
    "* any other line is sent to everyone",
)


class Terminal:
    """One chat session on this terminal: the client, the output lock, and how it ends."""

    def __init__(self, client: ChatClient, peer: str) -> None:
        self.client = client
        self.peer = peer
        self._output = threading.Lock()
        self._leaving = threading.Event()
        self._printer = threading.Thread(target=self._print_events, name="printer", daemon=True)

    def show(self, line: str) -> None:
        """Print one line, sanitised, without interleaving with the other thread."""
        with self._output:
            sys.stdout.write(sanitize(line) + "\n")
            sys.stdout.flush()

    def lost(self) -> NoReturn:
        """The connection is gone: one line on stderr, exit status 1 (see the module doc)."""
        with self._output:
            sys.stdout.flush()
            sys.stderr.write(f"{PROG}: connection to {self.peer} lost\n")
            sys.stderr.flush()
            os._exit(1)

    def register(self, name: str | None, interactive: bool) -> bool:
        """Register, asking for a name as long as needed; False if input ended first."""
        while True:
            if name is None:
                name = read_line("name: " if interactive else "")
                if name is None:
                    return False
            try:
                self.show(f"* you are {self.client.register(name)}")
                return True
            except (NameTaken, NameInvalid) as exc:
                reason = f"the name {name} is " + (
                    "taken" if isinstance(exc, NameTaken) else f"invalid ({NAME_RULE})"
                )
                if not interactive:
                    fail(reason)
                self.show(f"! {reason}")
                name = None

    def chat(self) -> None:
        """Send what the user types until /quit, exit or the end of input."""
        self._printer.start()
        while (line := read_line()) is not None:
            if line in ("/quit", "exit"):
                break
            if line == "/who":
                self.show_users()
            elif line == "/help":
                for text in HELP:
                    self.show(text)
            elif line:
                try:
                    self.client.say(line)
                except ConnectionLost:
                    raise
                except ChatError as exc:  # text the server would refuse: not sent
                    self.show(f"! {exc}")

    def show_users(self) -> None:
        try:
            users = sorted(self.client.who(), key=name_key)
        except TimeoutError:
            self.show("! no answer to /who")
            return
        self.show(f"* users ({len(users)}): {', '.join(users)}")

    def leave(self) -> None:
        """EXIT, then wait (bounded) for BYE and for the printer to show what came before it.

        Raises ConnectionLost if the connection ends before BYE."""
        self._leaving.set()
        try:
            self.client.exit(EXIT_TIMEOUT)
        except TimeoutError:
            self.client.close()
        self._wait_for_printer()

    def leave_quietly(self) -> None:
        """Leave after Ctrl-C: whatever happens now (even another Ctrl-C) is not reported."""
        try:
            self.leave()
        except (ChatError, KeyboardInterrupt):
            self.client.close()

    def connection_lost(self) -> NoReturn:
        """The main thread saw the connection end: let the printer show what it has first."""
        self._wait_for_printer()
        self.lost()

    def _wait_for_printer(self) -> None:
        if self._printer.is_alive():
            self._printer.join(EXIT_TIMEOUT)

    def _print_events(self) -> None:
        for event in self.client.events():
            self.show(describe(event))
        if not self._leaving.is_set():
            self.lost()


def describe(event: ServerEvent | Malformed) -> str:
    """How an event looks on the terminal (unsanitised)."""
    match event:
        case Relay(sender, text):
            return f"<{sender}> {text}"
        case Join(name):
            return f"* {name} joined"
        case Leave(name, reason):
            return f"* {name} left ({reason.value})"
        case Error(code, text):
            return f"! {code.value}" if text is None else f"! {code.value}: {text}"
        case Bye(text):
            return "* the server says bye" if text is None else f"* the server says bye: {text}"
        case Malformed(detail):
            return f"! {detail}"
        case _:  # a reply nobody asked for
            return "* " + encode(event).decode("utf-8").rstrip("\n")


def read_line(prompt: str = "") -> str | None:
    """One line of input without its line end, or None at end of input."""
    try:
        return input(prompt).removesuffix("\r")
    except EOFError:
        return None


def fail(message: str) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.write(f"{PROG}: {sanitize(message)}\n")
    sys.stderr.flush()
    raise SystemExit(1)


def _use_utf8() -> None:
    """UTF-8 on the terminal whatever the locale; undecodable input becomes U+FFFD."""
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors="replace")


def run(host: str, port: int, name: str | None) -> int:
    """The whole session; returns the exit status."""
    _use_utf8()
    peer = f"{host}:{port}"
    try:
        client = ChatClient.connect(host, port)
    except ServerFull:
        fail(f"{peer} is full, try again later")
    except ConnectionLost as exc:
        fail(str(exc))
    except TimeoutError:
        fail(f"no answer from {peer}")
    terminal = Terminal(client, peer)
    try:
        if terminal.register(name, interactive=sys.stdin.isatty()):
            terminal.chat()
        terminal.leave()
    except KeyboardInterrupt:
        terminal.leave_quietly()
        return 130
    except (ConnectionLost, TimeoutError):
        terminal.connection_lost()
    finally:
        client.close()
    return 0


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Server address.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=7777, show_default=True, help="Server port."
)
@click.option("--name", default=None, help="Your name (asked for when not given).")
def main(host: str, port: int, name: str | None) -> None:
    """Chat on a linechat/1 server from the terminal.

    Type a line to send it. /who lists who is here, /quit or exit leaves, /help shows the
    commands. With input from a pipe every line is sent, then the client leaves.
    """
    raise SystemExit(run(host, port, name))


if __name__ == "__main__":
    main()
