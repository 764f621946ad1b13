"""``Room``: what a dialect check receives as its ``room`` fixture.

A dialect has no PING and maybe no framing, so a dialect check cannot read line by line and
synchronise on a PONG the way a linechat check does. Its clients are non-blocking sockets
read through one selector: whatever arrives on any of them is appended to that client's
byte stream (and to the transcript, one event per read), and every wait is "until this
condition holds on the streams", bounded by the check's timeout. Sending never blocks
either: a server that stops reading from a client cannot stall the checker.

Negative observations ("the sender did not get its own message back") need a bounded quiet
period instead of a PING: see :meth:`Room.settle`.
"""

from __future__ import annotations

import contextlib
import random
import re
import selectors
import socket
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from chat_conform.dialect import Dialect, Pattern
from chat_conform.integrity import (
    END,
    MARKER_BYTES,
    START,
    Delivery,
    Payload,
    PayloadMaker,
    StreamIndex,
    classify,
)
from chat_conform.launcher import ServerProcess
from chat_conform.wire import NOTE, RECEIVED, SENT, CheckFailure, Transcript, escape, shorten

RECV_BYTES = 1 << 16
MAX_PUMP_ROUNDS = 10_000_000  # selector rounds per wait: a bound besides the clock
MAX_SETTLE_FACTOR = 20  # settle() gives up after this many quiet periods of steady traffic
MAX_SHOWN_DELIVERIES = 6
SHOWN_TAIL_BYTES = 160
SHOWN_SENT_BYTES = 120
TEARDOWN_SECONDS = 1.0  # how long a check's end waits for the server to close connections


class StreamClient:
    """One connection of a dialect check; everything it received is one byte stream."""

    def __init__(self, sock: socket.socket, label: str, name: str, *, recorded: bool) -> None:
        self.sock = sock
        self.label = label
        self.name = name  # the name it registers with ("" in a dialect without names)
        self.recorded = recorded  # whether its traffic goes into the transcript
        self.stream = bytearray()
        self.cursor = 0  # registration consumed the stream up to here
        self.pending = bytearray()  # accepted by send() and not yet taken by the kernel
        self.reading = True
        self.ended: str | None = None  # why nothing more can arrive
        self.keys_seen: set[str] = set()  # payload keys whose end marker has arrived
        self.arrivals: list[str] = []  # the same, in order of arrival
        self.starts_seen: set[str] = set()  # payload keys whose start marker has arrived
        self._scanned = 0

    def absorb(self, data: bytes) -> None:
        """Append received bytes and note every payload that began or arrived complete."""
        self.stream += data
        start = max(0, self._scanned - MARKER_BYTES)
        for match in END.finditer(self.stream, start):
            key = match.group(1).decode("ascii")
            if key not in self.keys_seen:
                self.keys_seen.add(key)
                self.arrivals.append(key)
        starts = START.finditer(self.stream, start)
        self.starts_seen.update(match.group(1).decode("ascii") for match in starts)
        self._scanned = len(self.stream)

    def text_since(self, offset: int, dialect: Dialect) -> str:
        return dialect.decode(bytes(self.stream[offset:]))

    def tail(self) -> str:
        """The last bytes received, escaped, for failure messages."""
        if not self.stream:
            return "nothing"
        shown = escape(bytes(self.stream[-SHOWN_TAIL_BYTES:]))
        more = "…" if len(self.stream) > SHOWN_TAIL_BYTES else ""
        return f'{len(self.stream)} bytes, ending "{more}{shown}"'


class Awaited:
    """The payload keys each client still waits for, updated from its new arrivals only
    (a wait over hundreds of clients and payloads stays cheap)."""

    def __init__(self) -> None:
        self._clients: dict[int, StreamClient] = {}
        self._keys: dict[int, set[str]] = {}
        self._counted: dict[int, int] = {}

    def add(self, client: StreamClient, keys: Iterable[str]) -> None:
        self._clients[id(client)] = client
        self._keys.setdefault(id(client), set()).update(keys)
        self._counted.setdefault(id(client), 0)

    def missing(self) -> list[StreamClient]:
        """The clients still waiting for a payload whose connection has not ended."""
        waiting = []
        for key, client in self._clients.items():
            self._keys[key].difference_update(client.arrivals[self._counted[key] :])
            self._counted[key] = len(client.arrivals)
            if self._keys[key] and client.ended is None:
                waiting.append(client)
        return waiting

    def cut_off(self) -> StreamClient | None:
        """A client still waiting whose connection has ended."""
        return next(
            (c for k, c in self._clients.items() if self._keys[k] and c.ended is not None), None
        )


