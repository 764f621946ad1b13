"""load.run: S senders send M marked messages each to N registered clients; then the verdicts.

The run (:class:`MessageRun`) offers the messages as fast as the server takes them, or paced
at a total rate on a monotonic schedule (message k is due at start + k/rate; pacing, not
synchronisation). Every message text carries a unique marker ``<nonce:number>``, found
anywhere in a received line, so the numbers do not depend on how the server formats relayed
lines. The end is known without sleeping: each sender's PING follows its last message, and
once every sender has its PONG (the server processed every MSG, ORDER-1), every client sends
a PING; its PONG follows everything queued to it before (ORDER-1 again).

:func:`judge_delivery` then counts, per receiver, lost and duplicated messages (ORDER-2) and
messages that arrived after a later one of the same sender (ORDER-3), and checks that all
receivers saw one common order (ORDER-4). :func:`measure_latency` computes end-to-end latency
percentiles, a latency-over-time series and a histogram.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import operator
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice

from chat_conform.loadclient import Conn, Fleet, Progress, marker
from chat_conform.metrics import Measurements
from chat_conform.wire import CheckFailure

TEXT_BYTES = 48  # bytes of a message text: the marker and filler
LATENCY_SAMPLES = 1_000_000  # at most this many deliveries go into the percentiles
TIME_SLICES = 60  # points of the latency-over-time series
HISTOGRAM_BUCKETS = 24
MAX_EXAMPLES = 3  # examples per kind of fault in a failure message
CLIENT_BOUND_SHARE = 0.7  # a rate above this share of the client's ceiling is client-bound


@dataclass(frozen=True)
class Broken:
    """One broken rule, with the numbers that show it."""

    rule_id: str
    text: str


class LoadFailure(CheckFailure):
    """A load check's failure; ``rule_ids`` are the rules it shows broken.

    The check fails only if one of them is a MUST rule; a broken SHOULD rule alone (ORDER-4,
    LOAD-2) is a warning, as it is for any other check.
    """

    def __init__(self, broken: Sequence[Broken]) -> None:
        super().__init__("\n".join(f"{item.rule_id}: {item.text}" for item in broken))
        self.rule_ids = tuple(dict.fromkeys(item.rule_id for item in broken))


def raise_if_broken(broken: Sequence[Broken]) -> None:
    if broken:
        raise LoadFailure(broken)


@dataclass(frozen=True)
class Plan:
    """Who sends how much: clients 0..senders-1 send ``messages`` messages each."""

    clients: int
    senders: int
    messages: int
    rate: float | None  # messages/s offered in total; None: as fast as the server takes them
    text_bytes: int = TEXT_BYTES  # bytes of each message text, marker included

    @property
    def total(self) -> int:
        return self.senders * self.messages

    @property
    def expected(self) -> int:
        return self.total * (self.clients - 1)

    def sender_of(self, number: int) -> int:
        return number // self.messages


@dataclass
class RunLog:
    """What a message run sent and received, for the verdicts."""

    plan: Plan
    conns: list[Conn]
    send_times: array[float]  # per message number: when it was offered (monotonic seconds)
    started: float
    last_offered: float = 0.0
    finished: float = 0.0  # when the run stopped waiting
    complete: bool = False  # every PONG arrived: nothing more can be on its way
    why_incomplete: str = ""
    excluded: frozenset[int] = frozenset()  # receivers not judged (a slow reader)


class MessageRun:
    """Send the plan's messages on ``conns`` (already registered and quiet) and receive them.

    ``conns`` must be the fleet's first connections, senders first. Connections in ``quiet``
    (a client that reads nothing) get no final PING and are not waited for. With ``window``,
    a sender has at most that many messages on their way to the slowest other (drained)
    receiver, so that no reader's unsent output grows: flow control instead of a flood.
    """

    def __init__(
        self,
        fleet: Fleet,
        conns: list[Conn],
        plan: Plan,
        nonce: str,
        progress: Progress,
        *,
        quiet: Sequence[Conn] = (),
        window: int | None = None,
    ) -> None:
        self.fleet = fleet
        self.conns = conns
        self.drained = [conn for conn in conns if conn not in quiet]
        self.plan = plan
        self.nonce = nonce
        self.progress = progress
        self.width = len(str(max(plan.total - 1, 0)))
        self.send_times = array("d", [0.0]) * plan.total
        self._filler = b" " + b"x" * max(0, plan.text_bytes - len(self._text(0)) - 1)
        self.line_bytes = len(self._line(0))
        self._scheduled = 0  # paced: messages queued so far
        self._started = 0.0
        self._phase = "sending"
        self._base: dict[int, int] = {}  # unpaced: a sender's written bytes before its block
        self._recorded: dict[int, int] = {}  # unpaced: messages whose send time is recorded
        self.window = window
        self._queued = [0] * plan.senders  # windowed: messages queued per sender
        self._seen = [0] * len(conns)  # windowed: ids of each receiver counted so far
        # windowed: per receiver, messages received from each sender
        self._received = [[0] * plan.senders for _ in conns]
        self._sender_of = [number // plan.messages for number in range(plan.total)]

    def _text(self, number: int) -> bytes:
        return marker(self.nonce, number, self.width)

    def _line(self, number: int) -> bytes:
        return b"MSG " + self._text(number) + self._filler + b"\n"

    def run(self, *, stall: float) -> RunLog:
        """Offer every message, then wait for the two rounds of PONGs (bounded by ``stall``)."""
        self.fleet.reset_counts()
        self._started = self.fleet.last_activity = time.monotonic()
        quiet = frozenset(conn.index for conn in self.conns if conn not in self.drained)
        log = RunLog(self.plan, self.conns, self.send_times, self._started, excluded=quiet)
        for conn in self.conns:
            conn.pong_at = None
        if self.plan.rate is None:
            self._send_unpaced()
            log.last_offered = self._started
        finished = self.fleet.pump(self._done, on_tick=self._tick, stall=stall)
        log.finished = time.monotonic()
        self.progress.done()
        if self.plan.rate is not None:
            log.last_offered = self._started + max(0, self.plan.total - 1) / self.plan.rate
        elif self.window is not None:
            log.last_offered = max(self.send_times, default=self._started)
        log.complete = finished
        if not finished:
            log.why_incomplete = self._why_incomplete(stall)
        return log

    # -- sending -------------------------------------------------------------------------------

    def _send_unpaced(self) -> None:
        """Queue every sender's messages (with a window: the first ones); each message is
        timed when the kernel takes it."""
        for sender in self.conns[: self.plan.senders]:
            self._base[sender.index] = sender.written
            self._recorded[sender.index] = 0
            sender.on_written = self._record_written
            self._queue(sender, self.plan.messages if self.window is None else self.window)

    def _queue(self, sender: Conn, upto: int) -> None:
        """Queue ``sender``'s messages up to number ``upto`` (its PING after the last one)."""
        start, end = self._queued[sender.index], min(upto, self.plan.messages)
        if end <= start:
            return
        first = sender.index * self.plan.messages
        block = b"".join(self._line(first + seq) for seq in range(start, end))
        self._queued[sender.index] = end
        if end == self.plan.messages:
            block += self._sender_ping(sender)
        self.fleet.send(sender, block)

    def _open_window(self) -> None:
        """Windowed: let each sender queue up to ``window`` messages past the slowest other
        receiver's count of its messages."""
        assert self.window is not None
        for receiver in self.drained:
            new = receiver.ids[self._seen[receiver.index] :]
            self._seen[receiver.index] += len(new)
            counts = self._received[receiver.index]
            for number, count in Counter(map(self._sender_of.__getitem__, new)).items():
                counts[number] += count
        for sender in self.conns[: self.plan.senders]:
            others = [
                self._received[r.index][sender.index] for r in self.drained if r is not sender
            ]
            self._queue(sender, min(others, default=self.plan.messages) + self.window)

    def _record_written(self, conn: Conn, now: float) -> None:
        done = min(self.plan.messages, (conn.written - self._base[conn.index]) // self.line_bytes)
        before = self._recorded[conn.index]
        if done > before:
            first = conn.index * self.plan.messages
            self.send_times[first + before : first + done] = array("d", [now]) * (done - before)
            self._recorded[conn.index] = done
        if done == self.plan.messages:
            conn.on_written = None

    def _sender_ping(self, sender: Conn) -> bytes:
        token = f"{self.nonce}-sent-{sender.index}"
        sender.awaiting = f"PONG {token}\n".encode()
        sender.pong_at = None
        return f"PING {token}\n".encode()

    def _tick(self, now: float) -> float | None:
        """Each round: queue the messages now due (paced), and show progress."""
        self._show_progress(now)
        if self.window is not None:
            self._open_window()
        rate = self.plan.rate
        if rate is None or self._scheduled >= self.plan.total:
            return None
        due = min(self.plan.total, int((now - self._started) * rate) + 1)
        queued: dict[int, list[bytes]] = {}
        senders, messages = self.plan.senders, self.plan.messages
        for index in range(self._scheduled, due):
            sender, seq = index % senders, index // senders
            number = sender * messages + seq
            self.send_times[number] = self._started + index / rate
            lines = queued.setdefault(sender, [])
            lines.append(self._line(number))
            if seq == messages - 1:
                lines.append(self._sender_ping(self.conns[sender]))
        self._scheduled = due
        for sender, lines in queued.items():
            self.fleet.send(self.conns[sender], b"".join(lines))
        return self._started + due / rate - now

    def _show_progress(self, now: float) -> None:
        elapsed = now - self._started
        delivered = self.fleet.delivered
        rate = delivered / elapsed if elapsed > 0 else 0.0
        share = 100 * delivered / max(1, self.plan.expected)
        self.progress.show(
            f"{delivered:,}/{self.plan.expected:,} deliveries ({share:.0f}%), "
            f"{rate:,.0f}/s, {elapsed:.1f} s ({self._phase})"
        )

    # -- the end ---------------------------------------------------------------------------------

    def _done(self) -> bool:
        """Two rounds of PONGs: the senders' (every MSG processed), then everyone's."""
        if self._phase == "sending":
            senders = self.conns[: self.plan.senders]
            if self._scheduled < self.plan.total and self.plan.rate is not None:
                return False
            if not all(conn.pong_at is not None or conn.ended for conn in senders):
                return False
            self._phase = "draining"
            for conn in self.drained:
                if conn.ended is None:
                    self.fleet.ping(conn, f"{self.nonce}-drained-{conn.index}")
            return False
        return all(conn.pong_at is not None or conn.ended for conn in self.drained)

    def _why_incomplete(self, stall: float) -> str:
        waiting = [conn for conn in self.drained if conn.pong_at is None and not conn.ended]
        what = "the senders' PONGs" if self._phase == "sending" else "the final PONGs"
        return (
            f"gave up waiting for {what} ({len(waiting)} connections without one) after "
            f"nothing arrived for {stall:g} s: what had not arrived by then counts as lost"
        )


# -- verdicts: ORDER-2, ORDER-3, ORDER-4 ---------------------------------------------------------


@dataclass
class Delivery:
    """Delivery faults over all receivers (counts of deliveries, and receivers affected)."""

    expected: int = 0
    delivered: int = 0  # deliveries of valid message numbers, duplicates included
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0  # arrived after a later message of the same sender
    echoed: int = 0  # a sender received its own message (MSG-4)
    receivers_losing: int = 0
    receivers_duplicating: int = 0
    receivers_reordering: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)
    order_conflict: str = ""  # ORDER-4: two receivers that disagree, or ""
    mangled: set[int] = field(default_factory=set)  # receivers that got unknown numbers

    def example(self, kind: str, text: str) -> None:
        shown = self.examples.setdefault(kind, [])
        if len(shown) < MAX_EXAMPLES:
            shown.append(text)


