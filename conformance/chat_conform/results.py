"""The result model of a run: one result per check run, one verdict per rule, and the exit code.

Outcomes of a check: pass; fail (a MUST rule broken, or any rule with --strict); warn (a
SHOULD or MAY rule broken without --strict); skip (cannot run in this mode); error (the
harness or the check itself broke, e.g. the server did not start); na, "not applicable"
(the profile has nothing the check could observe, e.g. no join notice). A rule with no
check at all is a gap. With a dialect profile the "rules" are observations (D-FANOUT...).

The score of a server is the share of applicable check runs that passed: skipped and not
applicable ones do not count, a warning or an error counts as not passed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from chat_conform import criteria
from chat_conform.findings import ServerFinding
from chat_conform.metrics import Measurements, Threshold
from chat_conform.rules import Level
from chat_conform.wire import TranscriptEvent

CheckOutcome = Literal["pass", "fail", "warn", "skip", "error", "na"]
RuleOutcome = Literal["pass", "fail", "warn", "skip", "error", "gap", "na"]
CHECK_OUTCOMES: tuple[CheckOutcome, ...] = ("pass", "fail", "warn", "skip", "error", "na")
RULE_OUTCOMES: tuple[RuleOutcome, ...] = ("pass", "fail", "warn", "skip", "error", "gap", "na")
NOT_JUDGED: tuple[CheckOutcome, ...] = ("skip", "na")  # outside the score
# The verdict of a rule covered by several check runs is the worst of their outcomes.
_SEVERITY: tuple[CheckOutcome, ...] = ("fail", "error", "warn", "pass", "skip", "na")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_HARNESS = 0, 1, 2, 3
EXIT_THRESHOLD = 4  # every rule holds, but a measurement missed --max-p99-ms or --min-rate


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
    findings: tuple[ServerFinding, ...] = ()  # tracebacks the server printed, whatever the outcome
    broken_rules: tuple[str, ...] = ()  # a failure that names the rules it broke; (): all
    metrics: Measurements | None = None  # what a load check measured

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]

    def outcome_for(self, rule_id: str) -> CheckOutcome:
        """This run's verdict on one of its rules: a failure that names the rules it broke
        passes the others (load.run failing only ORDER-4 says nothing against ORDER-2)."""
        if self.outcome in ("fail", "warn") and self.broken_rules:
            return self.outcome if rule_id in self.broken_rules else "pass"
        return self.outcome


@dataclass(frozen=True)
class RuleResult:
    """The verdict on one rule, from every run of every check that covers it."""

    rule_id: str
    outcome: RuleOutcome
    checks: tuple[str, ...]  # names of the checks that cover it and ran
    note: str = ""  # for skip: why

    @property
    def level(self) -> Level:
        return criteria.lookup(self.rule_id).level

    @property
    def section(self) -> str:
        return criteria.lookup(self.rule_id).section


@dataclass
class RunResult:
    """Everything a report shows about one chat-conform run."""

    tool_version: str
    seed: int
    server: str  # the server command, or "connect HOST:PORT"
    strict: bool
    started: str  # ISO 8601
    finished: str = ""
    profile: str = "linechat"  # or a dialect's name
    profile_source: str = ""  # a dialect's origin: "builtin" or its file
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
        """The rule verdicts grouped by SPEC section, in SPEC order (observations: one each)."""
        grouped = [
            (section, [rule for rule in self.rules if rule.section == section])
            for section in criteria.section_order()
        ]
        return [(section, rules) for section, rules in grouped if rules]

    @property
    def is_dialect(self) -> bool:
        return self.profile != "linechat"

    def score(self) -> tuple[int, int]:
        """(passed, applicable) check runs: skipped and not applicable ones do not count."""
        applicable = [result for result in self.checks if result.outcome not in NOT_JUDGED]
        return sum(result.outcome == "pass" for result in applicable), len(applicable)

    def score_text(self) -> str:
        """``Score: 9/12 applicable checks passed (75%)``, the same in every report."""
        passed, applicable = self.score()
        if not applicable:
            return "Score: no applicable check ran"
        share = 100 * passed / applicable
        return f"Score: {passed}/{applicable} applicable checks passed ({share:.0f}%)"

    def findings_count(self) -> tuple[int, int]:
        """(tracebacks, checks whose server printed at least one)."""
        tracebacks = sum(f.count for result in self.checks for f in result.findings)
        return tracebacks, sum(bool(result.findings) for result in self.checks)

    def exit_code(self) -> int:
        """3 if the harness failed (or any check errored), 1 if a rule failed, 4 if a
        measurement missed a threshold (--max-p99-ms, --min-rate), else 0 (in that order)."""
        totals = self.check_totals()
        if self.harness_errors or totals["error"]:
            return EXIT_HARNESS
        if totals["fail"]:
            return EXIT_FAILED
        if self.missed_thresholds():
            return EXIT_THRESHOLD
        return EXIT_OK

    def missed_thresholds(self) -> list[tuple[str, Threshold]]:
        """(check name, threshold) for every --max-p99-ms / --min-rate a measurement missed."""
        return [
            (result.name, threshold)
            for result in self.checks
            if result.metrics is not None
            for threshold in result.metrics.missed
        ]


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
    for rule_id in sorted(rule_ids, key=criteria.sort_key):
        runs = [result for result in results if rule_id in result.rule_ids]
        if not covered_by.get(rule_id):
            verdicts.append(RuleResult(rule_id, "gap", (), "no check covers this rule"))
        elif not runs:
            verdicts.append(RuleResult(rule_id, "skip", (), "no check for it was selected"))
        else:
            verdicts.append(_verdict(rule_id, runs))
    return verdicts


def _verdict(rule_id: str, runs: list[CheckResult]) -> RuleResult:
    outcomes = {run.outcome_for(rule_id) for run in runs}
    outcome = next(outcome for outcome in _SEVERITY if outcome in outcomes)
    names = tuple(dict.fromkeys(run.name for run in runs))
    note = ""
    if outcome in NOT_JUDGED:
        note = runs[0].message
    return RuleResult(rule_id, outcome, names, note)
