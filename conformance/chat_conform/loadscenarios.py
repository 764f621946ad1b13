"""The load checks' scenarios: a message run, a connection storm, churn, and a slow reader.

Each scenario drives a :class:`~chat_conform.loadclient.Fleet` against the check's server,
puts its numbers into the check's :class:`~chat_conform.metrics.Measurements`, and returns
what broke as :class:`Broken` lines, each naming the rule it breaks, so that the check can
fail on the MUST rules and only warn on a SHOULD rule (see :class:`LoadFailure`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from chat_conform import procstat
from chat_conform.loadclient import (
    Ceiling,
    Conn,
    Fleet,
    Progress,
    Registration,
    marker,
    marker_pattern,
    measure_ceiling,
    register_all,
    show_bytes,
)
from chat_conform.loadconfig import LoadConfig
from chat_conform.loadrun import (
    CLIENT_BOUND_SHARE,
    TEXT_BYTES,
    Broken,
    Delivery,
    MessageRun,
    Plan,
    RunLog,
    broken_rules,
    judge_delivery,
    measure_latency,
    record,
)
from chat_conform.metrics import Measurements
from chat_conform.session import Chat
from chat_conform.wire import NOTE

CONNECT_WAVE = 100  # load.run connects in waves of this many (the storm does not)
FILE_MARGIN = 100  # files the checker process has open besides the load connections
MAX_CEILING_CONNECTIONS = 200  # the flood server's connections: like the run's, up to this
LOAD1_CLIENTS = 100  # LOAD-1
LOAD2_CLIENTS = 1000  # LOAD-2
CHURN_WAVE = 100  # clients that come and go together
SETTLE_SECONDS = 10.0  # how long the server may take to release a departed client's resources
SETTLE_POLL_SECONDS = 0.1
SLOW_READER_SENDERS = 4
SLOW_READER_BYTES = 32 << 20  # relayed towards the client that reads nothing
SLOW_READER_TEXT_BYTES = 3900  # each message is one line of about 4 KB
# What the others may have on their way at once: below the 64 KiB a server must let any
# client have unsent (LOAD-4), so that none of them may be dropped for being slow.
SLOW_READER_WINDOW_BYTES = 60_000
SLOW_RECEIVE_BUFFER = 1024  # the kernel raises it to its minimum (Linux: 2304 bytes)
CATCH_UP_RECEIVE_BUFFER = 1 << 20

_ceilings: dict[int, Ceiling] = {}  # measured once per process and number of connections


def allow_open_files(wanted: int) -> None:
    """Raise this process's open-file limit to ``wanted`` (within the hard limit), or skip."""
    try:
        import resource
    except ImportError:  # not a Unix: no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        target = soft
    if target < wanted:
        pytest.skip(f"the checker may open only {target} files (hard limit), {wanted} needed")


def new_fleet(chat: Chat, *, nonce: str | None = None) -> Fleet:
    server = chat.server
    return Fleet(
        chat.host,
        chat.port,
        timeout=chat.timeout,
        pattern=None if nonce is None else marker_pattern(nonce),
        explain=lambda: "" if server is None else server.exit_note(),
    )


def new_nonce(chat: Chat) -> str:
    return f"{chat.rng.randrange(16**6):06x}"


def note(chat: Chat, text: str) -> None:
    chat.transcript.record("load", NOTE, text)


def open_registered(
    chat: Chat, fleet: Fleet, labels: Sequence[str], *, wave: int = CONNECT_WAVE
) -> list[Conn]:
    """Connect and register every label, ``wave`` at a time; fail unless all register."""
    conns: list[Conn] = []
    for start in range(0, len(labels), wave):
        batch = fleet.open([(label, chat.name(label)) for label in labels[start : start + wave]])
        registration = register_all(fleet, batch)
        if registration.refused or registration.failed:
            raise fleet.fail(None, _registration_trouble(registration, len(conns)))
        conns += batch
    note(chat, f"{len(conns)} clients connected and registered")
    return conns


def _registration_trouble(registration: Registration, earlier: int) -> str:
    registered = earlier + len(registration.registered)
    if registration.refused:
        return (
            f"the server answered ERR server-full with {registered} clients registered "
            f"(LOAD-1 requires at least {LOAD1_CLIENTS}; a larger client limit may be needed)"
        )
    conn, why = registration.failed[0]
    others = len(registration.failed) - 1
    return f"{conn.label} could not register: {why}" + (f" (and {others} more)" if others else "")


