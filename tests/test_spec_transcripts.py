"""Replay every ```transcript block of SPEC.md against the reference server.

The transcripts are the examples implementers copy from; if one of them disagrees with the
reference server, either the specification or the server is wrong, and this test says which
line. The notation is defined in SPEC.md section 1.1. The rule index is checked here too, so
that the bold rule sentences and the index table cannot drift apart.
"""

from __future__ import annotations

import re
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from linechat.server import running_server

SPEC_PATH = Path(__file__).resolve().parents[1] / "SPEC.md"
WAIT_SECONDS = 5.0
MAX_LINE_BYTES = 1 << 20  # far above the protocol's 4096: only guards the reader's memory
FREE_TEXT_MARK = " …"

ENTRY = re.compile(r"(?P<side>[CS])(?P<client>[1-9]?):(?: (?P<rest>.*))?")
ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|[rt\\])")
NAMED_ESCAPES = {"r": b"\r", "t": b"\t", "\\": b"\\"}
BOLD_RULE_ID = re.compile(r"\*\*([A-Z]+-[0-9]+)\*\*")
INDEX_HEADING = re.compile(r"## +\d+\. +Rule index")
INDEX_ROW = re.compile(r"\|\s*([A-Z]+-[0-9]+)\s*\|\s*([A-Za-z]+)\s*\|")

Action = Literal["send", "close", "reset", "expect", "expect-closed"]


@dataclass(frozen=True)
class TranscriptBlock:
    """One ```transcript block: its ordinal, the SPEC.md line of its fence, its lines."""

    ordinal: int
    fence_line: int
    lines: tuple[tuple[int, str], ...]  # (SPEC.md line number, text)

    @property
    def test_id(self) -> str:
        return f"transcript-{self.ordinal:02d}-line-{self.fence_line}"


@dataclass(frozen=True)
class Entry:
    """One step of a transcript, e.g. client 2 sends bytes or expects a line."""

    spec_line: int
    source: str
    client: int
    action: Action
    payload: bytes = b""
    free_text_allowed: bool = False

    def where(self) -> str:
        return f"SPEC.md line {self.spec_line}: {self.source!r}"


def read_spec_lines() -> list[str]:
    return SPEC_PATH.read_text(encoding="utf-8").splitlines()


def extract_transcript_blocks(spec_lines: list[str]) -> list[TranscriptBlock]:
    """Find every fenced block whose info string is exactly `transcript`."""
    blocks: list[TranscriptBlock] = []
    current: list[tuple[int, str]] | None = None
    fence_line = 0
    for number, text in enumerate(spec_lines, start=1):
        if current is None:
            if text.strip() == "```transcript":
                current, fence_line = [], number
        elif text.strip() == "```":
            blocks.append(TranscriptBlock(len(blocks) + 1, fence_line, tuple(current)))
            current = None
        else:
            current.append((number, text))
    assert current is None, f"SPEC.md line {fence_line}: transcript block is never closed"
    return blocks


def decode_escapes(text: str, spec_line: int) -> bytes:
    r"""Turn transcript text into wire bytes: UTF-8, plus only \r \t \\ \xHH."""
    out = bytearray()
    position = 0
    for match in ESCAPE.finditer(text):
        out += literal_bytes(text[position : match.start()], spec_line)
        code = match.group(1)
        out += NAMED_ESCAPES.get(code) or bytes([int(code[1:], 16)])
        position = match.end()
    out += literal_bytes(text[position:], spec_line)
    return bytes(out)


def literal_bytes(text: str, spec_line: int) -> bytes:
    assert "\\" not in text, f"SPEC.md line {spec_line}: unknown escape in {text!r}"
    return text.encode("utf-8")


