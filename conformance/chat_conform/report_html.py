"""--html: one self-contained page (inline CSS, no external asset, everything escaped)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from chat_conform import criteria, loadreport
from chat_conform.results import EXIT_THRESHOLD, CheckResult, RuleResult, RunResult
from chat_conform.wire import safe_text

_CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; width: 100%; }
td, th { border-bottom: 1px solid #ddd; padding: .25em .5em; text-align: left; }
td { vertical-align: top; }
tr.section th { background: #f3f3f3; }
.outcome { font-weight: bold; text-transform: uppercase; white-space: nowrap; }
.pass { color: #1a7f37; } .fail { color: #cf222e; } .warn { color: #9a6700; }
.skip { color: #0969da; } .error { color: #8250df; } .gap, .na { color: #6e7781; }
.finding { color: #8250df; }
pre { background: #f6f8fa; padding: .6em; overflow-x: auto; font-size: 13px; }
details { margin: .4em 0; } summary { cursor: pointer; }
.message { white-space: pre-wrap; font-weight: bold; }
table.metrics { width: auto; } svg { display: block; margin: .6em 0; }
"""


def _text(text: str) -> str:
    return escape(safe_text(text))


def _outcome(outcome: str) -> str:
    shown = "n/a" if outcome == "na" else outcome
    return f'<span class="outcome {outcome}">{shown}</span>'


def to_html(run: RunResult) -> str:
    verdict = {0: "all MUST rules that were checked hold", 1: "rules failed", 3: "harness failure"}
    verdict[EXIT_THRESHOLD] = "the rules hold, but a load threshold was missed"
    if run.is_dialect:
        verdict.update({0: "every applicable check passed", 1: "checks failed"})
    code = run.exit_code()
    totals = ", ".join(f"{count} {outcome}" for outcome, count in run.rule_totals().items())
    subject = f"profile {run.profile}" if run.is_dialect else "linechat/1 conformance"
    profile = run.profile + (f" ({run.profile_source})" if run.profile_source else "")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>chat-conform report</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>chat-conform report: {_text(subject)}</h1>",
        "<table>",
        f"<tr><th>Verdict</th><td>{_text(verdict.get(code, ''))} (exit {code})</td></tr>",
        f"<tr><th>Score</th><td>{_text(run.score_text())}</td></tr>",
        f"<tr><th>Profile</th><td>{_text(profile)}</td></tr>",
        f"<tr><th>Server</th><td><code>{_text(run.server)}</code></td></tr>",
        f"<tr><th>Seed</th><td>{run.seed}</td></tr>",
        f"<tr><th>Run</th><td>{_text(run.started)} to {_text(run.finished)}</td></tr>",
        f"<tr><th>Tool</th><td>chat-conform {_text(run.tool_version)}</td></tr>",
        f"<tr><th>{'Observations' if run.is_dialect else 'Rules'}</th>"
        f"<td>{_text(totals)}</td></tr>",
        "</table>",
        *_rule_table(run),
        *_findings(run),
        *_harness_errors(run),
        "<h2>Checks</h2>",
        *(_check_details(result) for result in run.checks),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _rule_table(run: RunResult) -> list[str]:
    kind = "observation" if run.is_dialect else "rule"
    rows = [f"<h2>Results by {kind}</h2>", "<table>"]
    rows.append(f"<tr><th>{kind.title()}</th><th>Level</th><th>Outcome</th><th>Checks</th></tr>")
    for section, rules in run.rules_by_section():
        title = _text(criteria.section_title(section))
        rows.append(f'<tr class="section"><th colspan="4">{section}: {title}</th></tr>')
        for rule in rules:
            rows.append(_rule_row(run, rule))
    rows.append("</table>")
    if run.gaps:
        rows.append(f"<p>Gaps (rules no check covers): {_text(', '.join(run.gaps))}</p>")
    return rows


def _rule_row(run: RunResult, rule: RuleResult) -> str:
    """A rule with the checks that ran for it; an observation with each check's outcome."""
    what = _text(", ".join(rule.checks) if rule.checks else rule.note)
    if run.is_dialect:
        checks = [result for result in run.checks if rule.rule_id in result.rule_ids]
        what = "<br>".join(
            f"{_outcome(result.outcome)} {_text(result.name)}"
            + (f" ({_text(result.message)})" if result.outcome in ("skip", "na") else "")
            for result in checks
        )
    return (
        f'<tr><td title="{_text(criteria.lookup(rule.rule_id).text)}">{rule.rule_id}</td>'
        f"<td>{rule.level}</td><td>{_outcome(rule.outcome)}</td><td>{what}</td></tr>"
    )


def _findings(run: RunResult) -> list[str]:
    """Every traceback the server printed, per check, passed or not."""
    tracebacks, checks = run.findings_count()
    if not tracebacks:
        return []
    rows = [
        "<h2>Server tracebacks</h2>",
        f"<p>{tracebacks} in {checks} check(s), whatever their outcome: a thread that died is "
        "a bug even when the others are still served.</p>",
        "<table><tr><th>Check</th><th>Outcome</th><th>Traceback</th></tr>",
    ]
    for result in run.checks:
        for finding in result.findings:
            rows.append(
                f'<tr><td><a href="#{escape(result.name)}">{escape(result.name)}</a></td>'
                f"<td>{_outcome(result.outcome)}</td>"
                f'<td class="finding">{_text(finding.summary())}</td></tr>'
            )
    rows.append("</table>")
    return rows


def _harness_errors(run: RunResult) -> list[str]:
    if not run.harness_errors:
        return []
    return [
        "<h2>Harness errors</h2>",
        *(f"<pre>{_text(error)}</pre>" for error in run.harness_errors),
    ]


def _check_details(result: CheckResult) -> str:
    title = f"{result.name}" + (f" (r{result.repetition})" if result.repetition > 1 else "")
    rules = "".join(
        f"<li><b>{rule_id}</b> ({criteria.lookup(rule_id).level}): "
        f"{_text(criteria.lookup(rule_id).text)}</li>"
        for rule_id in result.rule_ids
    )
    body = [f"<ul>{rules}</ul>"]
    if result.message:
        body.append(f'<p class="message">{_text(result.message)}</p>')
    body.extend(loadreport.html_measurements(result.metrics))
    if result.transcript:
        lines = "\n".join(_text(event.format()) for event in result.transcript)
        legend = "seconds since the check began; &gt; sent, &lt; received, * note"
        body.append(f"<p>Transcript ({legend}):</p><pre>{lines}</pre>")
    for finding in result.findings:
        text = "\n".join(_text(line) for line in finding.traceback)
        body.append(
            f'<p class="finding">Server traceback: {_text(finding.summary())}</p><pre>{text}</pre>'
        )
    if result.server_stderr:
        stderr = "\n".join(_text(line) for line in result.server_stderr)
        body.append(f"<p>Server stderr (last lines):</p><pre>{stderr}</pre>")
    is_open = " open" if result.outcome in ("fail", "error", "warn") or result.findings else ""
    return (
        f'<details id="{escape(title)}"{is_open}><summary>{_outcome(result.outcome)} '
        f"<b>{escape(title)}</b> {escape(', '.join(result.rule_ids))} "
        f"({result.duration:.2f} s)</summary>{''.join(body)}</details>"
    )


def write_html(run: RunResult, path: Path) -> None:
    path.write_text(to_html(run), encoding="utf-8")