# -- load.run -------------------------------------------------------------------------------------


def message_run(chat: Chat, config: LoadConfig, measurements: Measurements) -> list[Broken]:
    """N clients register, S send M marked messages each; count what arrived how and when."""
    plan = Plan(config.clients, config.sender_count, config.message_count, config.rate)
    allow_open_files(plan.clients + FILE_MARGIN)
    ceiling = client_ceiling(plan.clients)
    nonce = new_nonce(chat)
    with new_fleet(chat, nonce=nonce) as fleet:
        conns = open_registered(chat, fleet, [f"load{n}" for n in range(plan.clients)])
        quiet = fleet.sync(conns, f"{nonce}-quiet")
        if quiet:
            raise fleet.fail(quiet[0], f"no PONG within {chat.timeout:g} s before the run")
        note(chat, f"{plan.senders} senders send {plan.messages} messages each")
        stall = chat.timeout + (1 / plan.rate if plan.rate else 0.0)
        run = MessageRun(fleet, conns, plan, nonce, Progress("load.run"))
        log = run.run(stall=stall)
        note(chat, f"{fleet.delivered} deliveries counted")
        log = _without_kicked(measurements, log)
        delivery = judge_delivery(log)
        latency = measure_latency(log, delivery)
    record(measurements, log, delivery, latency)
    _judge_ceiling(measurements, ceiling)
    measurements.limit("--max-p99-ms", "latency_p99_ms", config.max_p99_ms, at_most=True)
    measurements.limit("--min-rate", "deliveries_per_s", config.min_rate, at_most=False)
    _note_unexpected_lines(measurements, log.conns)
    return broken_rules(delivery, log)


def client_ceiling(clients: int) -> Ceiling:
    """The load client's own ceiling with as many connections as the run (up to a bound)."""
    connections = min(clients, MAX_CEILING_CONNECTIONS)
    if connections not in _ceilings:
        _ceilings[connections] = measure_ceiling(connections, TEXT_BYTES)
    return _ceilings[connections]


def _judge_ceiling(measurements: Measurements, ceiling: Ceiling) -> None:
    measurements.add(
        "client_ceiling_per_s", "load client ceiling", round(ceiling.deliveries_per_s), "/s"
    )
    measurements.note(
        f"{ceiling.shown()}: a rate above {CLIENT_BOUND_SHARE:.0%} of it is the client's limit"
    )
    rate = measurements.value("deliveries_per_s") or 0.0
    if rate > CLIENT_BOUND_SHARE * ceiling.deliveries_per_s:
        measurements.note(
            f"client-bound: {rate:,.0f} deliveries/s is over {CLIENT_BOUND_SHARE:.0%} of the "
            "load client's ceiling, so the server may be faster than this number says"
        )


def _without_kicked(measurements: Measurements, log: RunLog) -> RunLog:
    """The log without receivers the server dropped as slow readers (LOAD-4 allows it: their
    lost deliveries are no fault); a note says how many, and why that happens."""
    kicked = {
        line.split(b" ")[1]
        for conn in log.conns
        for line in conn.kept
        if line.startswith(b"LEAVE ") and line.endswith(b" kicked")
    }
    dropped = {conn.index for conn in log.conns if conn.ended and conn.name.encode() in kicked}
    if not dropped:
        return log
    measurements.add("kicked", "receivers dropped as slow readers", len(dropped))
    measurements.note(
        f"the server dropped {len(dropped)} receivers with LEAVE <name> kicked (LOAD-4): their "
        "deliveries are not judged; it could not deliver as fast as it accepted (try --rate)"
    )
    return dataclasses.replace(log, excluded=log.excluded | dropped)


def _note_unexpected_lines(measurements: Measurements, conns: Sequence[Conn]) -> None:
    """Lines that were neither a load message nor a PONG (an ERR, a LEAVE ... kicked)."""
    odd = [conn for conn in conns if conn.other_lines]
    if odd:
        total = sum(conn.other_lines for conn in odd)
        first = odd[0]
        sample = show_bytes(first.kept[0]) if first.kept else "?"
        measurements.note(
            f"{total} other lines arrived on {len(odd)} connections during the run, "
            f"e.g. {first.label} got {sample}"
        )


