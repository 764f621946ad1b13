"""Turns pytest's per-phase reports into CheckResults, in the CLI process.

With xdist the checks run in worker processes; their reports (with the data the plugin put
in ``user_properties``) arrive here through ``pytest_runtest_logreport``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from chat_conform import criteria
from chat_conform.findings import ServerFinding
from chat_conform.metrics import Measurements
from chat_conform.plugin import REPORT_PROPERTY
from chat_conform.registry import CheckSpec
from chat_conform.results import CheckOutcome, CheckResult, check_outcome_for_failure
from chat_conform.wire import NOTE, TranscriptEvent


@dataclass
class _Phases:
    """What is known so far about one test item (setup, call, teardown reports)."""

    data: dict[str, Any] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)  # when -> passed/failed/skipped
    failures: dict[str, dict[str, str]] = field(default_factory=dict)  # when -> kind, message
    duration: float = 0.0
    details: str = ""  # pytest's traceback text, for errors


class ResultCollector:
    """A pytest plugin object: collects results and reports each one as it completes."""

    def __init__(
        self,
        catalog: Mapping[str, CheckSpec],
        *,
        strict: bool,
        on_result: Callable[[CheckResult], None],
    ) -> None:
        self.results: list[CheckResult] = []
        self.harness_errors: list[str] = []
        self._catalog = catalog
        self._strict = strict
        self._on_result = on_result
        self._items: dict[str, _Phases] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        phases = self._items.setdefault(report.nodeid, _Phases())
        when = str(report.when)
        for key, value in report.user_properties:
            if key == REPORT_PROPERTY and isinstance(value, dict):
                failure = value.pop("failure", None)
                if failure is not None:
                    phases.failures[when] = failure
                phases.data.update(value)
        phases.outcomes[when] = report.outcome
        phases.duration += report.duration
        if report.failed and not phases.details:
            phases.details = report.longreprtext
        if report.when not in ("setup", "call"):  # teardown, or "???" for a crashed worker
            self._finish(report.nodeid, self._items.pop(report.nodeid))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.harness_errors.append(
                f"cannot load the checks of {report.nodeid or 'the checks package'}:\n"
                + report.longreprtext
            )

    def pytest_internalerror(self, excrepr: object) -> None:
        self.harness_errors.append(f"pytest internal error:\n{excrepr}")

    def _finish(self, nodeid: str, phases: _Phases) -> None:
        spec = self._catalog.get(str(phases.data.get("check", "")))
        if spec is None:
            self.harness_errors.append(f"{nodeid}: {phases.details or 'no result'}")
            return
        outcome, message = self._judge(spec, phases)
        result = CheckResult(
            name=spec.name,
            rule_ids=spec.rule_ids,
            level=spec.level,
            outcome=outcome,
            duration=round(phases.duration, 3),
            message=message,
            repetition=int(phases.data.get("repetition", 1)),
            transcript=_transcript(phases.data),
            server_stderr=tuple(phases.data.get("server_stderr", ())),
            findings=tuple(ServerFinding.from_dict(f) for f in phases.data.get("findings", ())),
            broken_rules=_broken_rules(spec, phases.failures.get("call", {})),
            metrics=_metrics(phases.data),
        )
        self.results.append(result)
        self._on_result(result)

    def _judge(self, spec: CheckSpec, phases: _Phases) -> tuple[CheckOutcome, str]:
        """The outcome of the first phase that did not pass, and its message."""
        if "???" in phases.outcomes:
            return "error", f"the worker running this check crashed:\n{phases.details}"
        for when in ("setup", "call", "teardown"):
            outcome = phases.outcomes.get(when, "passed")
            failure = phases.failures.get(when, {})
            message = failure.get("message", "")
            if outcome == "skipped":
                return ("na" if failure.get("kind") == "na" else "skip"), message
            if outcome == "failed" and failure.get("kind") == "fail":
                broken = _broken_rules(spec, failure)
                level = criteria.strongest_level(broken) if broken else spec.level
                return check_outcome_for_failure(level, self._strict), message
            if outcome == "failed":
                traceback = phases.details if when == "call" else ""
                return "error", "\n".join(part for part in (message, traceback) if part)
        return "pass", ""


def _broken_rules(spec: CheckSpec, failure: Mapping[str, str]) -> tuple[str, ...]:
    """The check's rules its failure names as broken; () means all of them."""
    named = failure.get("rules", "").split(",") if failure.get("kind") == "fail" else []
    return tuple(rule_id for rule_id in named if rule_id in spec.rule_ids)


def _metrics(data: Mapping[str, Any]) -> Measurements | None:
    raw = data.get("metrics")
    return None if raw is None else Measurements.from_dict(raw)


def _transcript(data: Mapping[str, Any]) -> tuple[TranscriptEvent, ...]:
    events = [TranscriptEvent(**event) for event in data.get("transcript", ())]
    dropped = int(data.get("transcript_dropped", 0))
    if dropped:
        first_time = events[0].time if events else 0.0
        events.insert(
            0,
            TranscriptEvent(first_time, "chat-conform", NOTE, f"{dropped} earlier events not kept"),
        )
    return tuple(events)
