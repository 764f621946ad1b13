"""LOAD: many clients at once, and clients that stop reading.

These checks move a lot of data, so they use the bulk links of ``_bulk`` and count bytes
instead of reading line by line. A client that "stops reading" connects with a small receive
buffer, so that what is sent to it piles up in the server, not in the checker's kernel.
"""

from __future__ import annotations

import selectors
import time

from chat_conform.checks._bulk import Crowd, Link, line_starting, show_bytes
from chat_conform.loadscenarios import allow_open_files
from chat_conform.registry import check
from chat_conform.session import Chat
from chat_conform.wire import NOTE, SENT

CONNECT_WAVE = 100  # connections opened before their HELLOs are awaited (listen backlogs: 128)
FILE_MARGIN = 100  # files the checker process has open besides the crowd's sockets
DELIVERY_BOUND_SECONDS = 2.0  # LOAD-3: the longest a receiver may wait because of a slow reader
# A client that does not read gets a small receive buffer, so that what is sent to it piles up
# in the server rather than in the checker's kernel. For a flood it is the smallest possible;
# a client that reads later needs a little more (a 2 KB window makes TCP crawl).
FLOOD_RECEIVE_BUFFER = 1024  # the kernel raises it to its minimum (Linux: 2304 bytes)
SMALL_RECEIVE_BUFFER = 4096  # the kernel doubles it
# A flood must fill every buffer between the server and a client that does not read before
# it shows anything: the kernel lets a socket's send buffer grow to 4 MB by default (Linux).
FLOOD_BYTES = 8 << 20
FLOOR_BYTES = 64 * 1024  # LOAD-4: a server may not drop a client with less output unsent
FLOOD_TEXT_BYTES = 3900  # each flood message is one line of about 4 KB
BELOW_FLOOR_MESSAGES = 15  # 15 relayed lines of 4000 bytes: 60 000 bytes, below the floor
BELOW_FLOOR_TEXT_BYTES = 3990
FLOOD_BATCH = 16  # messages built at a time
FLOOD_WINDOW_BYTES = 32 * 1024  # at most this much of a flood is on its way at any time
FLOOD_TICK_SECONDS = 0.05  # how often the flood loop looks at the clock when nothing happens
MAX_FLOOD_SECONDS = 120.0
MAX_FLOOD_STEPS = 10_000_000


# The capacity checks fill the server: on a shared server (--connect) they would push the
# checks running beside them into ERR server-full, so they need a server of their own.
@check("load.hundred-clients", "LOAD-1", needs_own_server=True)
def test_hundred_clients(chat: Chat) -> None:
    """100 clients connect and register together (no `ERR server-full`); one MSG reaches 99."""
    _crowd_broadcast(chat, 100)


@check("load.thousand-clients", "LOAD-2", needs_own_server=True)
def test_thousand_clients(chat: Chat) -> None:
    """1000 clients connect and register together; one MSG reaches the 999 others."""
    allow_open_files(1000 + FILE_MARGIN)
    _crowd_broadcast(chat, 1000)


@check("load.slow-reader-does-not-stall", "LOAD-3")
def test_slow_reader_does_not_stall(chat: Chat) -> None:
    """While carol reads nothing, alice sends bob 8 MB; bob never waits 2 s, and gets it all.

    The flood ends early when the server drops carol (LOAD-4): she no longer holds anyone up.
    """
    with Crowd(chat) as crowd:
        alice, bob, carol = _open_with_non_reader(crowd, FLOOD_RECEIVE_BUFFER)
        flood = Flood(alice, bob, stop_at=f"LEAVE {carol.name} ".encode())
        flood.run(FLOOD_BYTES, stall_limit=DELIVERY_BOUND_SECONDS)
        flood.expect_all_delivered()
        bob.record(
            NOTE,
            f"got all {flood.sent} messages; waited at most {flood.longest_wait:.2f} s for more",
        )