def parse_entry(spec_line: int, text: str) -> Entry | None:
    """Parse one transcript line; None for blank and comment lines."""
    if not text.strip() or text.startswith("#"):
        return None
    match = ENTRY.fullmatch(text)
    assert match, f"SPEC.md line {spec_line}: not a transcript entry: {text!r}"
    client = int(match["client"] or "1")
    rest = match["rest"] or ""

    def entry(action: Action, payload: bytes = b"", free_text_allowed: bool = False) -> Entry:
        return Entry(spec_line, text, client, action, payload, free_text_allowed)

    if match["side"] == "C":
        if rest in ("[close]", "[reset]"):
            return entry("close" if rest == "[close]" else "reset")
        return entry("send", decode_escapes(rest, spec_line) + b"\n")
    if rest == "[closed]":
        return entry("expect-closed")
    if rest.endswith(FREE_TEXT_MARK):
        prefix = rest.removesuffix(FREE_TEXT_MARK)
        return entry("expect", decode_escapes(prefix, spec_line), free_text_allowed=True)
    return entry("expect", decode_escapes(rest, spec_line))


def parse_block(block: TranscriptBlock) -> list[Entry]:
    entries = [parse_entry(number, text) for number, text in block.lines]
    return [entry for entry in entries if entry is not None]


def line_matches(entry: Entry, received: bytes) -> bool:
    """Exact match, or for a ` …` entry: the prefix alone or followed by a space and text."""
    if not entry.free_text_allowed:
        return received == entry.payload
    return received == entry.payload or received.startswith(entry.payload + b" ")


@dataclass
class Peer:
    """One client connection with its own LF line reader."""

    number: int
    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    can_send: bool = True
    server_closed: bool = False
    aborted: bool = False

    def send(self, data: bytes, entry: Entry) -> None:
        assert self.can_send, f"{entry.where()}: client {self.number} can no longer send"
        self.sock.sendall(data)

    def read_line(self, context: str) -> bytes | None:
        """Next line without its LF, or None when the server closed (EOF or reset)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while b"\n" not in self.buffer:
            assert len(self.buffer) <= MAX_LINE_BYTES, f"{context}: runaway line"
            chunk = self._receive(deadline, context)
            if not chunk:
                assert not self.buffer, f"{context}: connection ended after {bytes(self.buffer)!r}"
                return None
            self.buffer += chunk
        line, _, rest = bytes(self.buffer).partition(b"\n")
        self.buffer = bytearray(rest)
        return line

    def _receive(self, deadline: float, context: str) -> bytes:
        """One recv bounded by the deadline; b"" when the server closed or reset."""
        try:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            return self.sock.recv(65536)
        except ConnectionResetError:
            return b""
        except TimeoutError:
            pytest.fail(f"{context}: no complete line within {WAIT_SECONDS} s")

    def close_write(self) -> None:
        """[close]: send FIN but keep reading, so unread data never turns it into a RST."""
        self.sock.shutdown(socket.SHUT_WR)
        self.can_send = False

    def reset(self) -> None:
        """[reset]: SO_LINGER with timeout 0 makes close() send RST."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
        self.can_send = False
        self.aborted = True


class Replay:
    """Runs the entries of one transcript against one server."""

    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self.peers: dict[int, Peer] = {}

    def peer(self, entry: Entry) -> Peer:
        """The entry's client, connecting it at its first appearance."""
        if entry.client not in self.peers:
            sock = socket.create_connection(self.address, timeout=WAIT_SECONDS)
            self.peers[entry.client] = Peer(entry.client, sock)
        peer = self.peers[entry.client]
        assert not peer.aborted, f"{entry.where()}: client {entry.client} was reset"
        assert not peer.server_closed, f"{entry.where()}: the server closed this client"
        return peer

    def run(self, entry: Entry) -> None:
        peer = self.peer(entry)
        if entry.action == "send":
            peer.send(entry.payload, entry)
        elif entry.action == "close":
            peer.close_write()
        elif entry.action == "reset":
            peer.reset()
        elif entry.action == "expect-closed":
            received = peer.read_line(entry.where())
            assert received is None, f"{entry.where()}: expected close, got {received!r}"
            peer.server_closed = True
        else:
            received = peer.read_line(entry.where())
            assert received is not None, f"{entry.where()}: connection closed instead"
            assert line_matches(entry, received), f"{entry.where()}: got {received!r}"

    def check_nothing_unexpected(self) -> None:
        """Prove that no client has an unexpected line left, now or still on its way.

        A half-closed client must see just the close. Open clients pass a PING barrier twice:
        after round one every line any client sent has been processed, so whatever it made the
        server send to another client is queued before that client's round-two PONG.
        """
        connected = [p for p in self.peers.values() if not (p.aborted or p.server_closed)]
        for peer in connected:
            if not peer.can_send:
                context = f"end of transcript, half-closed client {peer.number}"
                received = peer.read_line(context)
                assert received is None, f"{context}: unexpected {received!r} before the close"
        talking = [peer for peer in connected if peer.can_send]
        for barrier_round in (1, 2):
            for peer in talking:
                peer.sock.sendall(b"PING transcript-end-%d\n" % peer.number)
            for peer in talking:
                context = f"end of transcript (round {barrier_round}), client {peer.number}"
                received = peer.read_line(context)
                expected = b"PONG transcript-end-%d" % peer.number
                assert received == expected, f"{context}: unexpected {received!r}"

    def close_all(self) -> None:
        for peer in self.peers.values():
            peer.sock.close()


