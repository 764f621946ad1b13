"""The one load client used against every target: linechat/1 servers and Redis pub/sub.

It must not be what it measures, so it is built to do little per delivery: one process, one
epoll loop (``selectors``), non-blocking sockets, 256 KiB reads into one reused buffer,
deliveries counted with ``bytearray.count(b"\\n")`` and messages sent from pre-built buffers.
``bench/flood_server.py`` measures its ceiling.

Every message body is 50 bytes, ``T<send time, ns, 19 digits> <sequence, 10 digits> xxx..``,
so a relayed linechat line ``MSG c0001 <body>`` is 61 bytes on the wire. The receiving side
computes latency from the send time (``time.perf_counter_ns``, one clock for the process).

Two modes:

- ``flood``: ``senders`` clients send as fast as the server takes it, but never more than
  ``window`` deliveries (and at least 16 messages per sender) ahead of what has been
  received: an unbounded backlog would end in a kicked client, not in a number. Latency is
  sampled (the last complete line of a read, every 50 µs) and mostly measures the window over
  the rate: compare it between targets, not with the paced figures.
- ``paced``: ``rate`` deliveries per second offered on a fixed schedule (messages per second
  = rate / fan-out, round-robin over the senders); every line is parsed, and latency runs
  from the *scheduled* send time, so a stalled server cannot hide its stall. At the end the
  client waits (bounded) for stragglers and reports what never arrived.

For linechat, ``clients`` connections register (``NAME c0000`` ...) and the first
``senders`` of them also send; fan-out is clients - 1. For Redis, ``clients`` connections
``SUBSCRIBE chat`` and ``senders`` more connections ``PUBLISH chat``; fan-out is clients.

    python bench/loadgen.py --protocol linechat --port 7777 --clients 100 --mode flood
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

Protocol = Literal["linechat", "redis"]
Mode = Literal["flood", "paced"]

RECV_SIZE = 256 * 1024
BATCH_MESSAGES = 32
"""Messages per flood send: one system call carries about 2 KiB."""
MIN_WINDOW_BATCHES = 16
"""A flood window holds at least this many messages per sender (at N=1000, 50 000
deliveries would be only 50 messages: the client then sweeps a thousand sockets for a few
lines each and limits the rate itself)."""
PADDING = b"x" * 18
TIMESTAMP = re.compile(rb"T(\d{19}) \d{10} ")
"""Finds a body's send time; nothing else on either protocol's wire matches it."""
SAMPLE_EVERY_NS = 50_000
"""Flood mode takes at most one latency sample per 50 µs: plenty for a p99, and the client
spends its time counting instead."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SETUP_SECONDS_PER_CLIENT = 0.02
NOTHING = memoryview(b"")


def payload(sent_ns: int, sequence: int) -> bytes:
    """A 50-byte message body carrying its send time and sequence number."""
    return b"T%019d %010d %s" % (sent_ns, sequence, PADDING)


def linechat_relayed(name: bytes, body: bytes) -> bytes:
    """The line a linechat/1 server delivers for ``MSG <body>`` from ``name``."""
    return b"MSG " + name + b" " + body + b"\n"


def _linechat_message(body: bytes) -> bytes:
    return b"MSG " + body + b"\n"


def _redis_publish(body: bytes) -> bytes:
    return b"*3\r\n$7\r\nPUBLISH\r\n$4\r\nchat\r\n$%d\r\n%s\r\n" % (len(body), body)


@dataclass(frozen=True)
class Wire:
    """What differs between the protocols: how a message is sent, and how many LFs one
    delivery is on the receiving wire (Redis: ``*3 $7 message $4 chat $50 <body>``)."""

    message: Callable[[bytes], bytes]
    lines_per_delivery: int


WIRES: dict[str, Wire] = {
    "linechat": Wire(_linechat_message, 1),
    "redis": Wire(_redis_publish, 7),
}


@dataclass(frozen=True)
class LoadSpec:
    protocol: Protocol
    port: int
    clients: int
    mode: Mode
    senders: int = 10
    rate: float = 50_000.0
    """Offered deliveries per second in paced mode."""
    warmup: float = 0.5
    duration: float = 3.0
    window: int = 50_000
    """Deliveries a flood may have in flight (sent but not yet received)."""
    drain: float = 2.0
    """Seconds a paced run waits, at most, for deliveries still under way."""
    server_pid: int | None = None
    """When given, the server's CPU time is measured over the same interval."""

    @property
    def sender_count(self) -> int:
        return min(self.senders, self.clients) if self.protocol == "linechat" else self.senders

    @property
    def fanout(self) -> int:
        return self.clients - 1 if self.protocol == "linechat" else self.clients


