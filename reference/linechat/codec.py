"""The linechat/1 wire format as a pure library: bytes in, events out; events in, bytes out.

There is no networking, no threading and no clock in this module (the h11 design): the
reference server and clients are thin I/O shells that feed received bytes in and write the
bytes that come out. Everything SPEC.md says about the wire lives here and nowhere else.

Theory of operation
-------------------
Three layers, each usable on its own:

1. ``LineFramer`` turns a byte stream into lines: it splits on LF only (never on recv()
   boundaries), strips one CR before the LF, enforces the 4096-byte limit by reporting an
   over-long line once and discarding it up to its LF, and drops bytes left after the last LF
   at end of stream (FRAME-3/4/5/8).

2. Lines become typed events. Client lines (``NAME``, ``MSG``, ``WHO``, ``PING``, ``EXIT``)
   become the command events ``Name``, ``Msg``, ``Who``, ``Ping``, ``Exit``; server lines
   become ``Hello``, ``Welcome``, ``Join``, ``Leave``, ``Relay``, ``User``, ``EndWho``,
   ``Pong``, ``Bye`` and ``Error``. Every event is a frozen dataclass whose constructor
   validates it, so an invalid event cannot be built, and ``encode()`` turns any event back
   into its exact bytes.

3. ``ServerConnection`` is the server's side of one connection: it owns that connection's
   state (the table ``ALLOWED`` below is the whole life cycle) and turns bytes into either a
   command the server must act on or a ``Reject`` naming the ``ERR`` code to answer. The one
   thing it cannot know, whether a name is free, is left to the server, which calls
   ``registered()`` once it has accepted a name. ``ClientConnection`` is the client's side.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ALLOWED",
    "MAX_LINE",
    "MAX_NAME",
    "PROTOCOL",
    "Bye",
    "ClientConnection",
    "ClientEvent",
    "Closed",
    "Command",
    "EndWho",
    "Error",
    "ErrorCode",
    "Exit",
    "Hello",
    "Join",
    "Leave",
    "LeaveReason",
    "LineFramer",
    "Msg",
    "MsgRun",
    "Name",
    "Overlong",
    "Ping",
    "Pong",
    "ProtocolError",
    "Reject",
    "Relay",
    "ServerConnection",
    "ServerEvent",
    "State",
    "User",
    "Welcome",
    "Who",
    "encode",
    "name_key",
    "parse_server_line",
    "sanitize",
    "text_problem",
    "valid_name",
]

PROTOCOL: Final = "linechat/1"
MAX_LINE: Final = 4096
"""Longest line on the wire in bytes, counting its LF and any CR (FRAME-5, FRAME-6)."""
MAX_NAME: Final = 32
"""Longest name in characters (code points), NAME-2."""


class ProtocolError(ValueError):
    """Raised when something that is not valid linechat/1 is built or parsed."""


class ErrorCode(str, enum.Enum):
    """The ``ERR`` codes of CMD-2; the value is the code on the wire."""

    SYNTAX = "syntax"
    UNKNOWN_COMMAND = "unknown-command"
    NOT_REGISTERED = "not-registered"
    ALREADY_REGISTERED = "already-registered"
    NAME_TAKEN = "name-taken"
    NAME_INVALID = "name-invalid"
    TEXT_INVALID = "text-invalid"
    LINE_TOO_LONG = "line-too-long"
    BAD_ENCODING = "bad-encoding"
    SERVER_FULL = "server-full"


class LeaveReason(str, enum.Enum):
    """Why a registered client left (LEAVE-4)."""

    EXIT = "exit"
    DISCONNECT = "disconnect"
    TIMEOUT = "timeout"
    KICKED = "kicked"


_ERROR_TEXT: Final = {
    ErrorCode.SYNTAX: "a required argument is missing",
    ErrorCode.UNKNOWN_COMMAND: "commands are NAME, MSG, WHO, PING and EXIT",
    ErrorCode.NOT_REGISTERED: "send NAME <name> first",
    ErrorCode.ALREADY_REGISTERED: "this connection already has a name",
    ErrorCode.NAME_TAKEN: "that name is in use",
    ErrorCode.NAME_INVALID: "1 to 32 letters, digits, '_', '-' or '.'",
    ErrorCode.TEXT_INVALID: "control characters are not allowed",
    ErrorCode.LINE_TOO_LONG: "lines are at most 4096 bytes",
    ErrorCode.BAD_ENCODING: "lines must be UTF-8",
    ErrorCode.SERVER_FULL: "try again later",
}


# ---------------------------------------------------------------------------------------------
# Validation of names and text (NAME-2, NAME-3, MSG-2)

_NAME_CATEGORIES: Final = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"})
_NAME_PUNCTUATION: Final = frozenset("_-.")


def valid_name(name: str) -> bool:
    """True if ``name`` is 1 to 32 letters, decimal digits, ``_``, ``-`` or ``.`` (NAME-2)."""
    return 1 <= len(name) <= MAX_NAME and all(
        c in _NAME_PUNCTUATION or unicodedata.category(c) in _NAME_CATEGORIES for c in name
    )


def name_key(name: str) -> str:
    """The key under which names are unique: full Unicode case folding (NAME-3)."""
    return name.casefold()


def _is_control(c: str) -> bool:
    o = ord(c)
    return o < 0x20 or 0x7F <= o <= 0x9F


_TEXT_CONTROL: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def text_problem(text: str) -> str | None:
    """Why ``text`` is not valid MSG text (MSG-2), or None if it is valid."""
    if not text:
        return "empty"
    found = _TEXT_CONTROL.search(text)
    return None if found is None else f"control character U+{ord(found.group()):04X}"


# Terminal control: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-byte escapes,
# the 8-bit CSI/OSC forms, and bidirectional overrides that reorder what a terminal shows.
_ESCAPE_SEQUENCE: Final = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b\]|\x9d).*?(?:\x07|\x1b\\|\x9c|$)"
    r"|\x1b[@-Z\\-_]?"
)
_BIDI_CONTROLS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def sanitize(text: str) -> str:
    """Make server-supplied text safe to print on a terminal.

    Escape sequences are removed whole; any other control character (C0 but TAB, DEL, C1)
    becomes U+FFFD, and bidi overrides are dropped, so a hostile peer can neither move the
    cursor, recolour, retitle or clear the terminal, nor reorder the text it shows.
    """
    text = _ESCAPE_SEQUENCE.sub("", text)
    return "".join(
        "\ufffd" if c != "\t" and _is_control(c) else c for c in text if c not in _BIDI_CONTROLS
    )


def _check_name(name: str) -> None:
    if not valid_name(name):
        raise ProtocolError(f"invalid name {name!r}")


def _check_free_text(text: str | None) -> None:
    """Optional free text after HELLO, BYE and ERR codes: no controls, no LF."""
    if text is not None and (text == "" or any(_is_control(c) for c in text)):
        raise ProtocolError(f"invalid free text {text!r}")


# ---------------------------------------------------------------------------------------------
# Events. Client -> server commands:


@dataclass(frozen=True, slots=True)
class Name:
    """``NAME <name>``: ask to register under ``name``."""

    name: str

    def __post_init__(self) -> None:
        _check_name(self.name)


@dataclass(frozen=True, slots=True)
class Msg:
    """``MSG <text>``: say ``text`` to everyone else."""

    text: str

    def __post_init__(self) -> None:
        problem = text_problem(self.text)
        if problem:
            raise ProtocolError(f"invalid text: {problem}")


@dataclass(frozen=True, slots=True)
class Who:
    """``WHO``: list the registered clients."""


@dataclass(frozen=True, slots=True)
class Ping:
    """``PING[ <token>]``: ask for a ``PONG`` with the same token."""

    token: str | None = None

    def __post_init__(self) -> None:
        if self.token is not None and text_problem(self.token):
            raise ProtocolError(f"invalid token {self.token!r}")


@dataclass(frozen=True, slots=True)
class Exit:
    """``EXIT``: leave; the server answers ``BYE`` and closes."""


@dataclass(frozen=True, slots=True)
class MsgRun:
    """A run of consecutive valid ``MSG`` lines from one registered client, already encoded
    as the relay lines ``MSG <sender> <text>`` LF that everyone else receives.

    ``ServerConnection`` yields this instead of ``count`` separate ``Msg`` events when a
    whole block of buffered lines is plain MSG traffic: the block is then validated and
    rewritten by a few C-level bytes operations instead of line by line. It means exactly
    what the ``Msg`` events would have meant.
    """

    relayed: bytes
    count: int


Command = Name | Msg | Who | Ping | Exit
ClientEvent = Command


# Server -> client lines:


@dataclass(frozen=True, slots=True)
class Hello:
    """``HELLO linechat/1[ <text>]``: the first line on every connection (GREET-1)."""

    text: str | None = None

    def __post_init__(self) -> None:
        _check_free_text(self.text)


@dataclass(frozen=True, slots=True)
class Welcome:
    """``WELCOME <name>``: registration succeeded (NAME-1)."""

    name: str

    def __post_init__(self) -> None:
        _check_name(self.name)


@dataclass(frozen=True, slots=True)
class Join:
    """``JOIN <name>``: someone else registered (ORDER-8)."""

    name: str

    def __post_init__(self) -> None:
        _check_name(self.name)


@dataclass(frozen=True, slots=True)
class Leave:
    """``LEAVE <name> <reason>``: a registered client went (LEAVE-4)."""

    name: str
    reason: LeaveReason

    def __post_init__(self) -> None:
        _check_name(self.name)
        object.__setattr__(self, "reason", LeaveReason(self.reason))


@dataclass(frozen=True, slots=True)
class Relay:
    """``MSG <sender> <text>``: a message from someone else (MSG-3)."""

    sender: str
    text: str

    def __post_init__(self) -> None:
        _check_name(self.sender)
        problem = text_problem(self.text)
        if problem:
            raise ProtocolError(f"invalid text: {problem}")


@dataclass(frozen=True, slots=True)
class User:
    """``USER <name>``: one line of a WHO answer (WHO-1)."""

    name: str

    def __post_init__(self) -> None:
        _check_name(self.name)


@dataclass(frozen=True, slots=True)
class EndWho:
    """``END WHO <count>``: the end of a WHO answer (WHO-1)."""

    count: int

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ProtocolError(f"negative count {self.count}")


@dataclass(frozen=True, slots=True)
class Pong:
    """``PONG[ <token>]``: the answer to ``PING`` (PING-1)."""

    token: str | None = None

    def __post_init__(self) -> None:
        if self.token is not None and text_problem(self.token):
            raise ProtocolError(f"invalid token {self.token!r}")


@dataclass(frozen=True, slots=True)
class Bye:
    """``BYE[ <text>]``: the server is closing this connection (EXIT-1, LIFE-1)."""

    text: str | None = None

    def __post_init__(self) -> None:
        _check_free_text(self.text)


@dataclass(frozen=True, slots=True)
class Error:
    """``ERR <code>[ <text>]`` (CMD-2)."""

    code: ErrorCode
    text: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", ErrorCode(self.code))
        _check_free_text(self.text)

    @classmethod
    def explained(cls, code: ErrorCode) -> Error:
        """The error with the reference's short human explanation."""
        return cls(code, _ERROR_TEXT[code])


