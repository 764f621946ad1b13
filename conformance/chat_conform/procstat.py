"""What a launched server holds: open file descriptors, threads and resident memory (/proc).

The server runs in its own process group (a ``sh -c`` wrapper may be the direct child), so
the numbers are summed over every process of that group. Linux only: elsewhere, and when
the server is not a local process (--connect), there is nothing to read.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
# How far the numbers may stay above where they started and still count as "returned".
FD_MARGIN = 10
THREAD_MARGIN = 5
RSS_MARGIN_SHARE = 0.20
RSS_MARGIN_BYTES = 10 << 20


@dataclass(frozen=True)
class Usage:
    """Resources of a process group at one moment."""

    processes: int
    fds: int
    threads: int
    rss_bytes: int

    def shown(self) -> str:
        return (
            f"{self.fds} open files, {self.threads} threads, "
            f"{self.rss_bytes / (1 << 20):.1f} MB resident ({self.processes} processes)"
        )


def available() -> bool:
    return (PROC / "self" / "status").exists()


def group_usage(group: int) -> Usage | None:
    """The summed usage of process group ``group``, or None if none of it can be read."""
    processes = fds = threads = rss = 0
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
            if int(stat.rpartition(")")[2].split()[2]) != group:  # field 5: pgrp
                continue
            status = _status_fields(entry / "status")
            count = len(os.listdir(entry / "fd"))
            processes += 1
            fds += count
            threads += int(status.get("Threads", "0"))
            rss += int(status.get("VmRSS", "0 kB").split()[0]) * 1024
    return Usage(processes, fds, threads, rss) if processes else None


def _status_fields(path: Path) -> dict[str, str]:
    fields = {}
    for line in path.read_text(encoding="ascii", errors="replace").splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def excess(before: Usage, after: Usage) -> list[str]:
    """What did not return near its starting value (empty: everything did)."""
    rss_margin = max(RSS_MARGIN_SHARE * before.rss_bytes, RSS_MARGIN_BYTES)
    problems = []
    if after.fds > before.fds + FD_MARGIN:
        problems.append(f"open files {before.fds} -> {after.fds} (more than +{FD_MARGIN})")
    if after.threads > before.threads + THREAD_MARGIN:
        problems.append(f"threads {before.threads} -> {after.threads} (more than +{THREAD_MARGIN})")
    if after.rss_bytes > before.rss_bytes + rss_margin:
        problems.append(
            f"resident memory {before.rss_bytes / (1 << 20):.1f} -> "
            f"{after.rss_bytes / (1 << 20):.1f} MB "
            f"(more than +{RSS_MARGIN_SHARE:.0%} or +{RSS_MARGIN_BYTES >> 20} MB)"
        )
    return problems
