"""The checker's own strict client: raw lines over TCP, every byte in a transcript.

It does not reuse the reference implementation's parser (a checker that shares the
reference's parser shares its bugs). Received lines are framed by LF only and kept as sent:
a CR before the LF stays in the line, so an expectation fails visibly on a CR LF server.
Every wait is bounded by the timeout; a broken expectation raises :class:`CheckFailure`
saying which client expected what, and what arrived instead.
"""

from __future__ import annotations

import itertools
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import NoReturn

MAX_LINE_BYTES = 4096  # FRAME-5 / FRAME-6, counting the LF
MAX_BUFFERED_BYTES = 1 << 20  # a server sending this much without LF is hopeless
MAX_COLLECTED_LINES = 100_000
MAX_READ_STEPS = 1_000_000  # recv calls and lines per wait: a bound besides the timeout
SHOWN_CHARS = 200
OPTIONAL_TEXT = r"(?: .*)?"  # "optionally followed by a space and free text"

SENT, RECEIVED, NOTE = ">", "<", "*"


class CheckFailure(AssertionError):
    """The server broke a rule; the message says what was expected and what arrived."""


def escape(data: bytes) -> str:
    """Printable text for a transcript: Cyrillic stays text; controls and bad bytes escape.

    ``\\r``, ``\\n``, ``\\t`` keep their usual escapes, other controls show as ``\\x1b``, bytes
    that are not UTF-8 as ``\\xff``, and a backslash as ``\\\\`` (so the result is unambiguous).
    """
    shown = []
    for char in data.decode("utf-8", errors="surrogateescape"):
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, kept by surrogateescape
            shown.append(f"\\x{code - 0xDC00:02x}")
        elif char in _NAMED_ESCAPES:
            shown.append(_NAMED_ESCAPES[char])
        elif char.isprintable():
            shown.append(char)
        elif code <= 0xFF:
            shown.append(f"\\x{code:02x}")
        else:
            shown.append(f"\\u{code:04x}")
    return "".join(shown)


_NAMED_ESCAPES = {"\\": "\\\\", "\r": "\\r", "\n": "\\n", "\t": "\\t"}


def safe_text(text: str) -> str:
    """Multi-line text (a message, a traceback) with control characters and undecodable
    bytes escaped, so that it is valid in XML and HTML; backslashes, LF and TAB are kept."""
    shown = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            shown.append(f"\\x{code - 0xDC00:02x}")
        elif char in "\n\t" or not _unsafe_in_markup(code):
            shown.append(char)
        else:
            shown.append(f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")
    return "".join(shown)


def _unsafe_in_markup(code: int) -> bool:
    """C0 and C1 controls, DEL, lone surrogates and U+FFFE/U+FFFF (not allowed in XML)."""
    return (
        code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF)
    )


def shorten(text: str, limit: int = SHOWN_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[: limit - 40]}… ({len(text)} characters in all)"


def show(line: str) -> str:
    """A received or expected line, quoted and escaped for a failure message."""
    return '"' + shorten(escape(line.encode("utf-8", errors="surrogateescape"))) + '"'


@dataclass(frozen=True)
class TranscriptEvent:
    """One thing on the wire: a line sent (>), received (<), or a note (*) such as EOF."""

    time: float  # seconds since the check started
    client: str
    direction: str
    text: str  # escaped, printable

    def format(self) -> str:
        return f"{self.time:8.3f} {self.client} {self.direction} {self.text}"

    def to_dict(self) -> dict[str, str | float]:
        return asdict(self)


class Transcript:
    """Everything every client of one check sent and received, in time order."""

    def __init__(self, started: float | None = None) -> None:
        """``started``: the time.monotonic() that counts as 0 (default: now)."""
        self.started = time.monotonic() if started is None else started
        self._events: list[TranscriptEvent] = []
        self._lock = threading.Lock()  # checks may drive clients from several threads

    def record(self, client: str, direction: str, text: str) -> None:
        event = TranscriptEvent(round(time.monotonic() - self.started, 6), client, direction, text)
        with self._lock:
            self._events.append(event)

    def events(self) -> list[TranscriptEvent]:
        with self._lock:
            return list(self._events)


def _no_context() -> str:
    return ""


def _ignore_nothing(line: str) -> bool:
    return False


def _remember_nothing(name: str) -> None:
    return None


@dataclass(frozen=True)
class ClientHooks:
    """How a session customises its clients.

    ``ignore`` drops lines that belong to other checks' clients on a shared server
    (--connect); ``explain_failure`` adds context to every failure message (e.g. that the
    server process has exited); ``on_register`` learns every name a client registers.
    """

    ignore: Callable[[str], bool] = field(default=_ignore_nothing)
    explain_failure: Callable[[], str] = field(default=_no_context)
    on_register: Callable[[str], None] = field(default=_remember_nothing)