ServerEvent = Hello | Welcome | Join | Leave | Relay | User | EndWho | Pong | Bye | Error


# ---------------------------------------------------------------------------------------------
# Formatting


def _with_text(word: str, text: str | None) -> str:
    return word if text is None else f"{word} {text}"


def _line(event: Command | ServerEvent) -> str:
    match event:
        case Name(name):
            return f"NAME {name}"
        case Msg(text):
            return f"MSG {text}"
        case Who():
            return "WHO"
        case Ping(token):
            return _with_text("PING", token)
        case Exit():
            return "EXIT"
        case Hello(text):
            return _with_text(f"HELLO {PROTOCOL}", text)
        case Welcome(name):
            return f"WELCOME {name}"
        case Join(name):
            return f"JOIN {name}"
        case Leave(name, reason):
            return f"LEAVE {name} {reason.value}"
        case Relay(sender, text):
            return f"MSG {sender} {text}"
        case User(name):
            return f"USER {name}"
        case EndWho(count):
            return f"END WHO {count}"
        case Pong(token):
            return _with_text("PONG", token)
        case Bye(text):
            return _with_text("BYE", text)
        case Error(code, text):
            return _with_text(f"ERR {code.value}", text)
    raise TypeError(f"not a linechat event: {event!r}")  # pragma: no cover