@dataclass
class Received:
    """One receiver's deliveries of valid message numbers (built for one receiver at a time:
    as Python lists they take far more memory than the arrays they come from)."""

    conn: Conn
    ids: list[int]  # in arrival order, duplicates included
    first: list[int]  # first arrivals only
    distinct: set[int]
    mangled: bool  # the server turned some markers into numbers that were never sent

    @classmethod
    def of(cls, conn: Conn, total: int) -> Received:
        ids = conn.ids.tolist()
        distinct = set(ids)
        mangled = bool(distinct) and max(distinct) >= total
        if mangled:
            ids = [number for number in ids if number < total]
            distinct = {number for number in distinct if number < total}
        first = ids if len(distinct) == len(ids) else list(dict.fromkeys(ids))
        return cls(conn, ids, first, distinct, mangled)


def judge_delivery(log: RunLog) -> Delivery:
    """Count lost, duplicated, reordered and echoed deliveries; check the common order.

    The common order is checked against one reference order built from three receivers
    (ORDER-4); per-sender order (ORDER-3) is then checked only where it can be broken: on
    receivers that disagree with the reference, or on all if the reference itself breaks it.
    """
    plan = log.plan
    judged = [conn for conn in log.conns if conn.index not in log.excluded]
    result = Delivery(expected=sum(_expected(plan, conn) for conn in judged))
    order = _reference_order(result, plan, log.conns, log.excluded)
    rank = None if order is None else _ranks(order, plan.total)
    check_all = order is None or _reorders(order, plan)
    for conn in judged:
        receiver = Received.of(conn, plan.total)
        _count(result, plan, receiver, log.conns)
        agrees = True
        if order is not None and rank is not None:
            agrees = _agrees(result, plan, receiver, order, rank, log.conns)
        if check_all or not agrees:
            _judge_sender_order(result, plan, receiver, log.conns)
    return result


