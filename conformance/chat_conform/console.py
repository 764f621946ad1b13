"""What chat-conform prints: a line per check as it completes, then the verdict per rule
(per observation with a dialect profile), the tracebacks the server printed, the details of
every failure, warning and error (rule, message, transcript, stderr), and the score."""

from __future__ import annotations

from collections.abc import Mapping

import click

from chat_conform import criteria
from chat_conform.dialect import Dialect
from chat_conform.registry import CheckSpec
from chat_conform.results import EXIT_THRESHOLD, CheckResult, RuleResult, RunResult
from chat_conform.rules import RULES

_COLOURS = {
    "pass": "green",
    "fail": "red",
    "warn": "yellow",
    "skip": "cyan",
    "error": "magenta",
    "gap": "bright_black",
    "na": "bright_black",
}
LABELS = {"na": "n/a"}  # how an outcome is shown where its code is not
_NAME_WIDTH = 44


def label(outcome: str) -> str:
    return LABELS.get(outcome, outcome)


def styled(outcome: str) -> str:
    shown = label(outcome).upper().ljust(5)
    return click.style(shown, fg=_COLOURS[outcome], bold=outcome not in ("pass", "na"))


def print_catalog(catalog: list[CheckSpec], inapplicable: Mapping[str, str]) -> None:
    """--list: every check with its rules, level and one-line summary (n/a: why not)."""
    for spec in catalog:
        rules = ",".join(spec.rule_ids)
        line = f"{spec.name:<{_NAME_WIDTH}} {rules:<16} {spec.level:<6} {spec.summary}"
        if spec.name in inapplicable:
            line += f" [n/a: {inapplicable[spec.name]}]"
        click.echo(line)
    covered = {rule_id for spec in catalog for rule_id in spec.rule_ids}
    if catalog and criteria.is_observation(catalog[0].rule_ids[0]):
        applicable = len(catalog) - len(inapplicable)
        click.echo(f"\n{len(catalog)} checks ({applicable} applicable to this profile)")
    else:
        click.echo(f"\n{len(catalog)} checks covering {len(covered)} of {len(RULES)} rules")


def print_profile(dialect: Dialect, quiet_period: float) -> None:
    """The dialect the checks speak, before they run."""
    click.echo(f"profile: {dialect.describe()}: {dialect.description}")
    click.echo(f"quiet period: {quiet_period:g} s (silence taken as 'nothing more arrived')\n")


def print_progress(result: CheckResult, *, repeat: int) -> None:
    name = result.name if repeat == 1 else f"{result.name} (r{result.repetition})"
    line = f"{styled(result.outcome)} {name:<{_NAME_WIDTH}} {','.join(result.rule_ids):<16}"
    line += f" {result.duration:6.2f} s"
    if result.outcome in ("skip", "na"):
        line += f"  {result.message}"
    if result.findings:
        count = sum(finding.count for finding in result.findings)
        line += click.style(f"  (server traceback x{count})", fg="magenta")
    click.echo(line)


def print_summary(run: RunResult) -> None:
    if run.is_dialect:
        _print_observations(run)
    else:
        _print_rules(run)
    click.echo("")
    kind = "Observations:" if run.is_dialect else "Rules: "
    hidden = ("gap",) if run.is_dialect else ()  # every observation has its checks
    click.echo(f"{kind} " + _totals(run.rule_totals(), hidden))
    click.echo(("Checks:       " if run.is_dialect else "Checks: ") + _totals(run.check_totals()))
    if run.gaps:
        click.echo(f"Gaps (rules no check covers): {', '.join(run.gaps)}")
    _print_findings(run)


def _print_rules(run: RunResult) -> None:
    click.echo("\nResults by rule")
    for section, rules in run.rules_by_section():
        click.echo(click.style(f"{section}: {criteria.section_title(section)}", bold=True))
        for rule in rules:
            what = ", ".join(rule.checks) if rule.outcome != "skip" else rule.note
            if rule.outcome == "gap":
                what = rule.note
            click.echo(f"  {rule.rule_id:<9} {rule.level:<6} {styled(rule.outcome)} {what}")


def _print_observations(run: RunResult) -> None:
    """One section per observation: its verdict and text, then each of its checks."""
    click.echo(f"\nResults by observation (profile {run.profile})")
    for rule in run.rules:
        _print_observation(run, rule)


