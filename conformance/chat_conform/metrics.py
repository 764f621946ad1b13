"""Measurements a check reports besides its verdict: numbers, notes, thresholds, charts.

A load check fills a :class:`Measurements` (its ``measurements`` fixture). The plugin carries
it to the CLI process in the teardown report's ``user_properties`` (as a dict, like the
transcript), and the reports show it: console lines, JSON ``metrics``, JUnit properties, and
in HTML two small charts (latency over time, latency histogram).

Thresholds (--max-p99-ms, --min-rate) are not rules: a missed one does not fail the check,
it makes the run exit with status 4 (see :data:`chat_conform.results.EXIT_THRESHOLD`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pytest


@dataclass(frozen=True)
class Value:
    """One measured number, e.g. ``latency_p99_ms`` = 3.2 (ms)."""

    key: str  # stable, for JSON consumers: "deliveries_per_s", "latency_p99_ms", ...
    label: str  # for people: "latency p99"
    value: float
    unit: str = ""  # "ms", "/s", "s", "MB", or "" for a count

    def shown(self) -> str:
        number = f"{self.value:.0f}" if self.value == int(self.value) else f"{self.value:.3g}"
        if abs(self.value) >= 1000:
            number = f"{self.value:,.0f}"
        return f"{number} {self.unit}".rstrip()


@dataclass(frozen=True)
class Threshold:
    """A limit the user set on a measured value, and whether the value kept it."""

    option: str  # "--max-p99-ms"
    key: str  # the Value it limits
    limit: float
    value: float
    held: bool

    def shown(self) -> str:
        verdict = "held" if self.held else "MISSED"
        return f"{self.option} {self.limit:g}: measured {self.value:.4g}, {verdict}"


@dataclass
class Measurements:
    """What one run of a load check measured."""

    values: list[Value] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. the load client's ceiling
    thresholds: list[Threshold] = field(default_factory=list)
    # (seconds since sending began, p50 ms, p99 ms, max ms), one row per time slice
    latency_series: list[tuple[float, float, float, float]] = field(default_factory=list)
    # (from ms, to ms, deliveries), consecutive buckets
    latency_histogram: list[tuple[float, float, int]] = field(default_factory=list)

    def add(self, key: str, label: str, value: float, unit: str = "") -> None:
        self.values.append(Value(key, label, float(value), unit))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def value(self, key: str) -> float | None:
        return next((item.value for item in self.values if item.key == key), None)

    def limit(self, option: str, key: str, limit: float | None, *, at_most: bool) -> None:
        """Judge the value ``key`` against a user's threshold (nothing if no limit is set)."""
        value = self.value(key)
        if limit is None or value is None:
            return
        held = value <= limit if at_most else value >= limit
        self.thresholds.append(Threshold(option, key, limit, value, held))

    @property
    def missed(self) -> list[Threshold]:
        return [threshold for threshold in self.thresholds if not threshold.held]

    def is_empty(self) -> bool:
        return not (self.values or self.notes or self.thresholds)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurements:
        return cls(
            values=[Value(**item) for item in data.get("values", ())],
            notes=[str(note) for note in data.get("notes", ())],
            thresholds=[Threshold(**item) for item in data.get("thresholds", ())],
            latency_series=[
                (float(t), float(p50), float(p99), float(top))
                for t, p50, p99, top in data.get("latency_series", ())
            ],
            latency_histogram=[
                (float(low), float(high), int(count))
                for low, high, count in data.get("latency_histogram", ())
            ],
        )


METRICS_KEY = pytest.StashKey[Measurements]()  # a check's measurements, on its test item
