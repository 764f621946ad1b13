"""linechat-bot: a scriptable linechat/1 client for demos, smoke tests and load experiments.

One bot is one registered connection doing one job:

- ``--echo``: answer every message that starts with ``@<botname>`` with ``@<sender> <rest>``;
- ``--replay FILE``: say the file's lines at ``--rate`` lines per second, then EXIT;
- ``--count``: listen for ``--duration`` seconds or ``--messages`` messages, then report how
  many messages each sender sent and the longest silence between them.

Exit codes are part of the interface, so that scripts can tell failures apart: 0 done,
1 the server is unreachable or went away, 2 usage error, 3 the server refused the name.
The bot never imports Textual: it must run wherever ``linechat`` itself runs.
"""

from __future__ import annotations

import functools
import io
import json
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import click

from linechat.client import ChatClient, ChatError, Malformed, NameInvalid, NameTaken
from linechat.codec import (
    MAX_LINE,
    Bye,
    Closed,
    Error,
    Relay,
    name_key,
    sanitize,
    text_problem,
)

__all__ = [
    "Tally",
    "addressed_to",
    "count_messages",
    "echo_mentions",
    "main",
    "read_script",
    "replay_script",
]

EXIT_OK = 0
EXIT_CONNECTION = 1
EXIT_NAME = 3
CONNECT_TIMEOUT = 10.0
"""Bound on connecting and on every reply the bot waits for."""
POLL_SECONDS = 0.5
"""Longest single wait for an event, so that a deadline is never overshot by more."""

_ADDRESS = re.compile(r"@([^\s:,]+)[:,]?\s*(.*)", re.DOTALL)


class ServerGone(Exception):
    """The server closed the connection (after a BYE, or without one)."""


def _say(message: str) -> None:
    click.echo(f"linechat-bot: {message}", err=True)


def _fail(message: str, code: int) -> NoReturn:
    _say(message)
    sys.exit(code)


def _relays(client: ChatClient, until: float | None) -> Iterator[Relay]:
    """Messages from others until the monotonic time ``until`` (None: until the end).

    Server errors and malformed lines are reported on stderr; raises ServerGone at the end of
    the connection, with the server's BYE text when it said goodbye.
    """
    farewell: str | None = None
    while until is None or (left := until - time.monotonic()) > 0:
        event = client.next_event(
            timeout=POLL_SECONDS if until is None else min(left, POLL_SECONDS)
        )
        if event is None:
            continue
        if isinstance(event, Closed):
            raise ServerGone(farewell or "closed by the server")
        if isinstance(event, Bye):
            farewell = f"server said BYE {sanitize(event.text or '')}".rstrip()
        elif isinstance(event, Error):
            _say(f"server error: {event.code.value} {sanitize(event.text or '')}".rstrip())
        elif isinstance(event, Malformed):
            _say(f"ignored a malformed line: {sanitize(event.detail)}")
        elif isinstance(event, Relay):
            yield event


# ---------------------------------------------------------------------------------------------
# --echo


def addressed_to(name: str, text: str) -> str | None:
    """The rest of ``text`` if it starts with ``@name`` (any case), else None.

    ``@bot hi``, ``@BOT: hi`` and ``@bot, hi`` all give ``hi``; ``@bots hi`` gives None.
    """
    match = _ADDRESS.match(text)
    if match is None or name_key(match[1]) != name_key(name):
        return None
    return match[2]


def echo_mentions(client: ChatClient, name: str) -> None:
    """Answer ``@name rest`` from anyone with ``@sender rest``, until the connection ends."""
    for relay in _relays(client, until=None):
        rest = addressed_to(name, relay.text)
        if rest is not None:
            client.say(f"@{relay.sender} {rest}" if rest else f"@{relay.sender}")


# ---------------------------------------------------------------------------------------------
# --replay