def encode(event: Command | ServerEvent) -> bytes:
    """The exact bytes of ``event``'s line, LF included (FRAME-2: never CR LF).

    Raises ProtocolError if the line would exceed MAX_LINE bytes (FRAME-6).
    """
    data = _line(event).encode("utf-8") + b"\n"
    if len(data) > MAX_LINE:
        raise ProtocolError(f"line of {len(data)} bytes exceeds {MAX_LINE}")
    return data


# ---------------------------------------------------------------------------------------------
# Framing


@dataclass(frozen=True, slots=True)
class Overlong:
    """A received line exceeded MAX_LINE; it has been (or is being) discarded up to its LF."""


class LineFramer:
    """Splits a byte stream into lines by LF only (FRAME-3/4/5/8).

    ``feed(data)`` adds bytes (``b""`` means end of stream); ``next_line()`` returns the next
    line without its LF and CR, ``Overlong()`` once per over-long line, or None when more data
    is needed. After end of stream, bytes after the last LF are discarded.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._max_line = max_line
        self._buffer = bytearray()
        self._start = 0  # lines before this offset are consumed; compacted lazily
        self._discarding = False  # inside an over-long line, already reported
        self.eof = False

    def feed(self, data: bytes) -> None:
        if self.eof:
            if data:
                raise ProtocolError("data fed after end of stream")
            return
        if not data:
            self.eof = True
            return
        if self._start:
            # Compact once per feed, not once per line: many lines in one segment stay O(n).
            del self._buffer[: self._start]
            self._start = 0
        self._buffer += data

    def next_line(self) -> bytes | Overlong | None:
        buffer, start = self._buffer, self._start
        if self._discarding:
            newline = buffer.find(b"\n", start)
            if newline < 0:
                self._consume(len(buffer))
                return None
            self._discarding = False
            start = self._consume(newline + 1)
        newline = buffer.find(b"\n", start, start + self._max_line)
        if newline >= 0:
            end = newline - 1 if newline > start and buffer[newline - 1] == 0x0D else newline
            line = bytes(buffer[start:end])
            self._consume(newline + 1)
            return line
        if len(buffer) - start >= self._max_line:
            self._discarding = True  # FRAME-5: reported now, discarded up to its LF
            return Overlong()
        if self.eof:
            self._consume(len(buffer))  # FRAME-8: a partial last line is not a line
        return None

    def complete_lines(self) -> bytes | None:
        """Every complete line buffered, as one block ending in LF, without consuming it
        (None if there is none, or inside an over-long line). ``skip(len(block))`` consumes
        it; the block's lines are not checked against the limit."""
        if self._discarding:
            return None
        end = self._buffer.rfind(b"\n", self._start)
        return None if end < 0 else bytes(self._buffer[self._start : end + 1])

    def skip(self, count: int) -> None:
        self._consume(self._start + count)

    def _consume(self, end: int) -> int:
        if end >= len(self._buffer):
            self._buffer.clear()
            end = 0
        self._start = end
        return end

    @property
    def pending(self) -> int:
        """Bytes held that do not yet form a line."""
        return len(self._buffer) - self._start