@dataclass(frozen=True)
class Talk:
    """One talker's part of :meth:`Room.exchange`: what it says, and who must get it."""

    talker: StreamClient
    listeners: Sequence[StreamClient]
    payloads: Sequence[Payload]

    def may_send(self, index: int, window: int) -> bool:
        """Whether payload ``index`` may go out: ``window`` earlier ones have arrived."""
        if index < window:
            return True
        previous = self.payloads[index - window].key
        return any(previous in listener.keys_seen for listener in self.listeners)

    def arrived_at(self, listener: StreamClient) -> int:
        return sum(payload.key in listener.keys_seen for payload in self.payloads)


class Room:
    """A dialect check's handle on the server under test (always a fresh server of its own)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        dialect: Dialect,
        timeout: float,
        quiet_period: float,
        seed: str,
        server: ServerProcess | None,
    ) -> None:
        self.host = host
        self.port = port
        self.dialect = dialect
        self.timeout = timeout
        self.quiet_period = quiet_period
        self.server = server
        self.transcript = Transcript(None if server is None else server.started)
        self.rng = random.Random(seed)  # payloads and names: reproducible with --seed
        self.payloads = PayloadMaker(self.rng, dialect)
        self.clients: list[StreamClient] = []
        self._selector = selectors.DefaultSelector()

    # -- connecting and registering ------------------------------------------------------

    def connect(
        self, label: str, *, recorded: bool = True, receive_buffer: int | None = None
    ) -> StreamClient:
        """A new connection that has read nothing yet.

        ``receive_buffer`` sets SO_RCVBUF before connecting (a small one makes a client
        that does not read fill its buffers soon); ``recorded=False`` keeps its traffic out of
        the transcript (for checks with hundreds of clients).
        """
        if recorded:
            self.transcript.record(label, NOTE, f"connects to {self.host}:{self.port}")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(self.timeout)
        try:
            sock.connect((self.host, self.port))
        except OSError as error:
            sock.close()
            self.fail(f"{label}: cannot connect: {error.strerror or error}")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        client = StreamClient(sock, self._unique(label), label, recorded=recorded)
        self.clients.append(client)
        self._selector.register(sock, selectors.EVENT_READ, client)
        return client

    def register(self, client: StreamClient, name: str | None = None) -> None:
        """Run the profile's registration steps for ``client``; fail if a step times out."""
        problem = self.try_register(client, name, within=self.timeout)
        if problem is not None:
            self.fail(problem)

    def try_register(self, client: StreamClient, name: str | None, *, within: float) -> str | None:
        """Run the registration steps; what went wrong if an expected reply never came."""
        if name is not None:
            client.name = name
        for number, step in enumerate(self.dialect.register, start=1):
            if step.send is not None:
                text = step.send.render(name=client.name) + step.terminator
                self.send(client, self.dialect.encode(text))
                continue
            assert step.expect is not None
            if not self.expect_match(client, step.expect, within=within):
                return (
                    f"{client.label}: registration step {number} ({step.describe()}): nothing "
                    f"matching arrived within {within:g} s; received {client.tail()}"
                )
        return None

    def expect_match(self, client: StreamClient, pattern: Pattern, *, within: float) -> bool:
        """Wait until the unconsumed stream matches ``pattern``; consume up to the match."""
        regex = pattern.compile(name=client.name)
        found: list[re.Match[str]] = []

        def matched() -> bool:
            match = regex.search(client.text_since(client.cursor, self.dialect))
            if match is not None:
                found.append(match)
            return match is not None

        if not self.wait_until(matched, within=within):
            return False
        consumed = found[-1].string[: found[-1].end()]
        client.cursor += len(consumed.encode(self.dialect.encoding, errors="surrogateescape"))
        return True

    def join(
        self,
        *labels: str,
        members: Sequence[StreamClient] = (),
        recorded: bool = True,
        receive_buffer: int | None = None,
    ) -> list[StreamClient]:
        """Connect and register one client per label, in order; then prove they are all in.

        The proof: the last newcomer says something and every other client (the newcomers and
        ``members``) receives it. A relay has no handshake, and a server may send its welcome
        before it adds the client to its list: without this, a message sent at once could
        miss a client the server has not added yet, and the check would blame the wrong thing.
        """
        newcomers = []
        for label in labels:
            client = self.connect(label, recorded=recorded, receive_buffer=receive_buffer)
            self.register(client)
            newcomers.append(client)
        everyone = [*members, *newcomers]
        if len(everyone) > 1:
            last = newcomers[-1]
            probe = self.payloads.make(last.label, last.name, size=40)
            self.say(last, probe)
            others = [client for client in everyone if client is not last]
            missing = self.wait_delivered([probe], others)
            if missing:
                self.fail(
                    f"{last.label}'s first message never reached "
                    f"{', '.join(c.label for c in missing)} within {self.timeout:g} s, so the "
                    "server does not relay between these clients at all"
                )
        return newcomers

    # -- sending and leaving -------------------------------------------------------------

    def send(self, client: StreamClient, data: bytes, *, shown: str | None = None) -> None:
        """Queue ``data`` and write what the kernel takes now; the rest goes out while
        waiting. Never blocks (a server that stops reading cannot stall the checker).
        ``shown`` is what the transcript says (default: the bytes, escaped and shortened)."""
        if client.recorded:
            if shown is None:
                shown = escape(data[:SHOWN_SENT_BYTES])
                if len(data) > SHOWN_SENT_BYTES:
                    shown += f"… ({len(data)} bytes in all)"
            self.transcript.record(client.label, SENT, shorten(shown))
        client.pending += data
        self._flush(client)

    def say(self, client: StreamClient, payload: Payload) -> None:
        """Send ``payload`` as a message (the profile's message template and terminator)."""
        self.send(client, self.dialect.message_bytes(payload.text))

    def say_exit(self, client: StreamClient) -> None:
        """Send the profile's exit word (and terminator)."""
        assert self.dialect.exit is not None
        text = self.dialect.exit.render() + self.dialect.send_terminator
        self.send(client, self.dialect.encode(text))

    def close(self, client: StreamClient) -> None:
        """Close normally (FIN). What has arrived is read first: closing a socket that holds
        unread data would send a reset instead."""
        if client.ended is None and client.reading:
            self._receive(client)
        self._note(client, "closes the connection (FIN)")
        self._drop(client, "this client closed the connection")

    def reset(self, client: StreamClient) -> None:
        """Abort the connection with a TCP reset (RST)."""
        self._note(client, "resets the connection (RST)")
        with contextlib.suppress(OSError):
            linger = struct.pack("ii", 1, 0)
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        self._drop(client, "this client reset the connection")

    def stop_reading(self, client: StreamClient) -> None:
        """From now on nothing is read from ``client``: its buffers fill up."""
        self._note(client, "stops reading")
        client.reading = False
        self._watch(client)

    def close_all(self) -> None:
        """Close every connection still open (the check is over), politely.

        Closing a socket that holds unread data sends a reset, and a server's thread may die
        of it: a traceback the check did not cause. So every client first half-closes
        (FIN), then reads whatever still comes until the server closes too or for at most
        TEARDOWN_SECONDS, and only then closes.
        """
        still_open = [client for client in self.clients if client.ended is None]
        if still_open:
            self.note("the check is over: every client half-closes and reads what is left")
        for client in still_open:
            client.pending.clear()
            client.reading = True
            with contextlib.suppress(OSError):
                client.sock.shutdown(socket.SHUT_WR)
            self._watch(client)
        self.wait_until(
            lambda: all(client.ended is not None for client in still_open),
            within=TEARDOWN_SECONDS,
        )
        for client in still_open:
            self._drop(client, "the check is over")
        self._selector.close()

    # -- waiting -------------------------------------------------------------------------

    def wait_until(self, condition: Callable[[], bool], *, within: float) -> bool:
        """Read and write until ``condition()`` holds; False if ``within`` seconds passed."""
        deadline = time.monotonic() + within
        for _ in range(MAX_PUMP_ROUNDS):
            if condition():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._selector.get_map():  # or nothing can change
                return False
            self.pump(remaining)
        return condition()

    def pump(self, timeout: float) -> int:
        """One selector round (at most ``timeout`` seconds); the number of bytes received."""
        received = 0
        for key, mask in self._selector.select(timeout):
            client: StreamClient = key.data
            if mask & selectors.EVENT_WRITE:
                self._flush(client)
            if mask & selectors.EVENT_READ:
                received += self._receive(client)
        return received

    def settle(self) -> None:
        """Wait until no client has received anything for the quiet period.

        Why: without a PING the only evidence that "nothing more is coming" (no echo to the
        sender, no second copy, no notice about oneself) is a stretch of silence. Everything a
        check waits for positively has already arrived when this is used, and whatever a
        server sends as a consequence of the same event (an echo, a duplicate) leaves it
        together with what did arrive, so a fraction of a second on loopback is ample. A
        quiet period that is too short can only miss such a bug, never invent one. Bounded:
        after MAX_SETTLE_FACTOR periods of steady traffic it stops waiting.
        """
        started = last_traffic = time.monotonic()
        limit = self.quiet_period * MAX_SETTLE_FACTOR
        for _ in range(MAX_PUMP_ROUNDS):
            now = time.monotonic()
            if now - last_traffic >= self.quiet_period or now - started >= limit:
                return
            if not self._selector.get_map():
                return  # no connection left to receive anything
            if self.pump(self.quiet_period - (now - last_traffic)):
                last_traffic = time.monotonic()

    def wait_delivered(
        self, payloads: Sequence[Payload], receivers: Sequence[StreamClient]
    ) -> list[StreamClient]:
        """Wait until every receiver has every payload's end (or its connection ended);
        the receivers still missing one when the timeout expired."""
        awaited = Awaited()
        for receiver in receivers:
            awaited.add(receiver, (p.key for p in payloads if p.sender != receiver.label))
        self.wait_until(lambda: not awaited.missing(), within=self.timeout)
        return awaited.missing()

    def exchange(self, plan: Sequence[Talk], *, window: int) -> None:
        """Every talker sends its payloads in order until each of its listeners has them all.

        A talker keeps at most ``window`` payloads ahead of the first listener to receive
        them (``window=1`` for a profile without a terminator: a message goes out only once
        the server has read the previous one). Fails when a listener's connection ends, or
        when for the check's timeout nobody receives anything. Arrival only: judge the
        content afterwards with :meth:`judge` where it matters.
        """
        sent = [0] * len(plan)
        awaited = Awaited()
        for talk in plan:
            for listener in talk.listeners:
                awaited.add(listener, (p.key for p in talk.payloads))
        last_progress = time.monotonic()
        for _ in range(MAX_PUMP_ROUNDS):
            for number, talk in enumerate(plan):
                while sent[number] < len(talk.payloads) and talk.may_send(sent[number], window):
                    self.say(talk.talker, talk.payloads[sent[number]])
                    sent[number] += 1
            if not awaited.missing():
                return
            cut_off = awaited.cut_off()
            if cut_off is not None:
                self.fail(f"{cut_off.label} was cut off while reading: {cut_off.ended}")
            if self.pump(self.timeout):
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress >= self.timeout:
                self.fail(self._stalled(plan, sent))
        self.fail("the exchange never ended")

    def _stalled(self, plan: Sequence[Talk], sent: Sequence[int]) -> str:
        lines = []
        for talk, count in zip(plan, sent, strict=True):
            total = len(talk.payloads)
            got = ", ".join(
                f"{listener.label} has {talk.arrived_at(listener)}" for listener in talk.listeners
            )
            lines.append(f"  {talk.talker.label} sent {count} of {total} messages; {got}")
        return f"nothing arrived for {self.timeout:g} s:\n" + "\n".join(lines)

    # -- judging -------------------------------------------------------------------------

    def deliver(
        self,
        sender: StreamClient,
        payload: Payload,
        to: Sequence[StreamClient],
        *,
        context: str = "",
    ) -> None:
        """``sender`` says ``payload``; every client in ``to`` must get it intact."""
        self.say(sender, payload)
        self.expect_delivered([payload], to, context=context)

    def expect_delivered(
        self,
        payloads: Sequence[Payload],
        receivers: Sequence[StreamClient],
        *,
        context: str = "",
    ) -> list[Delivery]:
        """Wait for the payloads at the receivers; fail unless every delivery is intact.
        ``context`` starts the failure message (what the check had done before)."""
        self.wait_delivered(payloads, receivers)
        deliveries = self.judge(payloads, receivers)
        self.fail_unless_intact(deliveries, context=context)
        return deliveries

    def judge(
        self,
        payloads: Iterable[Payload],
        receivers: Iterable[StreamClient],
        *,
        exclude_own: bool = True,
    ) -> list[Delivery]:
        """The verdict on each payload at each receiver (not at its own sender)."""
        payloads = list(payloads)
        deliveries = []
        for receiver in receivers:
            index = StreamIndex(bytes(receiver.stream), self.dialect)
            for payload in payloads:
                if exclude_own and payload.sender == receiver.label:
                    continue
                deliveries.append(classify(index, payload, receiver.label))
        return deliveries

    def fail_unless_intact(self, deliveries: Sequence[Delivery], *, context: str = "") -> None:
        bad = [delivery for delivery in deliveries if delivery.verdict != "intact"]
        if not bad:
            return
        lines = [delivery.describe() for delivery in bad[:MAX_SHOWN_DELIVERIES]]
        if len(bad) > MAX_SHOWN_DELIVERIES:
            lines.append(f"... and {len(bad) - MAX_SHOWN_DELIVERIES} more")
        ended = {d.receiver for d in bad if d.verdict == "lost"} & self._ended_labels()
        for label in sorted(ended):
            lines.append(f"({label}'s connection had ended: {self._client(label).ended})")
        head = f"{len(bad)} of {len(deliveries)} deliveries were not intact"
        if context:
            head = f"{context}: {head}"
        self.fail(f"{head}:\n" + "\n".join(f"  {line}" for line in lines))

    def expect_no_echo(self, payloads: Sequence[Payload]) -> None:
        """After :meth:`settle`, no payload's sender may have received any of it back."""
        self.settle()
        for payload in payloads:
            sender = self._client(payload.sender)
            if payload.start.encode() in sender.stream or payload.end.encode() in sender.stream:
                self.fail(
                    f"{sender.label} received its own message {payload.key} back: {sender.tail()}"
                )

    def expect_notice(
        self,
        kind: str,
        pattern: Pattern,
        about: StreamClient,
        receivers: Sequence[StreamClient],
        since: dict[str, int],
    ) -> None:
        """Every receiver gets data matching ``pattern`` for ``about``'s name, after the
        stream offset ``since[receiver.label]``."""
        regex = pattern.compile(name=about.name)

        def lacking() -> list[StreamClient]:
            return [
                r
                for r in receivers
                if not regex.search(r.text_since(since.get(r.label, 0), self.dialect))
            ]

        self.wait_until(lambda: not lacking(), within=self.timeout)
        for receiver in lacking():
            got = escape(bytes(receiver.stream[since.get(receiver.label, 0) :]))
            self.fail(
                f"{receiver.label} got no {kind} notice for {about.name} within "
                f"{self.timeout:g} s (the profile's pattern: /{pattern.source}/); it received "
                f'"{shorten(got, 300)}"'
            )

    def offsets(self, clients: Iterable[StreamClient]) -> dict[str, int]:
        """Where each client's stream ends now (for "what arrived since")."""
        return {client.label: len(client.stream) for client in clients}

    def fail(self, what: str) -> NoReturn:
        """Raise a CheckFailure, with the server's state if it has exited."""
        note = "" if self.server is None else self.server.exit_note()
        raise CheckFailure(what + (f" ({note})" if note else ""))

    def note(self, text: str) -> None:
        self.transcript.record("check", NOTE, text)

    # -- the selector loop ---------------------------------------------------------------

    def _receive(self, client: StreamClient) -> int:
        taken = 0
        for _ in range(64):  # then let the other clients have their turn
            try:
                data = client.sock.recv(RECV_BYTES)
            except BlockingIOError:
                break
            except OSError as error:
                self._end(client, f"the connection failed ({error.strerror or error})")
                break
            if not data:
                self._end(client, "the server closed the connection")
                break
            client.absorb(data)
            taken += len(data)
            if client.recorded:
                self.transcript.record(client.label, RECEIVED, shorten(escape(data)))
        return taken

    def _flush(self, client: StreamClient) -> None:
        if client.pending and client.ended is None:
            try:
                sent = client.sock.send(client.pending)
            except BlockingIOError:
                sent = 0
            except OSError as error:
                self._end(client, f"could not send ({error.strerror or error})")
                return
            del client.pending[:sent]
        self._watch(client)

    def _watch(self, client: StreamClient) -> None:
        """Select on what this client is waiting for: reading, writing, both or nothing."""
        events = (selectors.EVENT_READ if client.reading else 0) | (
            selectors.EVENT_WRITE if client.pending else 0
        )
        if client.sock.fileno() < 0:
            return
        registered = client.sock in self._selector.get_map()
        if client.ended is not None or not events:
            if registered:
                self._selector.unregister(client.sock)
        elif registered:
            self._selector.modify(client.sock, events, client)
        else:
            self._selector.register(client.sock, events, client)

    def _end(self, client: StreamClient, why: str) -> None:
        if client.ended is None:
            client.ended = why
            self._note(client, why)
            self._watch(client)

    def _drop(self, client: StreamClient, why: str) -> None:
        if client.ended is None:
            client.ended = why
            self._watch(client)
        client.pending.clear()
        client.sock.close()

    def _note(self, client: StreamClient, text: str) -> None:
        if client.recorded:
            self.transcript.record(client.label, NOTE, text)

    def _unique(self, label: str) -> str:
        used = {client.label for client in self.clients}
        shown = label
        for number in range(2, len(used) + 3):
            if shown not in used:
                break
            shown = f"{label}#{number}"
        return shown

    def _ended_labels(self) -> set[str]:
        return {client.label for client in self.clients if client.ended is not None}

    def _client(self, label: str) -> StreamClient:
        return next(client for client in self.clients if client.label == label)