class Client:
    """One TCP connection to the server under test, driven line by line by a check.

    ``label`` names the client in transcripts and failures; ``name`` is the name
    :meth:`register` uses by default (the label, made unique on a shared server).
    """

    def __init__(
        self,
        sock: socket.socket,
        label: str,
        *,
        name: str,
        transcript: Transcript,
        timeout: float,
        hooks: ClientHooks,
    ) -> None:
        self.label = label
        self.name = name
        self.timeout = timeout
        self._sock = sock
        self._transcript = transcript
        self._hooks = hooks
        self._buffer = b""
        self._ended: str | None = None  # why no more lines can arrive
        self._tokens = itertools.count(1)

    # -- sending -------------------------------------------------------------------------

    def send_line(self, line: str) -> None:
        """Send ``line`` plus LF, UTF-8 encoded, in one write."""
        data = line.encode("utf-8") + b"\n"
        self._transcript.record(self.label, SENT, escape(data[:-1]))
        self._write(data)

    def send_raw(self, data: bytes) -> None:
        """Send bytes exactly as given (no LF added): partial lines, CR, invalid UTF-8."""
        self._transcript.record(self.label, SENT, "(raw) " + shorten(escape(data)))
        self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as error:
            self.fail(f"could not send: {error.strerror or error}")

    # -- receiving -----------------------------------------------------------------------

    def read_line(self, timeout: float | None = None, *, expecting: str = "a line") -> str:
        """The next line without its LF (a CR before the LF is kept), or a failure."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        for _ in range(MAX_READ_STEPS):
            line = self._next_buffered_line()
            if line is None:
                if not self._receive(deadline):
                    self._fail_waiting(expecting, wait)
            elif self._hooks.ignore(line):
                self._transcript.record(self.label, NOTE, "ignored: about another check's client")
            else:
                return line
        self.fail(f"expected {expecting}, but the input never ended")

    def _next_buffered_line(self) -> str | None:
        raw, found, rest = self._buffer.partition(b"\n")
        if not found:
            return None
        self._buffer = rest
        self._transcript.record(self.label, RECEIVED, shorten(escape(raw)))
        for note in _framing_notes(raw):
            self._transcript.record(self.label, NOTE, note)
        return raw.decode("utf-8", errors="surrogateescape")

    def _receive(self, deadline: float) -> bool:
        """Wait for more bytes until ``deadline``; False if the time ran out or input ended."""
        remaining = deadline - time.monotonic()
        if self._ended is not None or remaining <= 0:
            return False
        self._sock.settimeout(remaining)
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            return False
        except OSError as error:
            self._end(f"the connection failed ({error.strerror or error})")
            return False
        if not data:
            self._end("the server closed the connection")
            return False
        self._buffer += data
        if len(self._buffer) > MAX_BUFFERED_BYTES and b"\n" not in self._buffer:
            self.fail(f"the server sent more than {MAX_BUFFERED_BYTES} bytes without a LF")
        return True

    def _fail_waiting(self, expecting: str, wait: float) -> NoReturn:
        if self._ended is not None:
            self.fail(f"expected {expecting}, but {self._ended}")
        partial = ""
        if self._buffer:
            partial = f" (only a partial line without LF: {show(self._decoded_buffer())})"
        self.fail(f"expected {expecting}, but nothing arrived within {wait:g} s{partial}")

    def _decoded_buffer(self) -> str:
        return self._buffer.decode("utf-8", errors="surrogateescape")

    def _end(self, why: str) -> None:
        self._ended = why
        self._transcript.record(self.label, NOTE, why)
        if self._buffer:
            self._transcript.record(
                self.label, NOTE, f"bytes after the last LF: {shorten(escape(self._buffer))}"
            )

    # -- expectations --------------------------------------------------------------------

    def expect(self, line: str, *, optional_text: bool = False) -> str:
        """The next line must equal ``line`` (or, with optional_text, ``line`` + space + text)."""
        wanted = show(line) + (" optionally followed by a space and text" if optional_text else "")
        got = self.read_line(expecting=wanted)
        with_text = optional_text and got.startswith(line + " ") and not got.endswith("\r")
        if got == line or with_text:
            return got
        self.fail(f"expected {wanted}, got {show(got)}{_hint(got)}")

    def expect_match(self, pattern: str | re.Pattern[str]) -> re.Match[str]:
        """The next line must match the regular expression ``pattern`` entirely."""
        regex = re.compile(pattern, re.DOTALL) if isinstance(pattern, str) else pattern
        wanted = f"a line matching /{regex.pattern}/"
        got = self.read_line(expecting=wanted)
        match = regex.fullmatch(got)
        if match is None:
            self.fail(f"expected {wanted}, got {show(got)}{_hint(got)}")
        return match

    def expect_error(self, code: str) -> str:
        """The next line must be ``ERR <code>``, optionally followed by a space and text."""
        return self.expect(f"ERR {code}", optional_text=True)

    def expect_hello(self) -> str:
        """The greeting (GREET-1): ``HELLO linechat/1``, optionally followed by text."""
        return self.expect("HELLO linechat/1", optional_text=True)

    def barrier(self) -> None:
        """Round trip a unique PING; fail if any other line arrives before its PONG.

        This is how a check proves that nothing (an echo, a stray JOIN) was sent to this
        client: ORDER-1 makes the PONG follow everything queued to it before.
        """
        token = self._send_ping()
        line = self.read_line(expecting=show(f"PONG {token}"))
        if line != f"PONG {token}":
            self.fail(f"expected nothing before the PONG, got {show(line)}{_hint(line)}")

    def collect_until_pong(self) -> list[str]:
        """Round trip a unique PING and return the lines that arrived before its PONG."""
        token = self._send_ping()
        lines: list[str] = []
        for _ in range(MAX_COLLECTED_LINES):
            line = self.read_line(expecting=show(f"PONG {token}"))
            if line == f"PONG {token}":
                return lines
            lines.append(line)
        self.fail(f"no PONG {token} after {MAX_COLLECTED_LINES} lines")

    def _send_ping(self) -> str:
        token = f"sync-{next(self._tokens)}"
        self.send_line(f"PING {token}")
        return token

    def expect_closed(self, timeout: float | None = None) -> None:
        """The server must close the connection (EOF or reset) with no further line."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        for _ in range(MAX_READ_STEPS):
            line = self._next_buffered_line()
            if line is not None and not self._hooks.ignore(line):
                self.fail(f"expected the server to close the connection, got {show(line)}")
            if line is None and not self._receive(deadline):
                break
        if self._ended is None:
            self.fail(f"expected the server to close the connection, but it stayed open {wait:g} s")
        if self._buffer:
            self.fail(
                "expected the server to close the connection, got bytes without a LF: "
                + show(self._decoded_buffer())
            )

    # -- protocol helpers ----------------------------------------------------------------

    def register(self, name: str | None = None) -> None:
        """``NAME <name>`` then ``WELCOME <name>`` (NAME-1); the default name is ``self.name``."""
        chosen = self.name if name is None else name
        self._hooks.on_register(chosen)
        self.send_line(f"NAME {chosen}")
        self.expect(f"WELCOME {chosen}")
        self.name = chosen

    def who(self, argument: str | None = None) -> list[str]:
        """Send WHO and return the listed names, checking the reply's shape (WHO-1)."""
        self.send_line("WHO" if argument is None else f"WHO {argument}")
        names: list[str] = []
        wanted = '"USER <name>" or "END WHO <count>"'
        for _ in range(MAX_COLLECTED_LINES):
            line = self.read_line(expecting=wanted)
            if line.startswith("USER ") and len(line) > len("USER "):
                names.append(line[len("USER ") :])
                continue
            end = re.fullmatch(r"END WHO ([0-9]+)", line)
            if end is None:
                self.fail(
                    f'expected "USER <name>" or "END WHO <count>", got {show(line)}{_hint(line)}'
                )
            if int(end.group(1)) != len(names):
                self.fail(f"{show(line)} after {len(names)} USER lines (WHO-1: count = lines)")
            return names
        self.fail(f"no END WHO after {MAX_COLLECTED_LINES} lines")

    # -- ending the connection -----------------------------------------------------------

    def close(self) -> None:
        """Close normally (FIN). Unread lines stay unread."""
        self._transcript.record(self.label, NOTE, "closes the connection (FIN)")
        self._ended = self._ended or "this client closed the connection"
        self._sock.close()

    def reset(self) -> None:
        """Abort the connection with a TCP reset (RST) instead of a FIN."""
        self._transcript.record(self.label, NOTE, "resets the connection (RST)")
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._ended = self._ended or "this client reset the connection"
        self._sock.close()

    def close_quietly(self) -> None:
        """Close at the end of a check, whatever state the connection is in."""
        self._sock.close()

    def fail(self, what: str) -> NoReturn:
        """Raise a CheckFailure about this client, with the session's context."""
        context = self._hooks.explain_failure()
        raise CheckFailure(f"{self.label}: {what}" + (f" ({context})" if context else ""))