@dataclass(frozen=True)
class LoadResult:
    deliveries: int
    """Received during the measured interval."""
    seconds: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    samples: int
    server_cpu_s: float | None
    client_cpu_s: float
    machine_cpu_s: float
    """CPU time every process on the machine used (and the hypervisor stole) meanwhile."""
    messages_sent: int
    lost: int | None
    """Paced mode: deliveries expected but not received by the end of the drain."""
    closed: int
    """Connections the server closed during the run (e.g. kicked slow readers)."""

    @property
    def deliveries_per_s(self) -> float:
        return self.deliveries / self.seconds

    @property
    def server_cpu_us_per_delivery(self) -> float | None:
        if self.server_cpu_s is None or not self.deliveries:
            return None
        return self.server_cpu_s / self.deliveries * 1e6

    @property
    def client_cpu_share(self) -> float:
        """The load client's CPU use over the interval: near 1.0 means it was the limit."""
        return self.client_cpu_s / self.seconds

    @property
    def others_cpu_share(self) -> float | None:
        """Cores busy with neither the server nor this client: above ~0.2 the machine was
        not quiet and the numbers are suspect."""
        if self.server_cpu_s is None:
            return None
        others = self.machine_cpu_s - self.server_cpu_s - self.client_cpu_s
        return max(0.0, others / self.seconds)


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine (all cores, steal included), from /proc/stat."""
    with open("/proc/stat", encoding="utf-8") as stat:
        fields = [int(f) for f in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Connection:
    __slots__ = ("blocked", "pending", "receives", "sock", "unparsed")

    def __init__(self, sock: socket.socket, receives: bool) -> None:
        self.sock = sock
        self.receives = receives
        self.pending = NOTHING
        self.blocked = False
        self.unparsed = b""


@dataclass(frozen=True)
class Snapshot:
    at_ns: int
    lines: int
    server_cpu_s: float | None
    client_cpu_s: float
    machine_cpu_s: float


class LoadRun:
    """One run: connect and set up, load, measure, close. Use as a context manager."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.wire = WIRES[spec.protocol]
        self.selector = selectors.DefaultSelector()
        self.receivers: list[Connection] = []
        self.senders: list[Connection] = []
        self.buffer = bytearray(RECV_SIZE)
        self.view = memoryview(self.buffer)
        self.lines = 0
        self.samples: list[int] = []
        self.sampling_from_ns: int | None = None
        self.next_sample_ns = 0
        self.messages_sent = 0
        self.closed = 0

    def __enter__(self) -> LoadRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for connection in {*self.receivers, *self.senders}:
            connection.sock.close()
        self.selector.close()

    # -- set-up

    def set_up(self) -> None:
        """Connect everyone and wait until the server has registered them all and sent
        everything the set-up caused (WELCOME, JOIN ...): afterwards every LF is a delivery."""
        deadline = time.monotonic() + 10 + SETUP_SECONDS_PER_CLIENT * self.spec.clients
        if self.spec.protocol == "linechat":
            self.receivers = [self._connect(receives=True) for _ in range(self.spec.clients)]
            self.senders = self.receivers[: self.spec.sender_count]
            for number, connection in enumerate(self.receivers):
                connection.sock.sendall(b"NAME c%04d\nPING registered\n" % number)
            welcomed = self._await(self.receivers, b"PONG registered\n", deadline)
            for number, seen in enumerate(welcomed):
                if b"\nWELCOME c%04d\n" % number not in seen:
                    raise RuntimeError(f"c{number:04d} was not welcomed: {seen[-200:]!r}")
            self._ask_all(self.receivers, b"PING ready\n", b"PONG ready\n", deadline)
        else:
            self.receivers = [self._connect(receives=True) for _ in range(self.spec.clients)]
            subscribed = b"subscribe\r\n$4\r\nchat\r\n:1\r\n"
            self._ask_all(self.receivers, b"SUBSCRIBE chat\r\n", subscribed, deadline)
            self.senders = [self._connect(receives=False) for _ in range(self.spec.sender_count)]
            self._ask_all(self.senders, b"PING\r\n", b"+PONG\r\n", deadline)

    def _connect(self, receives: bool) -> Connection:
        sock = socket.create_connection(("127.0.0.1", self.spec.port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        connection = Connection(sock, receives)
        self.selector.register(sock, selectors.EVENT_READ, connection)
        return connection

    def _ask_all(
        self, connections: list[Connection], request: bytes, answer: bytes, deadline: float
    ) -> None:
        for connection in connections:
            connection.sock.sendall(request)
        self._await(connections, answer, deadline)

    def _await(self, connections: list[Connection], token: bytes, deadline: float) -> list[bytes]:
        """Read every connection until ``token`` has arrived on it; return what each received
        up to and including it. Anything after it is a set-up echo too and is dropped."""
        seen = {connection: bytearray() for connection in connections}
        waiting = set(connections)
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(waiting)} connections never received {token!r}")
            for key, _ in self.selector.select(min(left, 1.0)):
                connection = key.data
                data = connection.sock.recv(RECV_SIZE)
                if not data:
                    tail = bytes(seen.get(connection, b""))[-200:]
                    raise ConnectionError(f"server closed a connection during set-up: {tail!r}")
                if connection in waiting:
                    seen[connection] += data
                    if token in seen[connection][-len(data) - len(token) :]:
                        waiting.discard(connection)
        return [bytes(seen[connection]) for connection in connections]

    # -- measurement

    def run(self) -> LoadResult:
        if self.spec.mode == "flood":
            return self._flood()
        return self._paced()

    def _snapshot(self) -> Snapshot:
        pid = self.spec.server_pid
        return Snapshot(
            time.perf_counter_ns(),
            self.lines,
            process_cpu_seconds(pid) if pid is not None else None,
            time.process_time(),
            machine_cpu_seconds(),
        )

    def _delivered(self) -> int:
        return self.lines // self.wire.lines_per_delivery

    def _flood(self) -> LoadResult:
        spec, wire = self.spec, self.wire
        fanout = spec.fanout
        window_messages = max(spec.window // fanout, MIN_WINDOW_BATCHES * len(self.senders))
        batch = max(1, min(BATCH_MESSAGES, window_messages // len(self.senders)))
        window = window_messages * fanout
        started = time.perf_counter_ns()
        measure_from = started + int(spec.warmup * 1e9)
        measure_until = measure_from + int(spec.duration * 1e9)
        first: Snapshot | None = None
        while (now := time.perf_counter_ns()) < measure_until:
            if first is None and now >= measure_from:
                first = self._snapshot()
                self.sampling_from_ns = first.at_ns
            sending = False
            for sender in self.senders:
                if sender.blocked:
                    continue
                if not sender.pending:
                    in_flight = self.messages_sent * fanout - self._delivered()
                    if in_flight + batch * fanout > window and in_flight > 0:
                        break
                    body = payload(time.perf_counter_ns(), self.messages_sent)
                    sender.pending = memoryview(wire.message(body) * batch)
                    self.messages_sent += batch
                self._send(sender)
                sending = sending or not sender.blocked
            timeout = 0.0 if sending else min(0.05, (measure_until - now) / 1e9)
            self._read_ready(timeout, self._count_and_sample)
        assert first is not None
        return self._result(first, self._snapshot(), lost=None)

    def _paced(self) -> LoadResult:
        spec, wire = self.spec, self.wire
        fanout = spec.fanout
        messages_per_s = spec.rate / fanout
        started = time.perf_counter_ns()
        measure_from = started + int(spec.warmup * 1e9)
        measure_until = measure_from + int(spec.duration * 1e9)
        self.sampling_from_ns = measure_from
        first: Snapshot | None = None
        while (now := time.perf_counter_ns()) < measure_until:
            if first is None and now >= measure_from:
                first = self._snapshot()
            due = int((now - started) * messages_per_s / 1e9) + 1
            touched = set()
            while self.messages_sent < due:
                sequence = self.messages_sent
                sender = self.senders[sequence % len(self.senders)]
                scheduled = started + int(sequence * 1e9 / messages_per_s)
                sender.pending = memoryview(
                    bytes(sender.pending) + wire.message(payload(scheduled, sequence))
                )
                touched.add(sender)
                self.messages_sent += 1
            for sender in touched:
                if not sender.blocked:
                    self._send(sender)
            next_due = started + int(self.messages_sent * 1e9 / messages_per_s)
            timeout = max(0.0, (min(next_due, measure_until) - time.perf_counter_ns()) / 1e9)
            self._read_ready(timeout, self._parse_all)
        assert first is not None
        last = self._snapshot()
        expected = self.messages_sent * fanout
        drain_until = time.monotonic() + spec.drain
        while self._delivered() < expected and time.monotonic() < drain_until:
            self._read_ready(0.05, self._parse_all)
        return self._result(first, last, lost=expected - self._delivered())

    def _result(self, first: Snapshot, last: Snapshot, lost: int | None) -> LoadResult:
        samples = sorted(self.samples)

        def percentile(fraction: float) -> float | None:
            if not samples:
                return None
            return samples[min(len(samples) - 1, int(fraction * len(samples)))] / 1e6

        server_cpu = None
        if first.server_cpu_s is not None and last.server_cpu_s is not None:
            server_cpu = last.server_cpu_s - first.server_cpu_s
        return LoadResult(
            deliveries=(last.lines - first.lines) // self.wire.lines_per_delivery,
            seconds=(last.at_ns - first.at_ns) / 1e9,
            p50_ms=percentile(0.50),
            p90_ms=percentile(0.90),
            p99_ms=percentile(0.99),
            max_ms=percentile(1.0),
            samples=len(samples),
            server_cpu_s=server_cpu,
            client_cpu_s=last.client_cpu_s - first.client_cpu_s,
            machine_cpu_s=last.machine_cpu_s - first.machine_cpu_s,
            messages_sent=self.messages_sent,
            lost=lost,
            closed=self.closed,
        )

    # -- the hot path

    def _send(self, sender: Connection) -> None:
        """Send what the kernel takes; watch for writability only while some is left."""
        try:
            sent = sender.sock.send(sender.pending)
        except BlockingIOError:
            sent = 0
        except OSError:
            sent, sender.pending = 0, NOTHING
        sender.pending = sender.pending[sent:] if sender.pending else NOTHING
        blocked = bool(sender.pending)
        if blocked != sender.blocked:
            sender.blocked = blocked
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if blocked else 0)
            self.selector.modify(sender.sock, events, sender)

    def _read_ready(self, timeout: float, consume: Callable[[Connection, int, int], None]) -> None:
        for key, mask in self.selector.select(timeout):
            connection: Connection = key.data
            if mask & selectors.EVENT_WRITE:
                self._send(connection)
            if not mask & selectors.EVENT_READ:
                continue
            try:
                size = connection.sock.recv_into(self.buffer)
            except BlockingIOError:
                continue
            except OSError:
                size = 0
            if not size:
                self._lost_connection(connection)
            elif connection.receives:
                consume(connection, size, time.perf_counter_ns())

    def _count_and_sample(self, connection: Connection, size: int, now: int) -> None:
        """Flood: count LFs; now and then take the latency of the last complete line."""
        buffer = self.buffer
        self.lines += buffer.count(b"\n", 0, size)
        if self.sampling_from_ns is None or now < self.next_sample_ns:
            return
        self.next_sample_ns = now + SAMPLE_EVERY_NS
        end = buffer.rfind(b"\n", 0, size)
        start = buffer.rfind(b"\n", 0, end)
        if start >= 0 and (found := TIMESTAMP.search(buffer, start, end)):
            self.samples.append(now - int(found[1]))

    def _parse_all(self, connection: Connection, size: int, now: int) -> None:
        """Paced: the latency of every delivery sent in the measured interval."""
        data = connection.unparsed + self.view[:size]
        end = data.rfind(b"\n") + 1
        connection.unparsed = data[end:]
        self.lines += data.count(b"\n", 0, end)
        since = self.sampling_from_ns or 0
        for found in TIMESTAMP.finditer(data, 0, end):
            sent = int(found[1])
            if sent >= since:
                self.samples.append(now - sent)

    def _lost_connection(self, connection: Connection) -> None:
        self.selector.unregister(connection.sock)
        connection.sock.close()
        self.closed += 1
        if connection in self.senders:
            self.senders.remove(connection)
        if not self.senders:
            raise ConnectionError("the server closed every sending connection")


def measure(spec: LoadSpec) -> LoadResult:
    """Set up, load and measure one target that is already running."""
    with LoadRun(spec) as run:
        run.set_up()
        return run.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=["linechat", "redis"], default="linechat")
    parser.add_argument("--port", type=int, required=True, help="the target, on 127.0.0.1")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--mode", choices=["flood", "paced"], default="flood")
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--rate", type=float, default=50_000, help="paced deliveries/s")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--window", type=int, default=50_000, help="flood deliveries in flight")
    parser.add_argument("--server-pid", type=int, help="measure this process's CPU time too")
    args = parser.parse_args()
    result = measure(LoadSpec(**vars(args)))
    report = {
        **asdict(result),
        "deliveries_per_s": result.deliveries_per_s,
        "server_cpu_us_per_delivery": result.server_cpu_us_per_delivery,
        "client_cpu_share": result.client_cpu_share,
        "others_cpu_share": result.others_cpu_share,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