# ---------------------------------------------------------------------------------------------
# Parsing


class State(enum.Enum):
    """A connection's life cycle, as SPEC.md's state table."""

    CONNECTED = "connected"  # HELLO sent, no name yet
    REGISTERED = "registered"  # WELCOME sent
    CLOSING = "closing"  # EXIT received or connection ended: nothing more is processed


@dataclass(frozen=True, slots=True)
class _Rule:
    """How one command word is handled: which states accept it and what its argument needs."""

    states: frozenset[State]
    wrong_state: ErrorCode | None
    needs_argument: bool


_BOTH: Final = frozenset({State.CONNECTED, State.REGISTERED})

ALLOWED: Final[dict[str, _Rule]] = {
    # word:  accepted in,                     error in other states,         argument required
    "NAME": _Rule(frozenset({State.CONNECTED}), ErrorCode.ALREADY_REGISTERED, True),
    "MSG": _Rule(frozenset({State.REGISTERED}), ErrorCode.NOT_REGISTERED, True),
    "WHO": _Rule(_BOTH, None, False),
    "PING": _Rule(_BOTH, None, False),
    "EXIT": _Rule(_BOTH, None, False),
}
"""The life cycle in one table (CMD-3: the state is checked before the argument)."""


@dataclass(frozen=True, slots=True)
class Reject:
    """A client line the server must answer with ``ERR code`` (and otherwise ignore)."""

    code: ErrorCode
    detail: str

    @property
    def reply(self) -> Error:
        return Error.explained(self.code)