def _expected(plan: Plan, conn: Conn) -> int:
    """Every message but the receiver's own (ORDER-2)."""
    return plan.total - (plan.messages if conn.index < plan.senders else 0)


def _count(result: Delivery, plan: Plan, receiver: Received, conns: list[Conn]) -> None:
    """Lost, duplicated and echoed deliveries of one receiver (ORDER-2, MSG-4)."""
    conn, distinct = receiver.conn, receiver.distinct
    if receiver.mangled:
        result.mangled.add(conn.index)
    is_sender = conn.index < plan.senders
    own = range(conn.index * plan.messages, (conn.index + 1) * plan.messages)
    echoed = len(distinct.intersection(own)) if is_sender else 0
    lost = _expected(plan, conn) - (len(distinct) - echoed)
    result.delivered += len(receiver.ids)
    result.echoed += echoed
    if lost:
        result.lost += lost
        result.receivers_losing += 1
        skip = own if is_sender else range(0)
        missing = next(n for n in range(plan.total) if n not in distinct and n not in skip)
        result.example("lost", f"{conn.label} never got {_message(missing, plan, conns)}")
    if len(receiver.ids) > len(distinct):
        result.duplicated += len(receiver.ids) - len(distinct)
        result.receivers_duplicating += 1
        repeated = _first_repeated(receiver.ids)
        result.example("duplicated", f"{conn.label} got {_message(repeated, plan, conns)} twice")


