"""chat-conform's rule registry is exactly SPEC.md's list of rules, with the same levels."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from chat_conform.rules import RULES

SPEC = Path(__file__).resolve().parents[1] / "SPEC.md"
BOLD_ID = re.compile(r"\*\*([A-Z]+-[0-9]+)\*\*")


def _spec_lines() -> dict[str, str]:
    """Rule ID -> the SPEC.md line where it is defined (in bold)."""
    lines = {}
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        for rule_id in BOLD_ID.findall(line):
            lines[rule_id] = line
    return lines


def test_every_spec_rule_is_defined_once_and_registered() -> None:
    bold_ids = BOLD_ID.findall(SPEC.read_text(encoding="utf-8"))
    defined_twice = sorted(rule_id for rule_id, count in Counter(bold_ids).items() if count > 1)
    assert defined_twice == []
    assert sorted(set(bold_ids) - set(RULES)) == [], "in SPEC.md but not in chat_conform.rules"
    assert sorted(set(RULES) - set(bold_ids)) == [], "in chat_conform.rules but not in SPEC.md"


def test_should_and_may_levels_agree_with_spec() -> None:
    lines = _spec_lines()
    for rule in RULES.values():
        marked = f"**{rule.id}** ({rule.level})" in lines[rule.id]
        assert marked == (rule.level != "MUST"), f"{rule.id}: level {rule.level} vs SPEC.md"
