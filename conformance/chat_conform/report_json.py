"""--json: the run as JSON, schema "chat-conform/1" (described by report.schema.json).

Fields added within chat-conform/1 (older readers ignore them): ``profile``, ``score``, the
outcome "na" (not applicable), observation IDs (``D-FANOUT``) where rule IDs stood, and
each check's ``findings`` (tracebacks the server printed)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from chat_conform import criteria
from chat_conform.results import CheckResult, RuleResult, RunResult

SCHEMA_ID = "chat-conform/1"


def schema() -> dict[str, Any]:
    """The JSON Schema of the report, shipped in the package."""
    text = resources.files("chat_conform").joinpath("report.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def to_json(run: RunResult) -> dict[str, Any]:
    return {
        "schema": SCHEMA_ID,
        "tool": {"name": "chat-conform", "version": run.tool_version},
        "seed": run.seed,
        "server": run.server,
        "strict": run.strict,
        "started": run.started,
        "finished": run.finished,
        "exit_code": run.exit_code(),
        "profile": {"name": run.profile, "source": run.profile_source},
        "score": _score(run),
        "totals": {"rules": run.rule_totals(), "checks": run.check_totals()},
        "rules": [_rule(rule) for rule in run.rules],
        "checks": [_check(result) for result in run.checks],
        "gaps": run.gaps,
        "harness_errors": run.harness_errors,
    }


def _score(run: RunResult) -> dict[str, Any]:
    passed, applicable = run.score()
    ratio = round(passed / applicable, 4) if applicable else None
    return {"passed": passed, "applicable": applicable, "ratio": ratio, "text": run.score_text()}


def _rule(rule: RuleResult) -> dict[str, Any]:
    return {
        "id": rule.rule_id,
        "level": rule.level,
        "section": rule.section,
        "text": criteria.lookup(rule.rule_id).text,
        "outcome": rule.outcome,
        "checks": list(rule.checks),
        "note": rule.note,
    }


def _check(result: CheckResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "group": result.group,
        "rule_ids": list(result.rule_ids),
        "level": result.level,
        "outcome": result.outcome,
        "repetition": result.repetition,
        "duration": result.duration,
        "message": result.message,
        "transcript": [event.to_dict() for event in result.transcript],
        "server_stderr": list(result.server_stderr),
        "findings": [finding.to_dict() for finding in result.findings],
        "broken_rules": list(result.broken_rules),
        **({} if result.metrics is None else {"metrics": result.metrics.to_dict()}),
    }


def write_json(run: RunResult, path: Path) -> None:
    text = json.dumps(to_json(run), ensure_ascii=False, indent=2)
    path.write_text(text + "\n", encoding="utf-8")
