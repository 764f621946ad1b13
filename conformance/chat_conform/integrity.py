"""Payloads with unique markers, and what became of each one in a receiver's byte stream.

A dialect has no framing chat-conform can rely on, so a receiver's data is one byte stream
and read boundaries mean nothing: TCP may coalesce or cut reads anywhere, and a client that
reads with ``recv(1024)`` has to cope with that. What chat-conform judges is the content of
the stream, which only the server decides. Every payload is
``{key:`` + body + ``:key}``, ``key`` unique in the check, the body drawn from letters that
spell none of the words join and leave patterns look for. For each payload and receiver:

intact
    The payload's bytes arrive contiguous and exactly as sent, in the profile's message form
    (``[receive] message``, e.g. ``alice: <text>``), and where the profile names a
    ``[receive] terminator``, with that terminator right before (or the stream's start)
    and right after it.
glued
    The bytes are contiguous and exact but directly attached to another payload without
    the form or terminator that should separate them (``alice: <one><two>``; or, for a relay,
    a line that has part of another client's line in front of it): a reader that splits
    messages as the profile says cannot tell the two apart.
split
    All the payload's bytes arrive, in order, but with foreign bytes inside it: the server
    forwarded it in pieces (``alice: <first 1 KB>alice: <next 1 KB>``: the name prefix
    repeated; or another client's bytes in the middle of a line).
corrupted
    Bytes are changed or missing (a truncated payload, a replacement character, a Cyrillic
    letter cut in two), or the text arrived but not in the profile's message form.
duplicated
    The payload arrived more than once.
lost
    None of it arrived within the timeout.

What is a server bug and what is transport behaviour: read boundaries are never judged.
Gluing and splitting are only ever seen as content (a repeated prefix, foreign bytes inside
a payload, a missing separator), which TCP cannot produce. For a profile whose clients send
without a terminator, a message is delimited by time only; the checks then send a message
only once the previous one has been delivered, so that the server reads each one apart
(loopback carries a send() of up to 64 KiB as one segment): a payload the server splits or
glues is then the server's doing.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from chat_conform.dialect import Dialect, Pattern
from chat_conform.wire import escape, shorten

Verdict = Literal["intact", "glued", "split", "corrupted", "duplicated", "lost"]
VERDICTS: tuple[Verdict, ...] = ("intact", "glued", "split", "corrupted", "duplicated", "lost")

# Letters that spell no join/leave word of the built-in profiles (no vowels, no l, n, r, t...).
ASCII_BODY = "bfghjkmpqvwxyz0123456789"
CYRILLIC_BODY = "бгджзфхцчщэюя"
KEY_LETTERS = "bfghjkmpqvwxz"
_KEY = rb"[a-z]{3}[0-9]{5}"
START = re.compile(rb"\{(" + _KEY + rb"):")
END = re.compile(rb":(" + _KEY + rb")\}")
MARKER_BYTES = len(b"{abc12345:")
ANCHOR_BYTES = 12  # bytes of the expected text that re-synchronise after a foreign piece
FORM_WINDOW = 400  # characters around a payload searched for its message form
SHOWN_PIECES = 3
SHOWN_PIECE_BYTES = 40


@dataclass(frozen=True)
class Payload:
    """One message a check sends: ``text`` carries the unique ``key`` at both ends."""

    key: str
    sender: str  # the sending client's label, for messages
    name: str  # the sender's name in the room ("" in a dialect without names)
    text: str

    @property
    def start(self) -> str:
        return "{" + self.key + ":"

    @property
    def end(self) -> str:
        return ":" + self.key + "}"


class PayloadMaker:
    """Makes the payloads of one check: unique keys, bodies of the wanted size in bytes."""

    def __init__(self, rng: random.Random, dialect: Dialect) -> None:
        self._rng = rng
        self._dialect = dialect
        self._salt = "".join(rng.choices(KEY_LETTERS, k=3))
        self._count = 0

    def make(
        self,
        sender: str,
        name: str,
        *,
        size: int = 60,
        cyrillic: bool = False,
        body: str | None = None,
    ) -> Payload:
        """A payload of ``size`` bytes in the profile's encoding (at least its two markers),
        of random words, or with ``body`` between the markers."""
        self._count += 1
        key = f"{self._salt}{self._count:05d}"
        if body is None:
            alphabet = CYRILLIC_BODY if cyrillic else ASCII_BODY
            body = self._body(alphabet, max(0, size - 2 * MARKER_BYTES))
        return Payload(key, sender, name, "{" + key + ":" + body + ":" + key + "}")

    def make_unspaced_cyrillic(self, sender: str, name: str, *, size: int) -> Payload:
        """A Cyrillic payload without spaces, one ASCII byte before the letters: every even
        byte offset falls inside a two-byte letter, so a server that reads 1024 (or any
        even number of) bytes at a time cuts a letter in two."""
        letters = (size - 2 * MARKER_BYTES - 1) // 2
        body = "0" + "".join(self._rng.choices(CYRILLIC_BODY, k=letters))
        return self.make(sender, name, body=body)

    def _body(self, alphabet: str, budget: int) -> str:
        """Random words of 3 to 9 letters, one space apart, exactly ``budget`` bytes long
        (bytes a two-byte script cannot fill are the digit 0)."""
        width = len(self._dialect.encode(alphabet[0]))
        letters = self._rng.choices(alphabet, k=budget // width + 1)
        lengths = self._rng.choices(range(3, 10), k=budget // 3 + 1)
        words: list[str] = []
        used = start = 0
        for length in lengths:
            take = min(length, (budget - used) // width)
            if take <= 0:
                break
            words.append("".join(letters[start : start + take]))
            start, used = start + take, used + take * width
            if used + 1 + width > budget:
                break
            used += 1  # the space before the next word
        text = " ".join(words)
        return text + "0" * (budget - len(self._dialect.encode(text)))


@dataclass(frozen=True)
class Delivery:
    """What became of one payload at one receiver."""

    payload: Payload
    receiver: str
    verdict: Verdict
    detail: str = ""

    def describe(self) -> str:
        sender = self.payload.sender
        what = f"{self.receiver} got {sender}'s {self.payload.key}"
        if self.verdict == "lost":
            what = f"{self.receiver} never got {sender}'s {self.payload.key}"
        elif self.verdict != "intact":
            what += f" {self.verdict}"
        return what + (f": {self.detail}" if self.detail else "")


@dataclass
class StreamIndex:
    """Where every payload marker occurs in one receiver's stream."""

    stream: bytes
    dialect: Dialect
    starts: dict[str, list[int]] = field(default_factory=dict)
    ends: dict[str, list[int]] = field(default_factory=dict)  # offsets just past the marker
    _text: str | None = None
    _ascii: bool | None = None

    def __post_init__(self) -> None:
        for match in START.finditer(self.stream):
            self.starts.setdefault(match.group(1).decode("ascii"), []).append(match.start())
        for match in END.finditer(self.stream):
            self.ends.setdefault(match.group(1).decode("ascii"), []).append(match.end())

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self.dialect.decode(self.stream)
        return self._text

    def char_offset(self, byte_offset: int) -> int:
        """The position in :attr:`text` of a byte offset that starts an ASCII marker."""
        if self._ascii is None:
            self._ascii = self.stream.isascii()
        if self._ascii:
            return byte_offset
        return len(self.dialect.decode(self.stream[:byte_offset]))

    def key_ending_at(self, offset: int) -> str | None:
        match = END.search(self.stream, max(0, offset - MARKER_BYTES), offset)
        return match.group(1).decode("ascii") if match and match.end() == offset else None

    def key_starting_at(self, offset: int) -> str | None:
        match = START.match(self.stream, offset)
        return match.group(1).decode("ascii") if match else None