@dataclass(frozen=True, slots=True)
class Closed:
    """The peer ended the stream (or EXIT was processed): there is nothing more to read."""


_BLOCK_CONTROL: Final = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")
"""Controls MSG text may not hold (MSG-2), in UTF-8 bytes; LF is the line separator and CR
is sent down the slow path. In valid UTF-8, C2 80..C2 9F is exactly U+0080..U+009F."""


def _split(line: str) -> tuple[str, str | None]:
    """FRAME-11: the word is up to the first space, the argument all after it, verbatim."""
    word, space, argument = line.partition(" ")
    return word, argument if space else None


def _decode(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


class ServerConnection:
    """The server's side of one linechat/1 connection, without any I/O.

    Feed received bytes to ``receive_data`` (``b""`` at end of stream) and call
    ``next_event()`` until it returns None. It returns a command to carry out, a ``Reject`` to
    answer with ``reject.reply``, or ``Closed`` once, when the stream has ended or EXIT was
    processed. Call ``registered(name)`` when the server has accepted a ``Name``.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._framer = LineFramer(max_line)
        self._max_line = max_line
        self.state = State.CONNECTED
        self.name: str | None = None
        self._closed_reported = False

    def receive_data(self, data: bytes) -> None:
        self._framer.feed(data)

    def registered(self, name: str) -> None:
        if self.state is not State.CONNECTED:
            raise ProtocolError(f"cannot register in state {self.state.value}")
        _check_name(name)
        self.state = State.REGISTERED
        self.name = name

    def events(self) -> Iterator[Command | MsgRun | Reject | Closed]:
        """Every event that the data received so far yields."""
        while (event := self.next_event()) is not None:
            yield event

    def next_event(self) -> Command | MsgRun | Reject | Closed | None:
        while self.state is not State.CLOSING:
            if self.state is State.REGISTERED and (run := self._msg_run()) is not None:
                return run
            line = self._framer.next_line()
            if line is None:
                if self._framer.eof:
                    self.state = State.CLOSING
                    break
                return None
            if isinstance(line, Overlong):
                return Reject(ErrorCode.LINE_TOO_LONG, f"line over {self._max_line} bytes")
            if line:  # FRAME-7: an empty line is ignored
                event = self._parse(line)
                if isinstance(event, Exit):
                    self.state = State.CLOSING  # EXIT-3: nothing after EXIT is processed
                return event
        if self._closed_reported:
            return None
        self._closed_reported = True
        return Closed()

    def _msg_run(self) -> MsgRun | None:
        """The fast path: all buffered complete lines at once, if they are all valid MSGs
        (upper-case word, LF only, text valid and short enough to relay). Anything else
        returns None and goes line by line, so errors are found and answered exactly."""
        block = self._framer.complete_lines()
        if block is None:
            return None
        count = block.count(b"\n")
        if (
            not block.startswith(b"MSG ")
            or block.count(b"\nMSG ") != count - 1
            or block.startswith(b"MSG \n")
            or b"\nMSG \n" in block
            or _BLOCK_CONTROL.search(block)
        ):
            return None
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return None
        assert self.name is not None
        prefix = b"MSG " + self.name.encode() + b" "
        grow = len(prefix) - len(b"MSG ")  # what relaying adds to each line
        if len(block) + grow > self._max_line:  # else no relayed line can be too long
            longest = max(map(len, block.split(b"\n")))  # without its LF
            if longest + 1 + grow > self._max_line:  # MSG-5
                return None
        self._framer.skip(len(block))
        return MsgRun(prefix + block[4:].replace(b"\nMSG ", b"\n" + prefix), count)

    def _parse(self, raw: bytes) -> Command | Reject:
        line = _decode(raw)
        if line is None:
            return Reject(ErrorCode.BAD_ENCODING, "line is not valid UTF-8")
        word, argument = _split(line)
        key = word.upper() if word.isascii() else word  # FRAME-10, ASCII case only
        rule = ALLOWED.get(key)
        if rule is None:
            return Reject(ErrorCode.UNKNOWN_COMMAND, f"unknown command {word[:40]!r}")
        if self.state not in rule.states:
            assert rule.wrong_state is not None
            return Reject(rule.wrong_state, f"{key} in state {self.state.value}")
        if rule.needs_argument and not argument:
            return Reject(ErrorCode.SYNTAX, f"{key} needs an argument")
        return self._command(key, argument or "")

    def _command(self, word: str, argument: str) -> Command | Reject:
        if word == "NAME":
            if not valid_name(argument):
                return Reject(ErrorCode.NAME_INVALID, f"invalid name {argument[:40]!r}")
            return Name(argument)
        if word == "MSG":
            problem = text_problem(argument)
            if problem:
                return Reject(ErrorCode.TEXT_INVALID, problem)
            assert self.name is not None
            relayed = len(f"MSG {self.name} {argument}\n".encode())
            if relayed > self._max_line:  # MSG-5: the relayed line must fit too
                return Reject(ErrorCode.LINE_TOO_LONG, f"relayed line would be {relayed} bytes")
            return Msg(argument)
        if word == "PING":
            problem = text_problem(argument) if argument else None
            if problem:  # PING-3: never echo a control character
                return Reject(ErrorCode.TEXT_INVALID, f"token: {problem}")
            return Ping(argument or None)
        return Who() if word == "WHO" else Exit()


# ---------------------------------------------------------------------------------------------
# The client's side

_REASONS: Final = {r.value: r for r in LeaveReason}
_CODES: Final = {c.value: c for c in ErrorCode}


def parse_server_line(line: str) -> ServerEvent:
    """Parse one line a server sent (without its LF). Raises ProtocolError if it is not valid."""
    word, rest = _split(line)
    try:
        match word, rest:
            case "HELLO", str(rest) if rest == PROTOCOL or rest.startswith(PROTOCOL + " "):
                return Hello(_split(rest)[1])
            case "WELCOME", str(name):
                return Welcome(name)
            case "JOIN", str(name):
                return Join(name)
            case "LEAVE", str(rest) if rest.count(" ") == 1:
                name, reason = rest.split(" ")
                if reason in _REASONS:
                    return Leave(name, _REASONS[reason])
            case "MSG", str(rest) if " " in rest:
                sender, text = rest.split(" ", 1)
                return Relay(sender, text)
            case "USER", str(name):
                return User(name)
            case "END", str(rest) if rest.startswith("WHO ") and rest[4:].isdigit():
                return EndWho(int(rest[4:]))
            case ("PONG" | "BYE") as word, rest:
                return Pong(rest) if word == "PONG" else Bye(rest)
            case "ERR", str(rest):
                code, explanation = _split(rest)
                if code in _CODES:
                    return Error(_CODES[code], explanation)
    except ProtocolError as exc:
        raise ProtocolError(f"malformed server line {line!r}: {exc}") from None
    raise ProtocolError(f"malformed server line {line!r}")


class ClientConnection:
    """The client's side of one linechat/1 connection, without any I/O.

    ``receive_data`` takes what the server sent (``b""`` at end of stream); ``next_event()``
    returns the next ``ServerEvent``, ``Closed`` once at the end, or None when more data is
    needed. A line that is not valid linechat/1 raises ProtocolError from ``next_event`` (the
    line is consumed, so a lenient client can go on). ``encode(command)`` gives the bytes to
    write.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._framer = LineFramer(max_line)
        self._closed_reported = False

    def receive_data(self, data: bytes) -> None:
        self._framer.feed(data)

    def next_event(self) -> ServerEvent | Closed | None:
        while True:
            line = self._framer.next_line()
            if line is None:
                if self._framer.eof and not self._closed_reported:
                    self._closed_reported = True
                    return Closed()
                return None
            if isinstance(line, Overlong):
                raise ProtocolError(f"server sent a line over {MAX_LINE} bytes")
            if not line:
                continue
            text = _decode(line)
            if text is None:
                raise ProtocolError(f"server sent invalid UTF-8: {line[:60]!r}")
            return parse_server_line(text)

    def events(self) -> Iterator[ServerEvent | Closed]:
        while (event := self.next_event()) is not None:
            yield event