def _framing_notes(raw: bytes) -> list[str]:
    """Framing problems of one received line, noted in the transcript as they happen."""
    notes = []
    if raw.endswith(b"\r"):
        notes.append("this line ends with CR LF: a server must send LF only (FRAME-2)")
    if len(raw) + 1 > MAX_LINE_BYTES:
        notes.append(f"this line is {len(raw) + 1} bytes with its LF, over 4096 (FRAME-6)")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        notes.append("this line is not valid UTF-8 (FRAME-1)")
    return notes


def _hint(line: str) -> str:
    """Why a line that looks right did not match, if it is a framing problem."""
    if line.endswith("\r"):
        return " (the server ended the line with CR LF; FRAME-2 requires LF only)"
    if line != line.strip(" "):
        return " (note the leading or trailing spaces)"
    return ""


def open_client(
    host: str,
    port: int,
    label: str,
    *,
    name: str,
    transcript: Transcript,
    timeout: float,
    hooks: ClientHooks,
) -> Client:
    """Connect to the server; TCP_NODELAY so every send leaves as its own segment."""
    transcript.record(label, NOTE, f"connects to {host}:{port}")
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        context = hooks.explain_failure()
        raise CheckFailure(
            f"{label}: cannot connect to {host}:{port}: {error.strerror or error}"
            + (f" ({context})" if context else "")
        ) from error
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return Client(
        sock,
        label,
        name=name,
        transcript=transcript,
        timeout=timeout,
        hooks=hooks,
    )
