"""What chat-conform prints: a line per check as it completes, then the verdict per rule,
then the details of every failure, warning and error (rule, message, transcript, stderr)."""

from __future__ import annotations

import click

from chat_conform.registry import CheckSpec
from chat_conform.results import CheckResult, RunResult
from chat_conform.rules import RULES, SECTIONS

_COLOURS = {
    "pass": "green",
    "fail": "red",
    "warn": "yellow",
    "skip": "cyan",
    "error": "magenta",
    "gap": "bright_black",
}
_NAME_WIDTH = 44


def styled(outcome: str) -> str:
    return click.style(outcome.upper().ljust(5), fg=_COLOURS[outcome], bold=outcome != "pass")


def print_catalog(catalog: list[CheckSpec]) -> None:
    """--list: every check with its rules, level and one-line summary."""
    for spec in catalog:
        rules = ",".join(spec.rule_ids)
        click.echo(f"{spec.name:<{_NAME_WIDTH}} {rules:<16} {spec.level:<6} {spec.summary}")
    covered = {rule_id for spec in catalog for rule_id in spec.rule_ids}
    click.echo(f"\n{len(catalog)} checks covering {len(covered)} of {len(RULES)} rules")


def print_progress(result: CheckResult, *, repeat: int) -> None:
    name = result.name if repeat == 1 else f"{result.name} (r{result.repetition})"
    line = f"{styled(result.outcome)} {name:<{_NAME_WIDTH}} {','.join(result.rule_ids):<16}"
    line += f" {result.duration:6.2f} s"
    if result.outcome == "skip":
        line += f"  {result.message}"
    click.echo(line)


def print_summary(run: RunResult) -> None:
    click.echo("\nResults by rule")
    for section, rules in run.rules_by_section():
        click.echo(click.style(f"{section}: {SECTIONS[section]}", bold=True))
        for rule in rules:
            what = ", ".join(rule.checks) if rule.outcome != "skip" else rule.note
            if rule.outcome == "gap":
                what = rule.note
            click.echo(f"  {rule.rule_id:<9} {rule.level:<6} {styled(rule.outcome)} {what}")
    click.echo("")
    click.echo("Rules:  " + _totals(run.rule_totals()))
    click.echo("Checks: " + _totals(run.check_totals()))
    if run.gaps:
        click.echo(f"Gaps (rules no check covers): {', '.join(run.gaps)}")


def _totals(totals: dict[str, int]) -> str:
    return ", ".join(f"{count} {outcome}" for outcome, count in totals.items())


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
    title = f"{result.outcome.upper()} {result.name} ({', '.join(result.rule_ids)}, {result.level})"
    click.echo(click.style(f"\n== {title} ==", fg=_COLOURS[result.outcome], bold=True))
    for rule_id in result.rule_ids:
        rule = RULES[rule_id]
        click.echo(f"{rule.id} ({rule.level}): {rule.text}")
    if result.message:
        click.echo(click.style(result.message, bold=True))
    _print_events(result)
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
    if code == 3:
        text = click.style("chat-conform: the harness failed (see the errors above)", fg="magenta")
    elif code == 1:
        text = click.style(f"chat-conform: FAILED rules: {', '.join(failed)}", fg="red", bold=True)
    else:
        text = click.style("chat-conform: all MUST rules that were checked hold", fg="green")
        if warned:
            text += click.style(f" (warnings: {', '.join(warned)})", fg="yellow")
    click.echo("\n" + text + f" (exit {code})")
