"""Server-side findings: the Python tracebacks a server printed on its stderr.

A chat server often survives a bug with one thread fewer: the thread of a client that reset
its connection dies with a ``ConnectionResetError``, Python prints the traceback, and every
check may still pass. The author needs to see that, so the launcher feeds every stderr line
of the server to a :class:`TracebackScanner`, and every check reports the tracebacks its
server printed, whatever its verdict.

The scanner reads the format CPython prints (``traceback.print_exception``, the threading
excepthook, ``logging.exception``)::

    Exception in thread Thread-3 (handle_client):       <- optional header
    Traceback (most recent call last):
      File "/home/student/server.py", line 31, in handle_client
        data = conn.recv(1024)
    ConnectionResetError: [Errno 104] Connection reset by peer

It keeps the exception type and message, and the frame "it came from": the last frame in
the server's own code (not in Python's library), with its source line. Identical findings
(same exception at the same line) are counted, not repeated, and at most
``MAX_FINDINGS`` distinct ones are kept, so memory stays bounded whatever the server prints.
For a chained exception ("During handling of the above exception...") the last one counts.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Any

MAX_FINDINGS = 20
MAX_TRACEBACK_LINES = 60  # kept of the first occurrence, for the details
MAX_FRAMES = 200  # a RecursionError prints ~1000 frames; the last ones are what matters
MAX_OPEN = 8  # tracebacks read at the same time (threads that died at the same moment)

_TRACEBACK = "Traceback (most recent call last):"
_THREAD_HEADER = re.compile(r"Exception in thread (.+?):?$")
_IGNORED_HEADER = re.compile(r"Exception ignored in: (.+)$")
_CHAINED = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
_FRAME = re.compile(r'  File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<function>.+))?$')
_EXCEPTION = re.compile(r"(?P<type>[A-Za-z_][\w.]*)(?::(?: (?P<message>.*))?)?$")
_CARETS = re.compile(r"\s*[\^~]+\s*$")
_LIBRARY = re.compile(r"[/\\]lib[/\\]python\d|[/\\]Lib[/\\]|^<frozen ")


@dataclass(frozen=True)
class Frame:
    file: str
    line: int
    function: str
    source: str = ""

    @property
    def in_library(self) -> bool:
        """Whether the frame is in Python's own library or an installed package."""
        return bool(_LIBRARY.search(self.file))


@dataclass(frozen=True)
class ServerFinding:
    """One kind of traceback the server printed (``count`` times)."""

    exception: str  # e.g. "ConnectionResetError"
    message: str  # e.g. "[Errno 104] Connection reset by peer"
    file: str  # of the frame it came from
    line: int
    function: str
    source: str  # that frame's source line, as Python printed it
    thread: str = ""  # from "Exception in thread NAME:", if there was one
    count: int = 1
    traceback: tuple[str, ...] = field(default_factory=tuple)  # the first one, as printed

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.exception, self.file, self.line)

    def summary(self) -> str:
        """One line: what, where, which thread, how often."""
        what = f"{self.exception}: {self.message}" if self.message else self.exception
        where = f"{_base_name(self.file)}, line {self.line}"
        if self.function:
            where += f", in {self.function}"
        if not self.line:  # its frames went to another traceback printed at the same moment
            where = "an unknown place (printed mixed with another traceback)"
        text = f"{what} at {where}"
        if self.source:
            text += f": {self.source}"
        if self.thread:
            text += f" [thread {self.thread}]"
        if self.count > 1:
            text += f" (x{self.count})"
        return text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["traceback"] = list(self.traceback)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerFinding:
        return cls(**{**data, "traceback": tuple(data.get("traceback", ()))})


def _base_name(path: str) -> str:
    return re.split(r"[/\\]", path)[-1]


