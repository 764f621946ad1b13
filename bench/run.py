"""Fan-out benchmark: the reference server against a naive baseline and Redis pub/sub.

For every number of clients (10, 100, 1000) and both modes (flood, paced), each target is
started fresh, loaded by the same client (``bench/loadgen.py``, in this process), measured
and stopped; the targets alternate within one run, so a machine that gets busier halfway
affects them all alike. Targets: the reference server (``python -m linechat.server``), the
naive baseline (``bench/naive_server.py``), Redis pub/sub when ``redis-server`` is on PATH,
and, in flood mode, ``bench/flood_server.py``: the load client's own ceiling.

Per row: deliveries/s, latency p50/p99, the server's CPU time per delivery (utime + stime
from /proc over the measured interval), its peak RSS (VmHWM), the load client's CPU use,
and ratios against the baseline and against Redis. Nothing is asserted; the numbers go into
docs/performance.md (``--markdown`` prints that page's measured part).

    python bench/run.py [--quick] [--rounds 3] [--markdown]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from loadgen import LoadResult, LoadSpec, Mode, Protocol, measure

BENCH = Path(__file__).resolve().parent
START_SECONDS = 15.0
STOP_SECONDS = 5.0
REFERENCE, NAIVE, REDIS, CEILING = "reference", "naive", "redis", "ceiling"
BUSY_CORES = 0.2
"""CPU used by other processes during a measurement above which its row says so."""
DOCS = BENCH.parent / "docs" / "performance.md"
BEGIN, END = "<!-- bench/run.py --write-docs: begin -->", "<!-- bench/run.py --write-docs: end -->"


@dataclass(frozen=True)
class Target:
    name: str
    protocol: Protocol
    modes: tuple[Mode, ...]
    command: Callable[[int], list[str]]
    """The command line, given a free port (used by Redis only: the others take port 0)."""


TARGETS = [
    Target(
        REFERENCE,
        "linechat",
        ("flood", "paced"),
        lambda _: [
            *(sys.executable, "-m", "linechat.server", "--port", "0"),
            *("--max-clients", "2000", "--log-level", "warning"),
        ],
    ),
    Target(
        NAIVE,
        "linechat",
        ("flood", "paced"),
        lambda _: [sys.executable, str(BENCH / "naive_server.py"), "--port", "0"],
    ),
    Target(
        REDIS,
        "redis",
        ("flood", "paced"),
        lambda port: [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--protected-mode", "no"),
        ],
    ),
    Target(
        CEILING,
        "linechat",
        ("flood",),
        lambda _: [sys.executable, str(BENCH / "flood_server.py"), "--port", "0"],
    ),
]


@dataclass(frozen=True)
class Measurement:
    result: LoadResult
    peak_rss_mb: float


@dataclass
class Row:
    """One (mode, clients, target) cell, over every round."""

    mode: Mode
    clients: int
    target: str
    runs: list[Measurement] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def median(self, value: Callable[[Measurement], float | None]) -> float | None:
        values = [v for run in self.runs if (v := value(run)) is not None]
        return statistics.median(values) if values else None

    @property
    def rate(self) -> float | None:
        return self.median(lambda m: m.result.deliveries_per_s)

    @property
    def p50(self) -> float | None:
        return self.median(lambda m: m.result.p50_ms)

    @property
    def p99(self) -> float | None:
        return self.median(lambda m: m.result.p99_ms)

    @property
    def cpu(self) -> float | None:
        return self.median(lambda m: m.result.server_cpu_us_per_delivery)

    @property
    def rss(self) -> float | None:
        return self.median(lambda m: m.peak_rss_mb)

    @property
    def client_cpu(self) -> float | None:
        return self.median(lambda m: m.result.client_cpu_share)

    def notes(self) -> str:
        """What makes a number suspect: losses, kicked clients, failures, a busy machine."""
        lost = sum(m.result.lost or 0 for m in self.runs)
        closed = sum(m.result.closed for m in self.runs)
        others = self.median(lambda m: m.result.others_cpu_share)
        notes = [
            f"lost {lost}" if lost > 0 else "",
            f"{-lost} unexpected lines" if lost < 0 else "",
            f"{closed} closed by server" if closed else "",
            f"others busy {others:.1f} cores" if others and others > BUSY_CORES else "",
            *(f"failed: {failure}" for failure in self.failures),
        ]
        return "; ".join(n for n in notes if n)


# -- servers


@dataclass(frozen=True)
class Server:
    pid: int
    port: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def running(target: Target) -> Iterator[Server]:
    """Start ``target`` in its own process group; stop it by PID however the block ends."""
    port = free_port() if target.name == REDIS else 0
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            target.command(port),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            if target.name == REDIS:
                wait_for_redis(process, port)
            else:
                port = read_listening_port(process)
            yield Server(process.pid, port)
        except (OSError, RuntimeError) as exc:
            stderr.seek(0)
            tail = stderr.read()[-500:].decode("utf-8", "replace")
            raise RuntimeError(f"{target.name}: {exc} {tail}".strip()) from exc
        finally:
            stop(process)


def read_listening_port(process: subprocess.Popen[bytes]) -> int:
    """The port from the first stdout line, ``listening on 127.0.0.1:<port>``."""
    assert process.stdout is not None
    line = _read_line(process.stdout, START_SECONDS)
    prefix = b"listening on 127.0.0.1:"
    port = line.removeprefix(prefix)
    if port == line or not port.isdigit():
        raise RuntimeError(f"exited {process.poll()}, first line {line!r}")
    return int(port)


def _read_line(stream: IO[bytes], timeout: float) -> bytes:
    """One line from a pipe, waiting at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while not data.endswith(b"\n") and (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                break
            chunk = os.read(stream.fileno(), 1)
            if not chunk:
                break
            data += chunk
    return data.strip()


def wait_for_redis(process: subprocess.Popen[bytes], port: int) -> None:
    """Ready when it answers PING."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            s.sendall(b"PING\r\n")
            if s.recv(64).startswith(b"+PONG"):
                return
        time.sleep(0.05)
    raise RuntimeError(f"redis-server (exit {process.poll()}) never answered PING")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, then SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_SECONDS)
    if process.stdout:
        process.stdout.close()


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


# -- the run


def measure_one(
    target: Target, clients: int, mode: Mode, options: argparse.Namespace
) -> Measurement:
    with running(target) as server:
        spec = LoadSpec(
            protocol=target.protocol,
            port=server.port,
            clients=clients,
            mode=mode,
            senders=options.senders,
            rate=options.rate,
            warmup=options.warmup,
            duration=options.duration,
            window=options.window,
            server_pid=server.pid,
        )
        result = measure(spec)
        return Measurement(result, peak_rss_mb(server.pid))


def run_all(targets: list[Target], options: argparse.Namespace) -> list[Row]:
    rows = {
        (mode, clients, target.name): Row(mode, clients, target.name)
        for mode in options.modes
        for clients in options.clients
        for target in targets
        if mode in target.modes
    }
    total = len(rows) * options.rounds
    done = 0
    for round_ in range(options.rounds):
        for mode in options.modes:
            for index, clients in enumerate(options.clients):
                here = [t for t in targets if mode in t.modes]
                shift = (round_ + index) % len(here)  # each target goes first in turn
                for target in here[shift:] + here[:shift]:
                    done += 1
                    row = rows[mode, clients, target.name]
                    label = f"[{done}/{total}] {mode} N={clients} {target.name}"
                    try:
                        row.runs.append(measure_one(target, clients, mode, options))
                    except (OSError, RuntimeError) as exc:
                        row.failures.append(str(exc)[:200])
                        print(f"{label}: FAILED {exc}", file=sys.stderr)
                        continue
                    result = row.runs[-1].result
                    print(f"{label}: {result.deliveries_per_s / 1e6:.2f} M/s", file=sys.stderr)
    return list(rows.values())


# -- the report


def ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}" if value is not None and base else "-"


def number(value: float | None, digits: int) -> str:
    return f"{value:.{digits}f}" if value is not None else "-"


def rate_text(value: float | None) -> str:
    return f"{value / 1e6:.2f} M" if value is not None else "-"


HEADER = [
    *("mode", "N", "target", "deliveries/s", "p50 ms", "p99 ms", "CPU µs/deliv", "RSS MB"),
    *("client CPU", "rate ×naive", "p99 ×naive", "CPU ×naive"),
    *("rate ×redis", "p99 ×redis", "CPU ×redis", "notes"),
]


def table(rows: list[Row]) -> list[list[str]]:
    index = {(r.mode, r.clients, r.target): r for r in rows}
    lines = []
    for row in rows:
        naive = index.get((row.mode, row.clients, NAIVE))
        redis = index.get((row.mode, row.clients, REDIS))
        ceiling = row.target == CEILING  # its latency and CPU say nothing about a server
        cells = [
            row.mode,
            str(row.clients),
            "load-client ceiling" if ceiling else row.target,
            rate_text(row.rate),
            "-" if ceiling else number(row.p50, 2),
            "-" if ceiling else number(row.p99, 2),
            "-" if ceiling else number(row.cpu, 2),
            "-" if ceiling else number(row.rss, 1),
            f"{row.client_cpu:.0%}" if row.client_cpu is not None else "-",
        ]
        for base in (naive, redis):
            if ceiling or base is None or base is row:
                cells += ["-", "-", "-"]
            else:
                cells += [ratio(row.rate, base.rate), ratio(row.p99, base.p99)]
                cells += [ratio(row.cpu, base.cpu)]
        lines.append([*cells, row.notes()])
    return lines


def verdicts(rows: list[Row]) -> list[str]:
    """The reference server against the targets set for it, as measured in this run."""
    index = {(r.mode, r.clients, r.target): r for r in rows}
    found = []

    def check(mode: Mode, clients: int, what: str, limit: float, higher_is_better: bool) -> None:
        ours, redis = index.get((mode, clients, REFERENCE)), index.get((mode, clients, REDIS))
        if ours is None or redis is None:
            return
        value, base = getattr(ours, what), getattr(redis, what)
        if value is None or not base:
            return
        x = value / base
        met = x >= limit if higher_is_better else x <= limit
        bound = f"{'>=' if higher_is_better else '<='} {limit}x"
        label = {"rate": "deliveries/s", "p99": "p99", "cpu": "CPU/delivery"}[what]
        found.append(
            f"{mode} N={clients}: {label} {x:.2f}x Redis (target {bound}): "
            + ("met" if met else "NOT met")
        )

    for clients in (10, 100, 1000):
        check("flood", clients, "rate", 1.0, higher_is_better=True)
    for clients in (100, 1000):
        check("paced", clients, "p99", 1.5, higher_is_better=False)
        check("paced", clients, "cpu", 1.5, higher_is_better=False)
    return found


def git(*arguments: str) -> str:
    """A read-only git query about this checkout; empty when git is missing."""
    try:
        done = subprocess.run(
            ["git", "-C", str(BENCH), *arguments], capture_output=True, timeout=10, check=False
        )
    except OSError:
        return ""
    return done.stdout.decode("utf-8", "replace").strip()


def machine() -> list[str]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    redis = "not installed"
    if shutil.which("redis-server"):
        out = subprocess.run(
            ["redis-server", "--version"], capture_output=True, timeout=10, check=False
        ).stdout.decode("utf-8", "replace")
        redis = out.split()[2].removeprefix("v=") if len(out.split()) > 2 else out.strip()
    source = f"commit {git('rev-parse', '--short', 'HEAD') or 'unknown'}"
    if git("status", "--porcelain", "--", "reference"):
        source += " with uncommitted changes in reference/"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"CPU: {os.cpu_count()} × {model}",
        f"kernel: Linux {platform.release()}; Python {platform.python_version()}; Redis {redis}",
        f"source: {source}; load average at start: {load}",
    ]


def print_text(rows: list[Row], about: list[str], command: str) -> None:
    cells = [HEADER, *table(rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADER))]
    print("\n".join([*about, f"command: {command}"]))
    for line in cells:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
    print("\n".join(verdicts(rows)))


def markdown(rows: list[Row], about: list[str], command: str) -> str:
    lines = [*(f"- {line}" for line in about), f"- command: `{command}`", ""]
    lines += ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    lines += ["| " + " | ".join(line) + " |" for line in table(rows)]
    lines += ["", *(f"- {line}" for line in verdicts(rows))]
    return "\n".join(lines)


def write_docs(report: str) -> None:
    """Replace the measured part of docs/performance.md, between its two markers."""
    text = DOCS.read_text(encoding="utf-8")
    head, found, rest = text.partition(BEGIN)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        sys.exit(f"{DOCS}: markers {BEGIN!r} and {END!r} not found")
    DOCS.write_text(f"{head}{BEGIN}\n{report}\n{END}{tail}", encoding="utf-8")
    print(f"updated {DOCS}", file=sys.stderr)


def raise_file_limit() -> None:
    """The load client holds a socket per client; each server inherits the raised limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(8192, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=10,100 only, 1 s per run")
    parser.add_argument("--rounds", type=int, default=1, help="repeat; report medians")
    parser.add_argument(
        "--clients", type=lambda s: [int(n) for n in s.split(",")], help="e.g. 10,100,1000"
    )
    parser.add_argument(
        "--modes", type=lambda s: s.split(","), default=["flood", "paced"], help="flood,paced"
    )
    parser.add_argument(
        "--targets",
        type=lambda s: s.split(","),
        help="from reference,naive,redis,ceiling (default: all there)",
    )
    parser.add_argument("--duration", type=float, help="measured seconds per run (3)")
    parser.add_argument("--warmup", type=float, help="seconds before measuring (0.5)")
    parser.add_argument("--senders", type=int, default=10, help="sending clients")
    parser.add_argument("--rate", type=float, default=50_000, help="paced deliveries/s")
    parser.add_argument("--window", type=int, default=50_000, help="flood deliveries in flight")
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    parser.add_argument(
        "--write-docs", action="store_true", help="also put it into docs/performance.md"
    )
    options = parser.parse_args()
    if unknown := set(options.modes) - {"flood", "paced"}:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    if unknown := set(options.targets or ()) - {t.name for t in TARGETS}:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    options.clients = options.clients or ([10, 100] if options.quick else [10, 100, 1000])
    options.duration = options.duration or (1.0 if options.quick else 3.0)
    options.warmup = options.warmup or (0.3 if options.quick else 0.5)
    return options


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so that every server started is stopped on the way out."""
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    options = parse_args()
    targets = [t for t in TARGETS if t.name != REDIS or shutil.which("redis-server")]
    if options.targets:
        targets = [t for t in targets if t.name in options.targets]
    raise_file_limit()
    if os.getloadavg()[0] > BUSY_CORES * (os.cpu_count() or 1):
        print(f"warning: the machine is busy (load {os.getloadavg()[0]:.2f})", file=sys.stderr)
    command = " ".join(["python", "bench/run.py", *sys.argv[1:]])
    about = machine()  # before the run loads the machine
    try:
        rows = run_all(targets, options)
    except KeyboardInterrupt:
        print("interrupted: every server started has been stopped", file=sys.stderr)
        sys.exit(130)
    if options.markdown or options.write_docs:
        report = markdown(rows, about, command)
        print(report)
        if options.write_docs:
            write_docs(report)
    else:
        print_text(rows, about, command)


if __name__ == "__main__":
    main()
