"""How long a full chat-conform run takes against the reference server.

Runs the whole suite with default options (parallel workers) and, side by side in the same
run, serially (``-n 0``) as the baseline, alternating the two so that a noisy machine affects
both alike. Prints each configuration's wall times, the median, and the ratio to the
baseline. Nothing is asserted: the numbers go into the README by hand.

    python bench/conform_walltime.py [--rounds 3] [-- extra chat-conform options]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

CONFIGS: dict[str, list[str]] = {
    "default (-n auto)": [],
    "baseline (-n 0)": ["-n", "0"],
}


def run_once(extra: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "chat_conform", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=1800,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"chat-conform {' '.join(extra)} exited {result.returncode}: {result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("extra", nargs="*", help="more chat-conform options (after --)")
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for round_ in range(args.rounds):
        for name, options in CONFIGS.items():
            times[name].append(run_once([*options, *args.extra]))
            print(f"round {round_ + 1}: {name}: {times[name][-1]:.1f} s", file=sys.stderr)
    baseline = statistics.median(times["baseline (-n 0)"])
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {python}")
    print(f"{'configuration':<20} {'median s':>9} {'runs':<24} {'vs baseline':>11}")
    for name, values in times.items():
        median = statistics.median(values)
        runs = " ".join(f"{v:.1f}" for v in values)
        print(f"{name:<20} {median:>9.1f} {runs:<24} {median / baseline:>10.2f}x")


if __name__ == "__main__":
    main()