@dataclass
class _Partial:
    """A traceback being read: its lines so far, its frames, the thread it belongs to."""

    thread: str
    lines: list[str] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)

    def add_line(self, line: str) -> None:
        if len(self.lines) < MAX_TRACEBACK_LINES:
            self.lines.append(line)

    def add_frame(self, frame: Frame) -> None:
        self.frames.append(frame)
        del self.frames[:-MAX_FRAMES]

    def add_source(self, line: str) -> None:
        """The first 4-space-indented line after a frame is its source (carets are not)."""
        is_source = line.startswith("    ") and not _CARETS.fullmatch(line)
        if self.frames and not self.frames[-1].source and is_source:
            self.frames[-1] = replace(self.frames[-1], source=line.strip())


class TracebackScanner:
    """Reads a stream of stderr lines and keeps the tracebacks in them (thread-safe).

    Threads that die at the same moment print their tracebacks line by line into the same
    stderr, interleaved. Rather than losing them, the scanner keeps every traceback still
    being read (at most MAX_OPEN): frame lines go to the newest, an exception line
    completes the newest. The frames of interleaved tracebacks may then be mixed up, but
    none of them is lost, and a traceback printed alone is read exactly.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: dict[tuple[str, str, int], ServerFinding] = {}
        self._dropped = 0  # occurrences of distinct findings beyond MAX_FINDINGS
        self._thread = ""  # from a header seen just before a traceback
        self._open: list[_Partial] = []  # tracebacks being read, newest last
        self._last: ServerFinding | None = None  # for "During handling ..." chains
        self._chained = False

    def feed(self, line: str) -> None:
        """One line of stderr, without its line ending."""
        with self._lock:
            self._feed(line.rstrip("\r\n"))

    def findings(self) -> list[ServerFinding]:
        with self._lock:
            return list(self._found.values())

    @property
    def dropped(self) -> int:
        with self._lock:
            return self._dropped

    def _feed(self, line: str) -> None:
        if line == _TRACEBACK:
            self._open.append(_Partial(self._thread, [line]))
            del self._open[:-MAX_OPEN]
            self._thread = ""
            return
        header = _THREAD_HEADER.fullmatch(line) or _IGNORED_HEADER.fullmatch(line)
        if header is not None:
            self._thread = header.group(1) if line.startswith("Exception in thread") else ""
            return
        if self._open:
            self._traceback_line(self._open[-1], line)
            return
        if line in _CHAINED:
            self._chained = self._last is not None
        elif line.strip():
            self._chained = False

    def _traceback_line(self, partial: _Partial, line: str) -> None:
        frame = _FRAME.match(line)
        if frame is not None:
            partial.add_line(line)
            partial.add_frame(Frame(frame["file"], int(frame["line"]), frame["function"] or ""))
        elif line.startswith(" ") or not line:
            partial.add_line(line)
            partial.add_source(line)
        elif (exception := _EXCEPTION.match(line)) is not None:
            partial.add_line(line)
            self._open.pop()
            self._record(partial, exception["type"], exception["message"] or "")
        # any other line is another thread's output, printed in the middle: not ours

    def _record(self, partial: _Partial, exception: str, message: str) -> None:
        own = [frame for frame in partial.frames if not frame.in_library]
        origin = (own or partial.frames or [Frame("?", 0, "")])[-1]
        finding = ServerFinding(
            exception=exception,
            message=message,
            file=origin.file,
            line=origin.line,
            function=origin.function,
            source=origin.source,
            thread=partial.thread,
            traceback=tuple(partial.lines),
        )
        if self._chained and self._last is not None:
            self._forget(self._last)  # a chain counts once: as its last exception
            finding = replace(finding, thread=finding.thread or self._last.thread)
        self._add(finding)
        self._last = finding
        self._chained = False

    def _add(self, finding: ServerFinding) -> None:
        known = self._found.get(finding.key)
        if known is not None:
            self._found[finding.key] = replace(known, count=known.count + 1)
        elif len(self._found) < MAX_FINDINGS:
            self._found[finding.key] = finding
        else:
            self._dropped += 1

    def _forget(self, finding: ServerFinding) -> None:
        known = self._found.get(finding.key)
        if known is None:
            self._dropped = max(0, self._dropped - 1)
        elif known.count > 1:
            self._found[finding.key] = replace(known, count=known.count - 1)
        else:
            del self._found[finding.key]
