"""--only / --skip: which checks run, and which rules the report covers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chat_conform import criteria
from chat_conform.registry import CheckSpec
from chat_conform.rules import RULES, Rule


class SelectionError(ValueError):
    """A token names no rule ID, section, check group or check."""


@dataclass(frozen=True)
class Selection:
    checks: tuple[CheckSpec, ...]  # the checks to run
    rule_ids: tuple[str, ...]  # the rules the report judges (in SPEC order)


def _matches(
    token: str, catalog: list[CheckSpec], universe: Mapping[str, Rule]
) -> tuple[set[str], set[str]]:
    """(check names, rule IDs) a token stands for; raise SelectionError for unknown tokens."""
    upper, lower = token.upper(), token.lower()
    rules: set[str] = set()
    if upper in universe:
        rules = {upper}
    elif _is_section(upper, universe):
        rules = {rule_id for rule_id, rule in universe.items() if rule.section == upper}
    checks = {spec.name for spec in catalog if rules.intersection(spec.rule_ids)}
    named = [spec for spec in catalog if lower in (spec.name, spec.group)]
    checks |= {spec.name for spec in named}
    rules |= {rule_id for spec in named for rule_id in spec.rule_ids}
    if not rules:
        what = "rule ID, section" if universe is RULES else "observation ID"
        raise SelectionError(f"unknown {what}, check group or check name: {token}")
    return checks, rules


def _tokens(text: str | None) -> list[str]:
    return [token.strip() for token in (text or "").split(",") if token.strip()]


def _is_section(token: str, universe: Mapping[str, Rule]) -> bool:
    return any(rule.section == token for rule in universe.values())


def select(
    catalog: list[CheckSpec],
    only: str | None,
    skip: str | None,
    universe: Mapping[str, Rule] = RULES,
) -> Selection:
    """Apply --only (default: everything) and then --skip to the catalogue.

    ``universe`` is what the run judges: the SPEC rules, or a dialect's observations.
    """
    names = {spec.name for spec in catalog}
    rule_ids = set(universe)
    if _tokens(only):
        names, rule_ids = set(), set()
        for token in _tokens(only):
            matched_checks, matched_rules = _matches(token, catalog, universe)
            names |= matched_checks
            rule_ids |= matched_rules
    for token in _tokens(skip):
        skipped_checks, skipped_rules = _matches(token, catalog, universe)
        names -= skipped_checks
        if token.upper() in universe or _is_section(token.upper(), universe):
            rule_ids -= skipped_rules
    return Selection(
        checks=tuple(spec for spec in catalog if spec.name in names),
        rule_ids=tuple(sorted(rule_ids, key=criteria.sort_key)),
    )
