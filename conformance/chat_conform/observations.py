"""What the dialect checks judge a server on, instead of SPEC rules: black-box observations.

A server that does not speak linechat/1 has no SPEC to break. What it can be judged on is
what its users see: a message reaches the others, whole, once, and the room survives a
client that resets, stays silent or stops reading. Each observation has a stable ID
(``D-FANOUT``...) that the dialect checks name the way linechat checks name rule IDs, and
is its own section in every report (one heading per observation, its checks beneath).
"""

from __future__ import annotations

from dataclasses import dataclass

from chat_conform.rules import MUST, Rule


@dataclass(frozen=True)
class Observation(Rule):
    """One observation; a :class:`Rule` whose section is itself (one heading each)."""

    title: str = ""

    @property
    def section(self) -> str:
        return self.id

    @property
    def number(self) -> int:
        return list(OBSERVATIONS).index(self.id) + 1


_OBSERVATIONS = (
    Observation(
        "D-FANOUT",
        MUST,
        "A message one client sends reaches every other connected client, exactly once, "
        "attributed to its sender as the profile describes.",
        "fan-out",
    ),
    Observation(
        "D-ECHO",
        MUST,
        "The sender of a message does not receive it back.",
        "sender exclusion",
    ),
    Observation(
        "D-INTEGRITY",
        MUST,
        "Each message arrives whole: not glued to another message, not split into pieces, "
        "not corrupted, whatever its length and script.",
        "message integrity",
    ),
    Observation(
        "D-NOTICES",
        MUST,
        "Where the profile describes join and leave notices, the others are told when a "
        "client joins, leaves with the exit word, closes or resets its connection.",
        "join and leave notices",
    ),
    Observation(
        "D-DISCONNECT",
        MUST,
        "After a client closes its connection (FIN) or resets it (RST), every other client "
        "is still served and new clients can join.",
        "abrupt departures",
    ),
    Observation(
        "D-CHURN",
        MUST,
        "Hundreds of clients connecting and leaving, while others talk, lose no message and "
        "leave the server serving.",
        "churn",
    ),
    Observation(
        "D-ISOLATION",
        MUST,
        "One client that stays silent at the prompt, or stops reading, blocks nobody else: "
        "others still join and still exchange messages.",
        "isolation from one stuck client",
    ),
    Observation(
        "D-NAMES",
        MUST,
        "A second client asking for a name already in use does not take the first one's "
        "place: the first keeps sending and receiving, also after the second leaves.",
        "duplicate names",
    ),
    Observation(
        "D-LOAD",
        MUST,
        "Many clients talking at once: every message reaches every other client, intact.",
        "load",
    ),
)

OBSERVATIONS: dict[str, Observation] = {item.id: item for item in _OBSERVATIONS}
