"""--junit: JUnit XML for CI dashboards.

One testcase per check run, named by the check's dotted name, with its group as classname.
A broken rule is a <failure>, a harness or check problem an <error>, a skip <skipped>, a
check that does not apply to the profile <skipped message="not applicable">. A SHOULD/MAY
warning passes (its text is in <system-err>). Tracebacks the server printed during a check
are in its <system-err>, whatever its outcome. Each rule that no check covers is a skipped
testcase of classname "gaps", so gaps show up on dashboards too. The suite's properties
carry the profile and the score.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

from chat_conform import criteria, loadreport
from chat_conform.results import CheckResult, RunResult
from chat_conform.wire import safe_text

NOT_APPLICABLE = "not applicable"


def to_junit(run: RunResult) -> ElementTree.Element:
    totals = run.check_totals()
    gaps = run.gaps
    counts = {
        "tests": str(len(run.checks) + len(gaps)),
        "failures": str(totals["fail"]),
        "errors": str(totals["error"] + len(run.harness_errors)),
        "skipped": str(totals["skip"] + totals["na"] + len(gaps)),
        "time": f"{sum(result.duration for result in run.checks):.3f}",
    }
    suites = ElementTree.Element("testsuites", {"name": "chat-conform", **counts})
    suite = ElementTree.SubElement(
        suites, "testsuite", {"name": "chat-conform", "timestamp": run.started, **counts}
    )
    properties = ElementTree.SubElement(suite, "properties")
    passed, applicable = run.score()
    for name, value in (
        ("seed", run.seed),
        ("server", run.server),
        ("strict", run.strict),
        ("profile", run.profile),
        ("score", f"{passed}/{applicable}"),
    ):
        ElementTree.SubElement(properties, "property", {"name": name, "value": str(value)})
    repeated = any(result.repetition > 1 for result in run.checks)
    for result in run.checks:
        _add_testcase(suite, result, repeated)
    for rule_id in gaps:
        case = ElementTree.SubElement(suite, "testcase", {"name": rule_id, "classname": "gaps"})
        ElementTree.SubElement(case, "skipped", {"message": "no check covers this rule"})
    for error in run.harness_errors:
        case = ElementTree.SubElement(
            suite, "testcase", {"name": "harness", "classname": "harness"}
        )
        _add_text(case, "error", safe_text(error), message=_first_line(error))
    return suites


def _add_testcase(suite: ElementTree.Element, result: CheckResult, repeated: bool) -> None:
    name = f"{result.name} [r{result.repetition}]" if repeated else result.name
    case = ElementTree.SubElement(
        suite,
        "testcase",
        {"name": name, "classname": result.group, "time": f"{result.duration:.3f}"},
    )
    loadreport.junit_properties(case, result)
    rules = "\n".join(
        f"{rule_id} ({criteria.lookup(rule_id).level}): {criteria.lookup(rule_id).text}"
        for rule_id in result.rule_ids
    )
    message = safe_text(result.message)
    if result.outcome == "fail":
        _add_text(case, "failure", f"{rules}\n\n{message}", message=_first_line(message))
    elif result.outcome == "error":
        _add_text(case, "error", message, message=_first_line(message))
    elif result.outcome == "skip":
        ElementTree.SubElement(case, "skipped", {"message": _first_line(message)})
    elif result.outcome == "na":
        _add_text(case, "skipped", message, message=NOT_APPLICABLE)
    errors = []
    if result.outcome == "warn":
        errors.append(f"WARNING, a {result.level} rule is broken:\n{rules}\n\n{message}")
    for finding in result.findings:
        errors.append("server traceback: " + "\n".join([finding.summary(), *finding.traceback]))
    if errors:
        _add_text(case, "system-err", safe_text("\n\n".join(errors)))
    transcript = "\n".join(safe_text(event.format()) for event in result.transcript)
    stderr = "\n".join(safe_text(line) for line in result.server_stderr)
    _add_text(case, "system-out", f"transcript:\n{transcript}\n\nserver stderr:\n{stderr}\n")


def _add_text(parent: ElementTree.Element, tag: str, text: str, *, message: str = "") -> None:
    element = ElementTree.SubElement(parent, tag, {"message": message} if message else {})
    element.text = text


def _first_line(text: str) -> str:
    return safe_text(text.split("\n", 1)[0])


def write_junit(run: RunResult, path: Path) -> None:
    tree = ElementTree.ElementTree(to_junit(run))
    ElementTree.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