def index_rows(spec_lines: list[str]) -> list[tuple[str, str]]:
    """(ID, level) rows of the table under the "Rule index" heading."""
    rows: list[tuple[str, str]] = []
    in_index = False
    for text in spec_lines:
        if text.startswith("## "):
            in_index = bool(INDEX_HEADING.match(text))
        elif in_index and (row := INDEX_ROW.match(text)):
            rows.append((row[1], row[2]))
    return rows


SPEC_LINES = read_spec_lines()
BLOCKS = extract_transcript_blocks(SPEC_LINES)


@pytest.mark.parametrize("block", BLOCKS, ids=[block.test_id for block in BLOCKS])
def test_transcript_replays_against_reference(block: TranscriptBlock) -> None:
    entries = parse_block(block)
    assert entries, f"SPEC.md line {block.fence_line}: empty transcript"
    with running_server() as server:
        replay = Replay(server.host, server.port)
        try:
            for entry in entries:
                replay.run(entry)
            replay.check_nothing_unexpected()
        finally:
            replay.close_all()


def test_spec_has_enough_transcripts() -> None:
    assert len(BLOCKS) >= 10


def test_bold_rule_ids_are_unique_and_match_the_index() -> None:
    bold_ids = Counter(BOLD_RULE_ID.findall("\n".join(SPEC_LINES)))
    rows = index_rows(SPEC_LINES)
    index_ids = Counter(rule_id for rule_id, _ in rows)
    assert rows, "no rule index table found"
    assert [i for i, n in bold_ids.items() if n > 1] == [], "rule stated twice"
    assert [i for i, n in index_ids.items() if n > 1] == [], "rule listed twice in index"
    levels = {level for _, level in rows}
    assert levels <= {"MUST", "SHOULD", "MAY", "retired"}, f"unknown levels {levels}"
    active = {rule_id for rule_id, level in rows if level != "retired"}
    assert set(bold_ids) == active


def test_index_levels_match_the_rule_sentences() -> None:
    """A SHOULD or MAY rule says so right after its ID; a MUST rule does not."""
    spec = "\n".join(SPEC_LINES)
    for rule_id, level in index_rows(SPEC_LINES):
        if level == "retired":
            continue
        marked = f"**{rule_id}** ({level})" in spec
        assert marked == (level in ("SHOULD", "MAY")), f"{rule_id}: level {level} marking"


def test_line_matches_free_text_only_after_a_space() -> None:
    entry = parse_entry(1, "S: ERR name-taken …")
    assert entry is not None
    assert line_matches(entry, b"ERR name-taken")
    assert line_matches(entry, b"ERR name-taken that name is in use")
    assert not line_matches(entry, b"ERR name-takenX")


def test_escapes_decode_to_raw_bytes() -> None:
    expected = b"a\r\t\\\xff\n\xd0\x96"  # Ж is D0 96 in UTF-8
    assert decode_escapes(r"a\r\t\\\xff\x0aЖ", 1) == expected
    with pytest.raises(AssertionError, match="unknown escape"):
        decode_escapes(r"a\nb", 1)