def classify(index: StreamIndex, payload: Payload, receiver: str) -> Delivery:
    """The verdict on ``payload`` in the stream of ``receiver`` (see the module docstring)."""
    expected = index.dialect.encode(payload.text)
    starts = index.starts.get(payload.key, [])
    ends = index.ends.get(payload.key, [])

    def verdict(kind: Verdict, detail: str = "") -> Delivery:
        return Delivery(payload, receiver, kind, detail)

    if not starts and not ends:
        return verdict("lost")
    if len(starts) > 1 or len(ends) > 1:
        return verdict("duplicated", f"it arrived {max(len(starts), len(ends))} times")
    if not starts:
        return verdict("corrupted", "its beginning never arrived, only its end")
    if not ends or ends[0] < starts[0]:
        got = index.stream[starts[0] : starts[0] + len(expected)]
        return verdict("corrupted", f"truncated: only {len(got)} of {len(expected)} bytes arrived")
    got = index.stream[starts[0] : ends[0]]
    if got != expected:
        pieces = foreign_pieces(expected, got)
        if pieces is None:
            return verdict("corrupted", _first_difference(expected, got))
        return verdict("split", _describe_pieces(pieces))
    return _judge_form(index, payload, receiver, starts[0], ends[0])


def _judge_form(
    index: StreamIndex, payload: Payload, receiver: str, start: int, end: int
) -> Delivery:
    """An exact payload: is it in the message form, and apart from its neighbours?"""
    dialect = index.dialect
    position = index.char_offset(start)
    regex = _form(dialect.received, payload.name, payload.text)
    low = max(0, position - FORM_WINDOW)
    high = min(len(index.text), position + len(payload.text) + FORM_WINDOW)
    form = next(
        (m for m in regex.finditer(index.text, low, high) if m.start("text") == position), None
    )
    if form is None:
        neighbour = index.key_ending_at(start) or index.key_starting_at(end)
        if neighbour is not None:
            return Delivery(
                payload,
                receiver,
                "glued",
                f"directly attached to {neighbour}: {_context(index, start, end)}",
            )
        return Delivery(
            payload,
            receiver,
            "corrupted",
            f"not in the form /{dialect.received.source}/: {_context(index, start, end)}",
        )
    terminator = dialect.receive_terminator
    if terminator:
        before = form.start() == 0 or index.text.endswith(terminator, 0, form.start())
        after = form.end() == len(index.text) or index.text.startswith(terminator, form.end())
        if not (before and after):
            where = "before" if not before else "after"
            return Delivery(
                payload,
                receiver,
                "glued",
                f"no {escape(terminator.encode())} {where} it: {_context(index, start, end)}",
            )
    return Delivery(payload, receiver, "intact")


