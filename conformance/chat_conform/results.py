"""The result model of a run: one result per check run, one verdict per rule, and the exit code.

Outcomes of a check: pass; fail (a MUST rule broken, or any rule with --strict); warn (a
SHOULD or MAY rule broken without --strict); skip (cannot run in this mode); error (the
harness or the check itself broke, e.g. the server did not start). A rule with no check at
all is a gap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from chat_conform.rules import RULES, SECTIONS, Level, rule_sort_key
from chat_conform.wire import TranscriptEvent

CheckOutcome = Literal["pass", "fail", "warn", "skip", "error"]
RuleOutcome = Literal["pass", "fail", "warn", "skip", "error", "gap"]
CHECK_OUTCOMES: tuple[CheckOutcome, ...] = ("pass", "fail", "warn", "skip", "error")
RULE_OUTCOMES: tuple[RuleOutcome, ...] = ("pass", "fail", "warn", "skip", "error", "gap")
# The verdict of a rule covered by several check runs is the worst of their outcomes.
_SEVERITY: tuple[CheckOutcome, ...] = ("fail", "error", "warn", "pass", "skip")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_HARNESS = 0, 1, 2, 3


@dataclass(frozen=True)
class CheckResult:
    """One run of one check."""

    name: str
    rule_ids: tuple[str, ...]
    level: Level
    outcome: CheckOutcome
    duration: float
    message: str  # why it failed, warned, was skipped or errored; empty on pass
    repetition: int = 1
    transcript: tuple[TranscriptEvent, ...] = ()
    server_stderr: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass(frozen=True)
class RuleResult:
    """The verdict on one rule, from every run of every check that covers it."""

    rule_id: str
    outcome: RuleOutcome
    checks: tuple[str, ...]  # names of the checks that cover it and ran
    note: str = ""  # for skip: why

    @property
    def level(self) -> Level:
        return RULES[self.rule_id].level

    @property
    def section(self) -> str:
        return RULES[self.rule_id].section


@dataclass
class RunResult:
    """Everything a report shows about one chat-conform run."""

    tool_version: str
    seed: int
    server: str  # the server command, or "connect HOST:PORT"
    strict: bool
    started: str  # ISO 8601
    finished: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    rules: list[RuleResult] = field(default_factory=list)
    harness_errors: list[str] = field(default_factory=list)

    @property
    def gaps(self) -> list[str]:
        return [rule.rule_id for rule in self.rules if rule.outcome == "gap"]

    def check_totals(self) -> dict[str, int]:
        return {
            outcome: sum(r.outcome == outcome for r in self.checks) for outcome in CHECK_OUTCOMES
        }

    def rule_totals(self) -> dict[str, int]:
        return {outcome: sum(r.outcome == outcome for r in self.rules) for outcome in RULE_OUTCOMES}

    def rules_by_section(self) -> list[tuple[str, list[RuleResult]]]:
        """The rule verdicts grouped by SPEC section, in SPEC order."""
        grouped = [
            (section, [rule for rule in self.rules if rule.section == section])
            for section in SECTIONS
        ]
        return [(section, rules) for section, rules in grouped if rules]

    def exit_code(self) -> int:
        """3 if the harness failed (or any check errored), 1 if a rule failed, else 0."""
        totals = self.check_totals()
        if self.harness_errors or totals["error"]:
            return EXIT_HARNESS
        if totals["fail"]:
            return EXIT_FAILED
        return EXIT_OK


def check_outcome_for_failure(level: Level, strict: bool) -> CheckOutcome:
    """A broken MUST rule fails; a broken SHOULD or MAY rule only warns unless --strict."""
    return "fail" if level == "MUST" or strict else "warn"


def judge_rules(
    rule_ids: Iterable[str], covered_by: dict[str, list[str]], results: Iterable[CheckResult]
) -> list[RuleResult]:
    """The verdict on each rule in ``rule_ids`` (SPEC order).

    ``covered_by`` maps a rule to the names of all checks that exist for it (ran or not):
    a rule with none is a gap.
    """
    results = list(results)
    verdicts = []
    for rule_id in sorted(rule_ids, key=rule_sort_key):
        runs = [result for result in results if rule_id in result.rule_ids]
        if not covered_by.get(rule_id):
            verdicts.append(RuleResult(rule_id, "gap", (), "no check covers this rule"))
        elif not runs:
            verdicts.append(RuleResult(rule_id, "skip", (), "no check for it was selected"))
        else:
            verdicts.append(_verdict(rule_id, runs))
    return verdicts


def _verdict(rule_id: str, runs: list[CheckResult]) -> RuleResult:
    outcomes = {run.outcome for run in runs}
    outcome = next(outcome for outcome in _SEVERITY if outcome in outcomes)
    names = tuple(dict.fromkeys(run.name for run in runs))
    note = ""
    if outcome == "skip":
        note = runs[0].message
    return RuleResult(rule_id, outcome, names, note)