# -- load.storm, load.storm-thousand --------------------------------------------------------------


@dataclass
class Storm:
    """How a crowd that connected and registered all at once was served."""

    clients: int
    registration: Registration
    reached: list[Conn]  # registered, and got the broadcast (or sent it)
    missed: list[Conn]  # registered, but the broadcast never came

    def verdict(self, rule_id: str, needed: int) -> list[Broken]:
        """``rule_id`` is broken unless at least ``needed`` clients were served."""
        if len(self.reached) >= needed:
            return []
        return [Broken(rule_id, f"only {len(self.reached)} of {needed} clients served: {self}")]

    def __str__(self) -> str:
        registration = self.registration
        parts = [f"{len(registration.registered)} of {self.clients} registered"]
        if registration.refused:
            parts.append(
                f"{len(registration.refused)} refused with ERR server-full (GREET-2), "
                f"e.g. {registration.refused[0].label}"
            )
        if registration.failed:
            conn, why = registration.failed[0]
            parts.append(f"{len(registration.failed)} failed, e.g. {conn.label}: {why}")
        if self.missed:
            parts.append(
                f"{len(self.missed)} registered but never got the broadcast, "
                f"e.g. {self.missed[0].label}"
            )
        return "; ".join(parts)


def storm(chat: Chat, clients: int, measurements: Measurements) -> Storm:
    """``clients`` connections at once; each sends NAME on its HELLO; then one broadcast.

    Every registered client must get the first MSG sent after the last WELCOME.
    """
    allow_open_files(clients + FILE_MARGIN)
    nonce = new_nonce(chat)
    with new_fleet(chat, nonce=nonce) as fleet:
        labels = [(f"storm{n}", chat.name(f"storm{n}")) for n in range(clients)]
        conns = fleet.open(labels)
        registration = register_all(fleet, conns)
        registered = registration.registered
        note(chat, f"{len(registered)} of {clients} registered at once")
        fanout = 0.0
        reached: list[Conn] = []
        missed: list[Conn] = []
        if registered:
            sender, receivers = registered[0], registered[1:]
            sent_at = time.monotonic()
            fleet.send(sender, b"MSG " + marker(nonce, 0, 1) + b" storm\n")
            fleet.pump(lambda: all(conn.ids or conn.ended for conn in receivers))
            reached = [sender, *(conn for conn in receivers if conn.ids)]
            missed = [conn for conn in receivers if not conn.ids]
            arrivals = [conn.times[0] for conn in receivers if conn.times]
            fanout = max(arrivals, default=sent_at) - sent_at
    result = Storm(clients, registration, reached, missed)
    _record_storm(measurements, result, fanout)
    return result


def _record_storm(measurements: Measurements, result: Storm, fanout: float) -> None:
    registration = result.registration
    welcomes = sorted(registration.welcome_times)
    add = measurements.add
    add("clients", "clients", result.clients)
    add("registered", "registered", len(registration.registered))
    add("refused", "refused (server-full)", len(registration.refused))
    add("failed", "failed", len(registration.failed))
    add("served", "served (got the broadcast)", len(result.reached))
    if welcomes:
        add("all_welcomed_s", "all WELCOMEs after", round(welcomes[-1], 4), "s")
        for key, share in (("p50", 0.5), ("p99", 0.99)):
            value = welcomes[min(len(welcomes) - 1, int(share * len(welcomes)))]
            add(f"welcome_{key}_ms", f"connect to WELCOME {key}", round(1000 * value, 3), "ms")
        add("welcome_max_ms", "connect to WELCOME max", round(1000 * welcomes[-1], 3), "ms")
    add("broadcast_ms", "broadcast reached everyone after", round(1000 * fanout, 3), "ms")


# -- load.churn -----------------------------------------------------------------------------------