@lru_cache(maxsize=1024)
def _form(pattern: Pattern, name: str, text: str) -> re.Pattern[str]:
    """The message form of one payload (compiled once for all its receivers)."""
    return pattern.compile(name=name, text=text)


def foreign_pieces(expected: bytes, got: bytes) -> list[bytes] | None:
    """The foreign byte runs inserted into ``expected`` to give ``got``; None if ``got`` is
    not ``expected`` plus insertions (then bytes were changed or lost: corrupted).

    A run can often be placed at several offsets (``alice: `` inserted after a space is
    also `` alice:``); each is placed where it reads like the other runs, so that a repeated
    prefix is reported as the same piece every time."""
    spans: list[tuple[int, int, int]] = []  # (leftmost start, rightmost start, length)
    i = j = 0
    floor = 0  # a run may not be shifted into the previous one
    for _ in range(len(got) + 1):
        i, j = _common_run(expected, got, i, j)
        if i == len(expected):
            return _place(got, spans) if j == len(got) else None
        if j >= len(got):
            return None
        resume = got.find(expected[i : i + ANCHOR_BYTES], j + 1)
        if resume < 0:
            return None
        start, stop = j, resume
        while start > floor and got[start - 1] == got[stop - 1]:
            start, stop = start - 1, stop - 1
        spans.append((start, j, resume - j))
        floor, j = resume, resume
    return None


def _place(got: bytes, spans: list[tuple[int, int, int]]) -> list[bytes]:
    """Choose each run's offset: the reading most runs share, else the leftmost."""
    readings = [[got[s : s + size] for s in range(low, high + 1)] for low, high, size in spans]
    votes: dict[bytes, int] = {}
    for options in readings:
        for reading in set(options):
            votes[reading] = votes.get(reading, 0) + 1
    return [max(options, key=lambda r: (votes[r], -options.index(r))) for options in readings]


def _common_run(expected: bytes, got: bytes, i: int, j: int) -> tuple[int, int]:
    """Advance ``i`` and ``j`` over the bytes that agree, 64 at a time where possible."""
    while expected[i : i + 64] == got[j : j + 64] and i < len(expected):
        step = min(64, len(expected) - i)
        i, j = i + step, j + step
    while i < len(expected) and j < len(got) and expected[i] == got[j]:
        i, j = i + 1, j + 1
    return i, j


def _show_piece(piece: bytes) -> str:
    shown = escape(piece[:SHOWN_PIECE_BYTES])
    if len(piece) > SHOWN_PIECE_BYTES:
        shown += f"… ({len(piece)} bytes)"
    return f'"{shown}"'


def _describe_pieces(pieces: list[bytes]) -> str:
    distinct = list(dict.fromkeys(pieces))
    if len(distinct) == 1:
        times = "once" if len(pieces) == 1 else f"{len(pieces)} times"
        shown = f"{_show_piece(distinct[0])} inserted {times}"
    else:
        shown = ", ".join(_show_piece(p) for p in distinct[:SHOWN_PIECES])
        if len(distinct) > SHOWN_PIECES:
            shown += ", ..."
        shown = f"foreign bytes inside it: {shown}"
    return f"it arrived in {len(pieces) + 1} pieces, {shown}"


def _first_difference(expected: bytes, got: bytes) -> str:
    same = next(
        (n for n, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b),
        min(len(expected), len(got)),
    )
    sent = shorten(escape(expected[same : same + 24]), 60)
    came = shorten(escape(got[same : same + 24]), 60)
    size = (
        "bytes changed" if len(got) == len(expected) else f"{len(got)} bytes, not {len(expected)}"
    )
    return f'{size}; from byte {same} on, sent "{sent}", got "{came}"'


def _context(index: StreamIndex, start: int, end: int) -> str:
    before = index.stream[max(0, start - 24) : start]
    after = index.stream[end : end + 24]
    return f'"…{escape(before)}[the text]{escape(after)}…"'


def tally(deliveries: Iterable[Delivery]) -> dict[Verdict, int]:
    counts: dict[Verdict, int] = dict.fromkeys(VERDICTS, 0)
    for delivery in deliveries:
        counts[delivery.verdict] += 1
    return counts