def read_script(path: Path, name: str) -> list[str]:
    """The lines of ``path`` that will be said, checked before connecting.

    Empty lines are skipped (there is no empty message); a line that the server would refuse
    (control characters, or a relayed line over the size limit) is a usage error.
    """
    try:
        content = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"{path} is not UTF-8: {exc}", param_hint="--replay") from None
    lines = [line.removesuffix("\r") for line in content.split("\n")]
    for number, line in enumerate(lines, start=1):
        problem = text_problem(line) if line else None
        relayed = len(f"MSG {name} {line}\n".encode())
        if problem is None and relayed > MAX_LINE:
            problem = f"relayed line would be {relayed} bytes, over {MAX_LINE}"
        if problem:
            raise click.BadParameter(f"{path}, line {number}: {problem}", param_hint="--replay")
    return [line for line in lines if line]


def replay_script(client: ChatClient, lines: list[str], rate: float) -> None:
    """Say ``lines`` at ``rate`` lines per second, paced by the monotonic clock.

    Line i goes out at start + i/rate, so a slow send is caught up on instead of pushing every
    later line back; the wait between sends drains incoming events (and notices a lost
    connection). A PING at the end makes sure every line was processed before EXIT.
    """
    start = time.monotonic()
    for index, line in enumerate(lines):
        for _ in _relays(client, until=start + index / rate):
            pass  # others' messages are not the replay's business
        client.say(line)
    client.ping()
    elapsed = time.monotonic() - start
    click.echo(f"replayed {len(lines)} lines in {elapsed:.2f} s")


# ---------------------------------------------------------------------------------------------
# --count


@dataclass
class _Stream:
    """Message count and longest silence of one sender (or of everyone)."""

    messages: int = 0
    last: float | None = None
    longest_gap: float | None = None

    def add(self, now: float) -> None:
        if self.last is not None:
            gap = now - self.last
            self.longest_gap = gap if self.longest_gap is None else max(self.longest_gap, gap)
        self.last = now
        self.messages += 1

    def summary(self) -> dict[str, Any]:
        gap_ms = None if self.longest_gap is None else round(self.longest_gap * 1000, 1)
        return {"messages": self.messages, "longest_gap_ms": gap_ms}


@dataclass
class Tally:
    """What ``--count`` saw: per sender and in total, messages and the longest silence."""

    started: float = field(default_factory=time.monotonic)
    senders: dict[str, _Stream] = field(default_factory=dict)
    total: _Stream = field(default_factory=_Stream)

    def add(self, sender: str, now: float) -> None:
        self.senders.setdefault(sender, _Stream()).add(now)
        self.total.add(now)

    def report(self, now: float) -> dict[str, Any]:
        return {
            "duration_s": round(now - self.started, 3),
            "total": self.total.summary(),
            "senders": {name: s.summary() for name, s in sorted(self.senders.items())},
        }


def format_report(report: dict[str, Any]) -> str:
    """The report as a table for people."""
    rows = [*report["senders"].items(), ("total", report["total"])]
    width = max(len(name) for name in ["sender", *report["senders"]])
    lines = [f"{'sender':<{width}}  {'messages':>8}  {'longest gap ms':>14}"]
    for name, summary in rows:
        gap = summary["longest_gap_ms"]
        gap_text = "-" if gap is None else f"{gap:.1f}"
        lines.append(f"{name:<{width}}  {summary['messages']:>8}  {gap_text:>14}")
    lines.append(f"{report['total']['messages']} messages in {report['duration_s']:.2f} s")
    return "\n".join(lines)


def count_messages(
    client: ChatClient, duration: float | None, messages: int | None, as_json: bool
) -> None:
    """Count relayed messages until the duration or message limit; print the report even
    when the connection is lost or the bot is interrupted, then let that propagate."""
    tally = Tally()
    until = None if duration is None else tally.started + duration
    try:
        if messages != 0:
            for relay in _relays(client, until):
                tally.add(relay.sender, time.monotonic())
                if messages is not None and tally.total.messages >= messages:
                    break
    finally:
        report = tally.report(time.monotonic())
        text = json.dumps(report, ensure_ascii=False) if as_json else format_report(report)
        click.echo(text)


# ---------------------------------------------------------------------------------------------
# The session around every mode