def churn(chat: Chat, cycles: int, measurements: Measurements) -> list[Broken]:
    """``cycles`` clients connect, register and leave, in waves, reusing the same names.

    A third leaves by EXIT, a third by closing (FIN), a third by a reset (RST). An observer
    must see each one's LEAVE; then two new clients must still be relayed to, and a local
    server's open files, threads and memory must return near where they were after a
    first, warm-up wave.
    """
    wave = min(CHURN_WAVE, cycles)
    allow_open_files(2 * wave + FILE_MARGIN)
    nonce = new_nonce(chat)
    progress = Progress("load.churn")
    group = chat.server.pid if chat.server is not None and procstat.available() else None
    broken: list[Broken] = []
    with new_fleet(chat, nonce=nonce) as fleet:
        (observer,) = open_registered(chat, fleet, ["observer"])
        departures = _Departures(observer)
        baseline = None
        if group is not None:  # a first wave warms the server up; then the baseline
            warm_up = _churn_wave(chat, fleet, departures, wave, nonce)
            broken += [] if warm_up is None else [warm_up]
            baseline = _settled(group, None)
        started = time.monotonic()
        done = 0
        for _ in range(math.ceil(cycles / wave)):
            if broken:
                break
            size = min(wave, cycles - done)
            problem = _churn_wave(chat, fleet, departures, size, nonce)
            if problem is not None:
                broken.append(problem)
                break
            done += size
            progress.show(f"{done:,}/{cycles:,} clients came and went")
        progress.done()
        elapsed = time.monotonic() - started
        if not broken:
            broken += _still_relays(chat, fleet, observer, nonce, done)
    measurements.add("cycles", "clients that came and went", done)
    measurements.add("churn_s", "churn took", round(elapsed, 3), "s")
    measurements.add("cycles_per_s", "connect/register/leave per second", round(done / elapsed, 1))
    if group is None:
        measurements.note("resources not measured: the server is not a local process (Linux)")
    elif baseline is not None and not broken:
        broken += _judge_resources(measurements, group, baseline)
    return broken


class _Departures:
    """The JOIN and LEAVE lines the observer received, by name."""

    def __init__(self, observer: Conn) -> None:
        self.left: dict[bytes, bytes] = {}  # name -> reason
        observer.on_lines = self._on_lines

    def _on_lines(self, conn: Conn, now: float) -> None:
        for line in conn.take_collected().split(b"\n")[:-1]:
            if line.startswith(b"LEAVE "):
                _, name, reason = [*line.split(b" ", 2), b"", b""][:3]
                self.left[name] = reason


def _churn_wave(
    chat: Chat, fleet: Fleet, departures: _Departures, size: int, nonce: str
) -> Broken | None:
    """One wave: ``size`` clients register (same names each wave), then all leave."""
    labels = [f"churn{n}" for n in range(size)]
    conns = fleet.open([(label, chat.name(label)) for label in labels])
    registration = register_all(fleet, conns)
    taken = [(conn, why) for conn, why in registration.failed if "name-taken" in why]
    if taken:
        conn, why = taken[0]
        return Broken("LEAVE-2", f"{why}, though its earlier holder's LEAVE had come")
    if registration.refused or registration.failed:
        return Broken("LEAVE-5", _registration_trouble(registration, 0) + " (during churn)")
    unanswered = fleet.sync(conns, f"{nonce}-wave")  # reads the JOINs: closing sends a FIN
    if unanswered:
        return Broken("LEAVE-5", f"{unanswered[0].label}: no PONG during churn")
    departures.left.clear()
    for index, conn in enumerate(conns):
        if index % 3 == 0:
            fleet.send(conn, b"EXIT\n")
        elif index % 3 == 1:
            fleet.half_close(conn)
        else:
            fleet.reset(conn)
    names = {conn.name.encode() for conn in conns}
    fleet.pump(lambda: names <= departures.left.keys() and all(conn.ended for conn in conns))
    fleet.close_ended(conns)
    missing = sorted(names - departures.left.keys())
    if missing:
        return Broken(
            "LEAVE-5",
            f"observer: no LEAVE for {len(missing)} of {size} departed clients, "
            f"e.g. {show_bytes(missing[0])}",
        )
    return None


def _still_relays(
    chat: Chat, fleet: Fleet, observer: Conn, nonce: str, departed: int
) -> list[Broken]:
    """After the churn two new clients register, and a MSG reaches the others."""
    first, second = open_registered(chat, fleet, ["after0", "after1"], wave=2)
    fleet.reset_counts()
    fleet.send(first, b"MSG " + marker(nonce, 1, 1) + b" after the churn\n")
    receivers = [second, observer]
    fleet.pump(lambda: all(conn.ids or conn.ended for conn in receivers))
    silent = [conn for conn in receivers if not conn.ids]
    if not silent:
        return []
    return [
        Broken(
            "LEAVE-5",
            f"after {departed} clients came and went, {silent[0].label} did not get "
            f"{first.label}'s MSG within {chat.timeout:g} s",
        )
    ]