def _first_repeated(ids: Sequence[int]) -> int:
    seen: set[int] = set()
    for number in ids:
        if number in seen:
            return number
        seen.add(number)
    raise ValueError("no repeated message")


def _message(number: int, plan: Plan, conns: list[Conn]) -> str:
    sender = conns[plan.sender_of(number)]
    return f"message {number % plan.messages + 1} of {sender.label}"


def _reference_order(
    result: Delivery, plan: Plan, conns: list[Conn], excluded: frozenset[int]
) -> list[int] | None:
    """One order of all messages that agrees with three receivers, or None if they disagree.

    Receivers that send nothing come first (they got every message). Any two messages come
    from at most two senders, so one of three receivers got both: the reference's order of
    every pair is one a receiver saw, and a receiver that disagrees with it breaks ORDER-4.
    The order is a topological merge of the three receivers' orders.
    """
    listeners = list(range(plan.senders, plan.clients))
    candidates = [i for i in listeners + list(range(plan.senders)) if i not in excluded]
    chosen = [Received.of(conns[i], plan.total) for i in candidates[:3]]
    successors: dict[int, list[int]] = {}
    waiting_for: dict[int, int] = {}
    for reference in chosen:
        for number in reference.first:
            waiting_for.setdefault(number, 0)
        for before, after in itertools.pairwise(reference.first):
            successors.setdefault(before, []).append(after)
            waiting_for[after] += 1
    ready = [number for number, count in waiting_for.items() if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    for _ in range(len(waiting_for)):
        if not ready:
            break
        number = heapq.heappop(ready)
        order.append(number)
        for after in successors.get(number, ()):
            waiting_for[after] -= 1
            if waiting_for[after] == 0:
                heapq.heappush(ready, after)
    if len(order) == len(waiting_for):
        return order
    result.order_conflict = _references_disagree(plan, chosen, conns)
    return None


def _references_disagree(plan: Plan, references: list[Received], conns: list[Conn]) -> str:
    """Which two of the reference receivers disagree, on which two messages."""
    for first, second in itertools.combinations(references, 2):
        rank = _ranks(second.first, plan.total)
        shared = [number for number in first.first if rank[number] >= 0]
        for mine, theirs in itertools.pairwise(shared):
            if rank[mine] > rank[theirs]:
                return _conflict(plan, first.conn, mine, theirs, second.conn, conns)
    return "the receivers' orders form a cycle"


def _ranks(order: list[int], total: int) -> list[int]:
    """Position of each message number in ``order``; -1 for those not in it."""
    rank = [-1] * total
    for position, number in enumerate(order):
        rank[number] = position
    return rank


def _conflict(
    plan: Plan, receiver: Conn, mine: int, theirs: int, other: Conn, conns: list[Conn]
) -> str:
    return (
        f"{receiver.label} got {_message(mine, plan, conns)} before "
        f"{_message(theirs, plan, conns)}, but {other.label} got them the other way round"
    )


def _agrees(
    result: Delivery,
    plan: Plan,
    receiver: Received,
    order: list[int],
    rank: list[int],
    conns: list[Conn],
) -> bool:
    """ORDER-4: whether the receiver's order agrees with the reference order (C-speed pass)."""
    ranks = list(filter(_RANKED, map(rank.__getitem__, receiver.first)))
    if all(map(operator.lt, ranks, islice(ranks, 1, None))):
        return True
    if not result.order_conflict:
        at = next(i for i in range(len(ranks) - 1) if ranks[i] > ranks[i + 1])
        mine, theirs = order[ranks[at]], order[ranks[at + 1]]
        witness = next(
            (conn for conn in conns if _saw_before(conn, plan, theirs, mine)),
            None,
        )
        result.order_conflict = (
            _conflict(plan, receiver.conn, mine, theirs, witness, conns)
            if witness is not None
            else f"{receiver.conn.label} disagrees with the other receivers' order"
        )
    return False


_RANKED = (-1).__lt__  # a message the reference order has


def _saw_before(conn: Conn, plan: Plan, first: int, second: int) -> bool:
    sequence = Received.of(conn, plan.total).first
    if first not in sequence or second not in sequence:
        return False
    return sequence.index(first) < sequence.index(second)


def _reorders(sequence: Sequence[int], plan: Plan) -> bool:
    """Whether some sender's messages are out of order in ``sequence`` (ORDER-3)."""
    by_sender = sorted(sequence, key=lambda number: number // plan.messages)
    return by_sender != sorted(sequence)


def _judge_sender_order(
    result: Delivery, plan: Plan, receiver: Received, conns: list[Conn]
) -> None:
    """ORDER-3: count the deliveries that came after a later message of the same sender."""
    if not _reorders(receiver.first, plan):
        return
    highest: dict[int, int] = {}
    count, example = 0, (0, 0)
    for number in receiver.first:
        sender = number // plan.messages
        top = highest.get(sender, -1)
        if number < top:
            if not count:
                example = (number, top)
            count += 1
        else:
            highest[sender] = number
    result.reordered += count
    result.receivers_reordering += 1
    late, early = example
    result.example(
        "reordered",
        f"{receiver.conn.label} got {_message(late, plan, conns)} after "
        f"{_message(early, plan, conns)}",
    )


# -- latency --------------------------------------------------------------------------------------


@dataclass
class Latency:
    """End-to-end latency (milliseconds) from when a message was offered to each delivery."""

    samples: int = 0  # deliveries in the percentiles (every k-th when there are very many)
    every: int = 1
    p50: float = 0.0
    p90: float = 0.0
    p99: float = 0.0
    max: float = 0.0  # over every delivery, not only the samples
    last_delivery: float = 0.0
    series: list[tuple[float, float, float, float]] = field(default_factory=list)
    histogram: list[tuple[float, float, int]] = field(default_factory=list)


def measure_latency(log: RunLog, delivery: Delivery) -> Latency:
    """Percentiles over (a regular sample of) every delivery, and the exact maximum."""
    result = Latency(every=max(1, math.ceil(delivery.delivered / LATENCY_SAMPLES)))
    total, started = log.plan.total, log.started
    sent = log.send_times.tolist()
    chunks: list[tuple[float, list[float]]] = []
    worst = 0.0
    last = 0.0
    for conn in log.conns:
        ids = conn.ids.tolist()
        start = 0
        for end, arrived in zip(conn.marks.tolist(), conn.times.tolist(), strict=True):
            numbers = ids[start:end]
            if conn.index in delivery.mangled:
                numbers = [number for number in numbers if number < total]
            if numbers:
                worst = max(worst, arrived - min(map(sent.__getitem__, numbers)))
                last = max(last, arrived)
                offset = -start % result.every
                sampled = [arrived - sent[n] for n in numbers[offset :: result.every]]
                if sampled:
                    chunks.append((arrived, sampled))
            start = end
    if not chunks:
        return result
    result.max = 1000 * worst
    result.last_delivery = last - started
    values = sorted(value for _, sampled in chunks for value in sampled)
    result.samples = len(values)
    result.p50, result.p90, result.p99 = (1000 * _percentile(values, q) for q in (0.5, 0.9, 0.99))
    result.series = _series(chunks, started, last)
    result.histogram = _histogram(values)
    return result


def _percentile(ordered: Sequence[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _series(
    chunks: list[tuple[float, list[float]]], started: float, last: float
) -> list[tuple[float, float, float, float]]:
    """(seconds since the start, p50, p99, max in ms) per time slice that had deliveries."""
    width = max((last - started) / TIME_SLICES, 1e-3)
    slices: dict[int, list[float]] = {}
    for arrived, sampled in chunks:
        slices.setdefault(int((arrived - started) / width), []).extend(sampled)
    series = []
    for number in sorted(slices):
        values = sorted(slices[number])
        series.append(
            (
                round((number + 1) * width, 4),
                round(1000 * _percentile(values, 0.5), 4),
                round(1000 * _percentile(values, 0.99), 4),
                round(1000 * values[-1], 4),
            )
        )
    return series


def _histogram(ordered: list[float]) -> list[tuple[float, float, int]]:
    """Deliveries per latency bucket, buckets equally wide on a log scale (ms)."""
    low = max(ordered[0] * 1000, 0.001)
    high = max(ordered[-1] * 1000, low * 1.001)
    ratio = (high / low) ** (1 / HISTOGRAM_BUCKETS)
    edges = [low * ratio**step for step in range(HISTOGRAM_BUCKETS + 1)]
    edges[-1] = high
    counts = [bisect.bisect_right(ordered, edge / 1000) for edge in edges]
    counts[0] = 0  # the first bucket starts at the smallest value, inclusive
    buckets = []
    for step in range(HISTOGRAM_BUCKETS):
        below = counts[step] if step else 0
        buckets.append((round(edges[step], 4), round(edges[step + 1], 4), counts[step + 1] - below))
    return buckets


# -- the report ------------------------------------------------------------------------------


def record(measurements: Measurements, log: RunLog, delivery: Delivery, latency: Latency) -> None:
    """Put a run's numbers into the check's measurements."""
    plan = log.plan
    seconds = max(latency.last_delivery, 1e-9)
    add = measurements.add
    add("clients", "clients", plan.clients)
    add("senders", "senders", plan.senders)
    add("messages_per_sender", "messages per sender", plan.messages)
    if plan.rate is not None:
        add("offered_rate", "offered rate", plan.rate, "msg/s")
    add("expected", "deliveries expected", delivery.expected)
    add("delivered", "deliveries", delivery.delivered)
    add("lost", "lost", delivery.lost)
    add("duplicated", "duplicated", delivery.duplicated)
    add("reordered", "reordered (per sender)", delivery.reordered)
    add("deliveries_per_s", "deliveries/s", round(delivery.delivered / seconds, 1), "/s")
    add("messages_per_s", "messages/s", round(plan.total / seconds, 1), "/s")
    for key, value in (
        ("p50", latency.p50),
        ("p90", latency.p90),
        ("p99", latency.p99),
        ("max", latency.max),
    ):
        add(f"latency_{key}_ms", f"latency {key}", round(value, 3), "ms")
    add("last_delivery_s", "last receiver has the last message after", round(seconds, 4), "s")
    drain = latency.last_delivery - (log.last_offered - log.started)
    add("drain_s", "after the last message was offered", round(max(drain, 0.0), 4), "s")
    measurements.latency_series = latency.series
    measurements.latency_histogram = latency.histogram
    if latency.every > 1:
        measurements.note(
            f"latency percentiles from one delivery in {latency.every} "
            f"({latency.samples:,} samples); the maximum is over all deliveries"
        )


def broken_rules(delivery: Delivery, log: RunLog) -> list[Broken]:
    """The rules a run shows broken, each with the numbers (empty: all held)."""
    broken = []
    if delivery.lost or delivery.duplicated or delivery.echoed:
        context = [log.why_incomplete] if not log.complete else []
        ended = [conn for conn in log.conns if conn.ended and conn.index not in log.excluded]
        if ended:
            context.append(
                f"{len(ended)} connections ended during the run, e.g. {ended[0].label}: "
                f"{ended[0].ended}"
            )
        broken.append(
            Broken(
                "ORDER-2",
                f"{delivery.lost:,} of {delivery.expected:,} deliveries lost "
                f"(on {delivery.receivers_losing} receivers), {delivery.duplicated:,} "
                f"duplicated (on {delivery.receivers_duplicating} receivers)"
                + (
                    f", {delivery.echoed:,} delivered to their own sender"
                    if delivery.echoed
                    else ""
                )
                + _examples(delivery, "lost", "duplicated")
                + "".join(f"; {text}" for text in context),
            )
        )
    if delivery.reordered:
        broken.append(
            Broken(
                "ORDER-3",
                f"{delivery.reordered:,} deliveries came after a later message of the same "
                f"sender (on {delivery.receivers_reordering} receivers)"
                + _examples(delivery, "reordered"),
            )
        )
    if delivery.order_conflict:
        broken.append(Broken("ORDER-4", f"no common order: {delivery.order_conflict}"))
    return broken


def _examples(delivery: Delivery, *kinds: str) -> str:
    shown = [text for kind in kinds for text in delivery.examples.get(kind, ())]
    return f"; e.g. {'; '.join(shown)}" if shown else ""