def _reason(exc: Exception, peer: str) -> str:
    """The shortest precise explanation: the ERR code, or the library's message without the
    server address that the bot's own message already names."""
    if isinstance(exc, ChatError) and exc.code is not None:
        return exc.code.value
    text = str(exc) or type(exc).__name__
    for prefix in (f"cannot connect to {peer}: ", f"{peer}: ", f"{peer} "):
        text = text.removeprefix(prefix)
    return text


def run(host: str, port: int, name: str, job: Callable[[ChatClient], None]) -> int:
    """Connect, register ``name``, do ``job``, leave with EXIT; map failures to exit codes.

    Ctrl-C and SIGTERM are a requested stop, not a failure: the bot leaves with EXIT (when
    connected) and the status is 0.
    """
    peer = f"{host}:{port}"
    try:
        client = ChatClient.connect(host=host, port=port, timeout=CONNECT_TIMEOUT)
    except (ChatError, TimeoutError, OSError) as exc:
        _fail(f"cannot connect to {peer}: {_reason(exc, peer)}", EXIT_CONNECTION)
    except KeyboardInterrupt:
        return EXIT_OK
    with client:  # says EXIT on the way out if still connected
        try:
            client.register(name)
            job(client)
            client.exit()
        except KeyboardInterrupt:
            pass
        except (NameTaken, NameInvalid) as exc:
            _fail(f'name "{name}" refused: {_reason(exc, peer)}', EXIT_NAME)
        except (ServerGone, ChatError, TimeoutError) as exc:
            _fail(f"connection to {peer} lost: {_reason(exc, peer)}", EXIT_CONNECTION)
    return EXIT_OK


def _utf8_stdio() -> None:
    """Print names and text as UTF-8 whatever the locale says (Cyrillic must work)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors="replace")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Server address.")
@click.option("--port", type=click.IntRange(1, 65535), default=7777, show_default=True)
@click.option("--name", required=True, help="The bot's name in the chat.")
@click.option("--echo", "mode_echo", is_flag=True, help="Answer '@NAME text' with '@sender text'.")
@click.option(
    "--replay",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Say FILE's lines as messages, then leave.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Lines per second for --replay.",
)
@click.option("--count", "mode_count", is_flag=True, help="Count messages per sender.")
@click.option(
    "--duration",
    type=click.FloatRange(min=0),
    help="--count: stop after S seconds.",
)
@click.option("--messages", type=click.IntRange(min=0), help="--count: stop after N messages.")
@click.option("--json", "as_json", is_flag=True, help="--count: print the report as JSON.")
@click.pass_context
def cli(
    ctx: click.Context,
    host: str,
    port: int,
    name: str,
    mode_echo: bool,
    replay: Path | None,
    rate: float,
    mode_count: bool,
    duration: float | None,
    messages: int | None,
    as_json: bool,
) -> None:
    """A linechat/1 bot: --echo, --replay FILE or --count.

    Exit status: 0 done, 1 server unreachable or connection lost, 2 usage error, 3 name
    refused.
    """
    if [mode_echo, replay is not None, mode_count].count(True) != 1:
        raise click.UsageError("choose exactly one of --echo, --replay FILE, --count")
    if not mode_count and (duration is not None or messages is not None or as_json):
        raise click.UsageError("--duration, --messages and --json go with --count")
    if replay is None and _given(ctx, "rate"):
        raise click.UsageError("--rate goes with --replay")
    job: Callable[[ChatClient], None]
    if mode_echo:
        job = functools.partial(echo_mentions, name=name)
    elif replay is not None:
        job = functools.partial(replay_script, lines=read_script(replay, name), rate=rate)
    else:
        job = functools.partial(
            count_messages, duration=duration, messages=messages, as_json=as_json
        )
    sys.exit(run(host, port, name, job))


def _given(ctx: click.Context, parameter: str) -> bool:
    return ctx.get_parameter_source(parameter) is not click.core.ParameterSource.DEFAULT


def main() -> None:
    """``linechat-bot``: SIGTERM stops the bot like Ctrl-C does (leave with EXIT, exit 0)."""
    _utf8_stdio()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    cli()


if __name__ == "__main__":
    main()