def _settled(group: int, baseline: procstat.Usage | None) -> procstat.Usage | None:
    """The group's usage once it is back within the margins of ``baseline`` (or, without
    one, once it stops falling), polled for at most SETTLE_SECONDS.

    No line of the protocol says "the server has released this client's thread and socket",
    so this is a bounded poll of /proc, not a synchronisation with the server.
    """
    deadline = time.monotonic() + SETTLE_SECONDS
    usage = procstat.group_usage(group)
    for _ in range(int(SETTLE_SECONDS / SETTLE_POLL_SECONDS) + 1):
        if usage is None or time.monotonic() > deadline:
            break
        time.sleep(SETTLE_POLL_SECONDS)
        later = procstat.group_usage(group)
        if later is None:
            break
        settled = (
            not procstat.excess(baseline, later)
            if baseline is not None
            else (later.fds >= usage.fds and later.threads >= usage.threads)
        )
        usage = later
        if settled:
            break
    return usage


def _judge_resources(
    measurements: Measurements, group: int, baseline: procstat.Usage
) -> list[Broken]:
    after = _settled(group, baseline)
    if after is None:
        measurements.note("resources not measured: the server's processes could not be read")
        return []
    for key, label, before_value, after_value, unit in (
        ("fds", "open files", baseline.fds, after.fds, ""),
        ("threads", "threads", baseline.threads, after.threads, ""),
        ("rss_mb", "resident memory", baseline.rss_bytes / 2**20, after.rss_bytes / 2**20, "MB"),
    ):
        measurements.add(f"{key}_before", f"{label} before", round(before_value, 1), unit)
        measurements.add(f"{key}_after", f"{label} after", round(after_value, 1), unit)
    measurements.note(
        "resources of the server's process group, after a warm-up wave and after the churn "
        f"(allowed: +{procstat.FD_MARGIN} files, +{procstat.THREAD_MARGIN} threads, "
        f"+{procstat.RSS_MARGIN_SHARE:.0%} or +{procstat.RSS_MARGIN_BYTES >> 20} MB memory)"
    )
    problems = procstat.excess(baseline, after)
    if not problems:
        return []
    return [
        Broken(
            "LEAVE-5",
            "the server kept resources of departed clients ("
            + "; ".join(problems)
            + f" after {SETTLE_SECONDS:g} s): it would stop serving after enough departures",
        )
    ]


# -- load.slow-reader -----------------------------------------------------------------------------


