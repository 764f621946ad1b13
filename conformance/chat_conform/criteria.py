"""What a check is judged against: a SPEC rule (linechat profile) or a dialect observation.

Reports, the catalogue and the verdicts look IDs up here, so that ``FRAME-4`` and
``D-FANOUT`` are handled alike. The two sets never mix in one run: the linechat profile's
checks name rules, the dialect checks name observations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from chat_conform.observations import OBSERVATIONS
from chat_conform.rules import MAY, MUST, RULES, SECTIONS, SHOULD, Level, Rule


def lookup(criterion_id: str) -> Rule:
    """The rule or observation with this ID (KeyError if there is none)."""
    found = RULES.get(criterion_id) or OBSERVATIONS.get(criterion_id)
    if found is None:
        raise KeyError(criterion_id)
    return found


def is_observation(criterion_id: str) -> bool:
    return criterion_id in OBSERVATIONS


def universe(dialect: bool) -> Mapping[str, Rule]:
    """Every criterion a run judges by default: all rules, or all observations."""
    return OBSERVATIONS if dialect else RULES


def section_order() -> list[str]:
    """SPEC sections in SPEC order, then one section per observation."""
    return [*SECTIONS, *OBSERVATIONS]


def section_title(section: str) -> str:
    if section in SECTIONS:
        return SECTIONS[section]
    return OBSERVATIONS[section].title


def sort_key(criterion_id: str) -> tuple[int, int]:
    """SPEC order for rules (section, then number); observations after them, in order."""
    item = lookup(criterion_id)
    return (section_order().index(item.section), item.number)


def strongest_level(criterion_ids: Iterable[str]) -> Level:
    """The level of a check covering several criteria: MUST if any of them is a MUST."""
    levels = {lookup(criterion_id).level for criterion_id in criterion_ids}
    for level in (MUST, SHOULD, MAY):
        if level in levels:
            return level
    raise ValueError("a check must cover at least one rule or observation")