@check("load.below-floor-not-dropped", "LOAD-4")
def test_below_floor_not_dropped(chat: Chat) -> None:
    """A client that reads nothing while 60 000 bytes are queued to it is not dropped.

    LOAD-4 lets a server drop a client that does not read only above a limit of at least
    64 KiB. carol reads nothing until alice's 15 messages of 4000 bytes are all queued to her
    (60 000 bytes, 60 330 with the longest names of --connect); then she reads them all, and
    nobody hears `LEAVE carol kicked`.
    """
    with Crowd(chat) as crowd:
        alice, bob, carol = _open_with_non_reader(crowd, SMALL_RECEIVE_BUFFER)
        texts = [
            f"{number:02d} " + "ж" * ((BELOW_FLOOR_TEXT_BYTES - 3) // 2)
            for number in range(BELOW_FLOOR_MESSAGES)
        ]
        alice.send_lines([f"MSG {text}" for text in texts])
        crowd.sync([alice])  # all 15 are processed: queued to carol, who does not read
        expected = [f"MSG {alice.name} {text}".encode() for text in texts]
        received = crowd.collect([bob, carol])
        for link in (bob, carol):
            _expect_lines(link, received[link], expected)
        received = crowd.collect([alice, bob])
        for link in (alice, bob):
            _expect_lines(link, received[link], [])  # no LEAVE: carol was not dropped


@check("load.kick-announced", "LOAD-4", "LEAVE-4", server_options={"max_output": FLOOR_BYTES})
def test_kick_announced(chat: Chat) -> None:
    """A server that drops a client that reads nothing announces `LEAVE <name> kicked`.

    The server is started with its output limit at 64 KiB ({max_output}); alice sends bob up
    to 8 MB while carol reads nothing. Dropping carol is allowed (LOAD-4); if the server does,
    bob and alice must get exactly `LEAVE carol kicked`. (That carol's connection then ends is
    not checked: with her tiny receive window, draining what the kernel holds takes minutes.)
    """
    with Crowd(chat) as crowd:
        alice, bob, carol = _open_with_non_reader(crowd, FLOOD_RECEIVE_BUFFER)
        departure = f"LEAVE {carol.name} ".encode()
        flood = Flood(alice, bob, stop_at=departure)
        flood.run(FLOOD_BYTES, stall_limit=chat.timeout)
        if flood.stop_line is None:
            bob.record(NOTE, f"no LEAVE for carol after {flood.sent} messages: not dropped")
            return
        kicked = f"LEAVE {carol.name} kicked".encode()
        _expect_kicked(bob, flood.stop_line, kicked)
        crowd.read_until(
            [alice],
            lambda link: link.line_starting(departure) is not None,
            expecting=show_bytes(kicked),
        )
        _expect_kicked(alice, alice.line_starting(departure), kicked)


# -- many clients --------------------------------------------------------------------------


def _crowd_broadcast(chat: Chat, count: int) -> None:
    """``count`` clients connect (in waves) and register; the first one's MSG reaches all."""
    with Crowd(chat) as crowd:
        links: list[Link] = []
        for start in range(0, count, CONNECT_WAVE):
            wave = [
                crowd.connect(f"load{number}", recorded=number < 3 or number == count - 1)
                for number in range(start, min(count, start + CONNECT_WAVE))
            ]
            crowd.greet(wave)  # a server at its limit answers ERR server-full instead
            links += wave
        chat.transcript.record("checker", NOTE, f"{count} connections greeted")
        crowd.register(links)
        chat.transcript.record("checker", NOTE, f"{count} clients registered")
        sender, receivers = links[0], links[1:]
        text = f"hello to {len(receivers)} others"
        sender.send_lines([f"MSG {text}"])
        relayed = f"MSG {sender.name} {text}".encode()
        crowd.read_until(
            receivers, lambda link: link.has_line(relayed), expecting=show_bytes(relayed)
        )
        chat.transcript.record("checker", NOTE, f"all {len(receivers)} others got the MSG")


# -- floods -------------------------------------------------------------------------------


def _open_with_non_reader(crowd: Crowd, receive_buffer: int) -> list[Link]:
    """alice, bob and carol, registered; carol reads nothing from then on."""
    links = crowd.settle(
        [
            crowd.connect("alice"),
            crowd.connect("bob"),
            crowd.connect("carol", receive_buffer=receive_buffer),
        ]
    )
    links[2].record(NOTE, "reads nothing from now on")
    return links


class Flood:
    """``sender`` sends numbered messages of about 4 KB while ``receiver`` reads them all.

    Only whole lines count: ``delivered`` is the number of the sender's messages among the
    complete lines the receiver has. With ``stop_at``, the flood stops sending once the
    receiver gets a line starting with those bytes, kept in ``stop_line``.
    """

    def __init__(self, sender: Link, receiver: Link, *, stop_at: bytes | None = None) -> None:
        self.sender = sender
        self.receiver = receiver
        self.stop_at = stop_at
        self.stop_line: bytes | None = None
        self.sent = 0  # whole messages handed to the sender's kernel
        self.delivered = 0
        self.longest_wait = 0.0  # the longest the receiver waited with messages outstanding
        self._prefix = f"MSG {sender.name} ".encode()
        self._line_size = len(self._message(0))
        self._sent_bytes = 0
        self._outgoing = memoryview(b"")
        self._parsed = len(receiver.received)  # bytes of the receiver already counted

    def _message(self, number: int) -> bytes:
        return f"MSG {number:07d} ".encode() + b"x" * (FLOOD_TEXT_BYTES - 8) + b"\n"

    def run(self, budget: int, *, stall_limit: float) -> None:
        """Send up to ``budget`` bytes, and read until every message sent has arrived.

        At most ``FLOOD_WINDOW_BYTES`` are on their way at any time, so the receiver's unsent
        output stays below the 64 KiB a server must allow. Fails when the receiver gets
        nothing for ``stall_limit`` seconds while messages it has not received are on their way.
        """
        total = budget // self._line_size
        self.sender.record(SENT, f"(up to {total} messages of {self._line_size} bytes)")
        started = last_progress = time.monotonic()
        with selectors.DefaultSelector() as selector:
            selector.register(self.receiver.sock, selectors.EVENT_READ)
            writing = False
            for _ in range(MAX_FLOOD_STEPS):
                more = self._has_more(total)
                if not more and self.delivered == self.sent:
                    return
                if (more and self._room() > 0) != writing:
                    writing = not writing
                    if writing:
                        selector.register(self.sender.sock, selectors.EVENT_WRITE)
                    else:
                        selector.unregister(self.sender.sock)
                now = time.monotonic()
                if self._sent_bytes == self.delivered * self._line_size:
                    last_progress = now  # nothing on its way: the receiver is not waiting
                waited = now - last_progress
                self.longest_wait = max(self.longest_wait, waited)
                if waited > stall_limit:
                    self._fail_stalled(stall_limit)
                if now - started > MAX_FLOOD_SECONDS:
                    self.receiver.fail(f"the flood did not end within {MAX_FLOOD_SECONDS:g} s")
                for key, _ in selector.select(min(FLOOD_TICK_SECONDS, stall_limit - waited)):
                    if key.fileobj is self.sender.sock:
                        self._send_more(total)
                    elif self._receive():
                        last_progress = time.monotonic()
        self.receiver.fail(f"the flood did not end within {MAX_FLOOD_STEPS} steps")

    def _has_more(self, total: int) -> bool:
        """Whether there is more to send: none once stopped, but a started line is finished."""
        if self.stop_line is not None:
            self._outgoing = self._outgoing[: -self._sent_bytes % self._line_size]
            return bool(self._outgoing)
        return bool(self._outgoing) or self.sent < total

    def _room(self) -> int:
        """How many more bytes may be on their way to the receiver now."""
        return FLOOD_WINDOW_BYTES - (self._sent_bytes - self.delivered * self._line_size)

    def _send_more(self, total: int) -> None:
        if not self._outgoing:
            first = self.sent
            count = min(FLOOD_BATCH, total - first)
            self._outgoing = memoryview(b"".join(self._message(first + n) for n in range(count)))
        taken = self.sender.try_send(self._outgoing[: self._room()])
        self._outgoing = self._outgoing[taken:]
        self._sent_bytes += taken
        self.sent = self._sent_bytes // self._line_size

    def _receive(self) -> bool:
        """Take the receiver's input and count the new complete lines; False if none came."""
        if not self.receiver.receive():
            if self.receiver.ended is not None:
                self.receiver.fail(f"expected the flood's messages, but {self.receiver.ended}")
            return False
        received = self.receiver.received
        end = received.rfind(b"\n") + 1
        if end > self._parsed:
            chunk = bytes(received[self._parsed : end])  # whole lines only
            self._parsed = end
            self.delivered += chunk.count(b"\n" + self._prefix) + chunk.startswith(self._prefix)
            if self.stop_at is not None and self.stop_line is None:
                self.stop_line = line_starting(chunk, self.stop_at)
        return True

    def _fail_stalled(self, stall_limit: float) -> None:
        if self._numbers() != list(range(self.delivered)):  # lost or reordered, not late
            self.expect_all_delivered()
        self.receiver.fail(
            f"received nothing for {stall_limit:g} s while {self.sent - self.delivered} of "
            f"{self.sender.label}'s messages were on their way ({self.delivered} of "
            f"{self.sent} received); a client that does not read must not hold up the others"
        )

    def expect_all_delivered(self) -> None:
        """The receiver got every message sent, each once, in the order sent."""
        numbers = self._numbers()
        if numbers != list(range(self.sent)):
            wrong = next(
                (index for index, number in enumerate(numbers) if number != index), len(numbers)
            )
            self.receiver.fail(
                f"received {len(numbers)} of {self.sent} messages; message {wrong} is missing "
                "or out of place"
            )

    def _numbers(self) -> list[int]:
        """The numbers of the sender's messages the receiver got, in order (-1: mangled)."""
        start = len(self._prefix)
        fields = [
            line[start : start + 7]
            for line in bytes(self.receiver.received).split(b"\n")
            if line.startswith(self._prefix)
        ]
        return [int(field) if field.isdigit() else -1 for field in fields]


def _expect_kicked(link: Link, line: bytes | None, kicked: bytes) -> None:
    if line != kicked:
        got = "nothing" if line is None else show_bytes(line)
        link.fail(f"expected {show_bytes(kicked)} for the dropped non-reader, got {got}")


def _expect_lines(link: Link, lines: list[bytes], expected: list[bytes]) -> None:
    """``lines`` (what came before a PONG) must be exactly ``expected``, in order."""
    for index, line in enumerate(lines):
        if index >= len(expected) or line != expected[index]:
            wanted = show_bytes(expected[index]) if index < len(expected) else "nothing more"
            link.fail(f"expected {wanted}, got {show_bytes(line)}")
    if len(lines) < len(expected):
        link.fail(f"expected {show_bytes(expected[len(lines)])}, but the PONG came first")