def slow_reader(chat: Chat, measurements: Measurements, bound: float) -> list[Broken]:
    """While one client reads nothing, four others exchange tens of MB as fast as they can
    (each sender keeps at most a window of messages on its way, so that none of them is a
    slow reader too).

    Every other client must never wait more than ``bound`` seconds for its next message
    (LOAD-3) and get all of them; the slow one must be dropped with ``LEAVE <name> kicked``,
    or get everything once it reads again (LOAD-4).
    """
    line_bytes = SLOW_READER_TEXT_BYTES + 16  # "MSG fastN " and the LF around the text
    messages = max(1, SLOW_READER_BYTES // line_bytes // SLOW_READER_SENDERS)
    plan = Plan(
        SLOW_READER_SENDERS + 1, SLOW_READER_SENDERS, messages, None, SLOW_READER_TEXT_BYTES
    )
    nonce = new_nonce(chat)
    with new_fleet(chat, nonce=nonce) as fleet:
        fast = fleet.open([(f"fast{n}", chat.name(f"fast{n}")) for n in range(plan.senders)])
        (slow,) = fleet.open([("slow", chat.name("slow"))], receive_buffer=SLOW_RECEIVE_BUFFER)
        conns = [*fast, slow]
        registration = register_all(fleet, conns)
        if registration.refused or registration.failed:
            raise fleet.fail(None, _registration_trouble(registration, 0))
        unanswered = fleet.sync(conns, f"{nonce}-quiet")
        if unanswered:
            raise fleet.fail(unanswered[0], f"no PONG within {chat.timeout:g} s")
        fleet.stop_reading(slow)
        note(chat, f"slow reads nothing; {plan.senders} others send {messages} lines of 4 KB")
        window = max(1, SLOW_READER_WINDOW_BYTES // (plan.senders - 1) // line_bytes)
        progress = Progress("load.slow-reader")
        run = MessageRun(fleet, conns, plan, nonce, progress, quiet=[slow], window=window)
        log = run.run(stall=chat.timeout)
        delivery = judge_delivery(log)
        gaps = {conn.label: _longest_wait(conn, log) for conn in fast}
        worst = max(gaps, key=gaps.__getitem__)
        broken = []
        if gaps[worst] > bound:
            text = f"{worst} waited {gaps[worst]:.2f} s for its next message while slow read"
            broken.append(Broken("LOAD-3", f"{text} nothing (bound {bound:g} s)"))
        lost = [item for item in broken_rules(delivery, log) if item.rule_id == "ORDER-2"]
        broken += [
            Broken("LOAD-3", f"the others did not get everything: {item.text}") for item in lost
        ]
        departure = _departure(fast, slow)
        broken += _judge_slow(chat, fleet, log, slow, departure)
    _record_slow(measurements, log, delivery, gaps[worst], departure)
    return broken


def _longest_wait(conn: Conn, log: RunLog) -> float:
    """The longest a receiver waited for its next message: from the start to its last one,
    and on to the end of the run if messages never came."""
    times = [log.started, *conn.times.tolist()]
    expected = log.plan.total - (log.plan.messages if conn.index < log.plan.senders else 0)
    if len(set(conn.ids)) < expected:
        times.append(log.finished)
    return max(later - earlier for earlier, later in itertools.pairwise(times))


def _departure(fast: Sequence[Conn], slow: Conn) -> bytes | None:
    """The LEAVE line the others got for the slow reader, if the server dropped it."""
    prefix = b"LEAVE " + slow.name.encode() + b" "
    for conn in fast:
        for line in conn.kept:
            if line.startswith(prefix):
                return line
    return None


def _judge_slow(
    chat: Chat, fleet: Fleet, log: RunLog, slow: Conn, departure: bytes | None
) -> list[Broken]:
    """LOAD-4: dropped with ``LEAVE <name> kicked``, or catches up with nothing lost."""
    kicked = b"LEAVE " + slow.name.encode() + b" kicked"
    if departure is not None:
        if departure == kicked:
            note(chat, f"the server dropped slow: {show_bytes(departure)}")
            return []
        return [
            Broken(
                "LOAD-4",
                f"the others got {show_bytes(departure)} for the dropped slow reader, "
                f"not {show_bytes(kicked)} (LEAVE-4)",
            )
        ]
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CATCH_UP_RECEIVE_BUFFER)
    fleet.resume_reading(slow)
    note(chat, "the server kept slow: it reads again and must get everything")
    unanswered = fleet.sync([slow], "caught-up")
    others = frozenset(conn.index for conn in log.conns if conn is not slow)
    caught_up = judge_delivery(dataclasses.replace(log, excluded=others))
    if not unanswered and not (caught_up.lost or caught_up.duplicated or caught_up.reordered):
        return []
    why = (
        f"no PONG after {chat.timeout:g} s without progress"
        if unanswered
        else f"{caught_up.lost} lost, {caught_up.duplicated} duplicated, "
        f"{caught_up.reordered} reordered of {caught_up.expected}"
    )
    return [
        Broken(
            "LOAD-4",
            f"the slow reader was neither dropped (LEAVE {slow.name} kicked) nor got "
            f"everything once it read again: {why}",
        )
    ]


def _record_slow(
    measurements: Measurements,
    log: RunLog,
    delivery: Delivery,
    longest_wait: float,
    departure: bytes | None,
) -> None:
    plan = log.plan
    seconds = max(max(conn.times, default=log.started) for conn in log.conns) - log.started
    received = sum(conn.received_bytes for conn in log.conns if conn.index < plan.senders)
    add = measurements.add
    add("senders", "senders", plan.senders)
    add("messages_per_sender", "messages per sender", plan.messages)
    add("delivered", "deliveries to the others", delivery.delivered)
    add("lost", "lost (others)", delivery.lost)
    add("megabytes", "received by the others", round(received / 1e6, 1), "MB")
    add("megabytes_per_s", "throughput", round(received / 1e6 / max(seconds, 1e-9), 1), "MB/s")
    add("longest_wait_s", "longest wait for the next message", round(longest_wait, 4), "s")
    add("kicked", "slow reader dropped", 1 if departure is not None else 0)