def _print_observation(run: RunResult, rule: RuleResult) -> None:
    observation = criteria.lookup(rule.rule_id)
    title = f"{rule.rule_id}: {criteria.section_title(rule.section)}"
    click.echo(f"{styled(rule.outcome)} " + click.style(title, bold=True))
    click.echo(f"      {observation.text}")
    for result in run.checks:
        if rule.rule_id in result.rule_ids:
            why = f"  {result.message}" if result.outcome in ("skip", "na") else ""
            click.echo(f"      {styled(result.outcome)} {result.name}{why}")
    if rule.outcome == "skip" and not rule.checks:
        click.echo(f"      {rule.note}")


def _print_findings(run: RunResult) -> None:
    """Every traceback the server printed, per check, whatever the check's verdict."""
    tracebacks, checks = run.findings_count()
    if not tracebacks:
        return
    click.echo(
        click.style(
            f"\nServer tracebacks: {tracebacks} in {checks} check(s), passed or not "
            "(a thread that died is a bug even when the others are still served)",
            fg="magenta",
            bold=True,
        )
    )
    for result in run.checks:
        for finding in result.findings:
            click.echo(f"  {result.name} ({label(result.outcome)}): {finding.summary()}")


def _totals(totals: dict[str, int], hidden: tuple[str, ...] = ()) -> str:
    shown = {o: n for o, n in totals.items() if o not in hidden and (n or o != "na")}
    return ", ".join(f"{count} {label(outcome)}" for outcome, count in shown.items())


def print_details(run: RunResult, *, verbose: bool) -> None:
    """Every failure, warning and error in full; with --verbose every check."""
    shown = ("fail", "warn", "error", "pass", "skip") if verbose else ("fail", "warn", "error")
    for result in run.checks:
        if result.outcome in shown:
            _print_result(result)
    for error in run.harness_errors:
        click.echo(click.style("\n== HARNESS ERROR ==", fg="magenta", bold=True))
        click.echo(error)


def _print_result(result: CheckResult) -> None:
    outcome = label(result.outcome).upper()
    title = f"{outcome} {result.name} ({', '.join(result.rule_ids)}, {result.level})"
    click.echo(click.style(f"\n== {title} ==", fg=_COLOURS[result.outcome], bold=True))
    for rule_id in result.rule_ids:
        rule = criteria.lookup(rule_id)
        click.echo(f"{rule.id} ({rule.level}): {rule.text}")
    if result.message:
        click.echo(click.style(result.message, bold=True))
    _print_events(result)
    for finding in result.findings:
        click.echo(f"server traceback: {finding.summary()}")
        for line in finding.traceback:
            click.echo(f"  {line}")
    if result.server_stderr:
        click.echo("server stderr (last lines):")
        for line in result.server_stderr:
            click.echo(f"  {line}")


def _print_events(result: CheckResult) -> None:
    if result.transcript:
        click.echo("transcript (seconds since the check began; > sent, < received, * note):")
        for event in result.transcript:
            click.echo(f"  {event.format()}")


def print_verdict(run: RunResult) -> None:
    code = run.exit_code()
    failed = sorted({r.rule_id for r in run.rules if r.outcome == "fail"})
    warned = sorted({r.rule_id for r in run.rules if r.outcome == "warn"})
    kind = "observations" if run.is_dialect else "rules"
    click.echo("\n" + click.style(run.score_text(), bold=True))
    if code == 3:
        text = click.style("chat-conform: the harness failed (see the errors above)", fg="magenta")
    elif code == 1:
        text = click.style(f"chat-conform: FAILED {kind}: {', '.join(failed)}", fg="red", bold=True)
    elif code == EXIT_THRESHOLD:
        missed = ", ".join(f"{item.option} ({name})" for name, item in run.missed_thresholds())
        text = click.style(f"chat-conform: the rules hold, but missed {missed}", fg="yellow")
    elif run.is_dialect:
        text = click.style("chat-conform: every applicable check passed", fg="green")
    else:
        text = click.style("chat-conform: all MUST rules that were checked hold", fg="green")
        if warned:
            text += click.style(f" (warnings: {', '.join(warned)})", fg="yellow")
    click.echo(text + f" (exit {code})")
