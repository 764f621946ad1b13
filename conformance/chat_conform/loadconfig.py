"""What a load run measures with (--clients, --senders, ...), as the checks receive it.

It travels from the CLI to the checks inside :class:`chat_conform.settings.Settings`, so it is
a plain frozen dataclass of numbers that JSON carries both ways.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

DEFAULT_CLIENTS = 100
TARGET_DELIVERIES = 1_000_000  # what --messages defaults to aim at
MIN_MESSAGES, MAX_DEFAULT_MESSAGES = 5, 1000  # the default's bounds (per-sender order needs a few)
DEFAULT_CHURN = 1000
MIN_CLIENTS = 2  # a load run needs a sender and a receiver


@dataclass(frozen=True)
class LoadConfig:
    """The load checks' parameters; None means "not given" (all senders, unpaced, no limit)."""

    clients: int = DEFAULT_CLIENTS  # N: connections that register
    senders: int | None = None  # S: how many of them send (None: all)
    messages: int | None = None  # M: messages per sender (None: about a million deliveries)
    rate: float | None = None  # offered messages/s in total (None: as fast as accepted)
    churn: int = DEFAULT_CHURN  # connect/register/leave cycles of load.churn
    max_p99_ms: float | None = None  # threshold: latency p99 at most this (exit 4 if not)
    min_rate: float | None = None  # threshold: deliveries/s at least this (exit 4 if not)

    @property
    def sender_count(self) -> int:
        return self.clients if self.senders is None else min(self.senders, self.clients)

    @property
    def message_count(self) -> int:
        """--messages, or enough for about TARGET_DELIVERIES deliveries (within bounds)."""
        if self.messages is not None:
            return self.messages
        wanted = math.ceil(TARGET_DELIVERIES / (self.sender_count * (self.clients - 1)))
        return max(MIN_MESSAGES, min(MAX_DEFAULT_MESSAGES, wanted))

    @property
    def expected_deliveries(self) -> int:
        """Every message reaches every registered client but its sender (ORDER-2)."""
        return self.sender_count * self.message_count * (self.clients - 1)

    def describe(self) -> str:
        """One line for the run's header."""
        pace = "as fast as the server takes them" if self.rate is None else f"{self.rate:g}/s"
        text = (
            f"{self.clients} clients, {self.sender_count} senders x {self.message_count} messages "
            f"({self.expected_deliveries:,} deliveries), offered {pace}; churn {self.churn}"
        )
        limits = []
        if self.max_p99_ms is not None:
            limits.append(f"p99 <= {self.max_p99_ms:g} ms")
        if self.min_rate is not None:
            limits.append(f">= {self.min_rate:g} deliveries/s")
        return text + (f"; thresholds: {', '.join(limits)}" if limits else "")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> LoadConfig:
        """The inverse of ``dataclasses.asdict``; unknown keys are ignored."""
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in (data or {}).items() if key in known})
