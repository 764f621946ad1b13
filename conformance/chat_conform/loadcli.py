"""``chat-conform --load``: its options, and which checks a run with or without it selects.

--load runs only the measurement checks (``checks/test_loadrun.py``: load.run, load.storm,
load.storm-thousand, load.churn, load.slow-reader), one at a time so that they do not compete
for the machine, and judges only the rules they cover; ``--only``, ``--skip`` and ``-k`` then
choose among them (``--load --only ORDER``, ``--load -k storm``). A plain run leaves them out,
also for ``--only ORDER-2`` or ``--only load`` (which keep meaning the quick checks), unless
``--only`` names one by its check name (``--only load.run``: run with the default sizes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from chat_conform.loadconfig import (
    DEFAULT_CHURN,
    DEFAULT_CLIENTS,
    MIN_CLIENTS,
    MIN_MESSAGES,
    TARGET_DELIVERIES,
    LoadConfig,
)
from chat_conform.registry import CheckSpec
from chat_conform.rules import Rule
from chat_conform.selection import Selection, SelectionError, select

MEASUREMENT_MODULE = "test_loadrun"  # the checks --load runs
LOAD_PARAMETERS = ("clients", "senders", "messages", "rate", "churn", "max_p99_ms", "min_rate")

Command = TypeVar("Command", bound=Callable[..., Any])

_positive = click.FloatRange(min=0, min_open=True)


def options(command: Command) -> Command:
    """Add --load and its parameters to the chat-conform command."""
    decorators = [
        click.option(
            "--load", "load", is_flag=True, help="Run the load measurements only (see below)."
        ),
        click.option(
            "--clients",
            type=click.IntRange(min=MIN_CLIENTS),
            metavar="N",
            help=f"Load: clients that register [default: {DEFAULT_CLIENTS}].",
        ),
        click.option(
            "--senders",
            type=click.IntRange(min=1),
            metavar="S",
            help="Load: how many of them send [default: all].",
        ),
        click.option(
            "--messages",
            type=click.IntRange(min=1),
            metavar="M",
            help=f"Load: messages per sender [default: about {TARGET_DELIVERIES:,} deliveries "
            f"in all, at least {MIN_MESSAGES}].",
        ),
        click.option(
            "--rate",
            type=_positive,
            metavar="MSG/S",
            help="Load: offered messages/s in total [default: as fast as accepted].",
        ),
        click.option(
            "--churn",
            type=click.IntRange(min=1),
            metavar="K",
            help=f"Load: clients that come and go in load.churn [default: {DEFAULT_CHURN}].",
        ),
        click.option(
            "--max-p99-ms",
            type=_positive,
            metavar="MS",
            help="Load: exit 4 if the latency p99 is higher.",
        ),
        click.option(
            "--min-rate",
            type=_positive,
            metavar="N/S",
            help="Load: exit 4 if fewer deliveries/s.",
        ),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def check_options(options: Mapping[str, Any]) -> None:
    """Usage errors: impossible combinations of the load options."""
    if options["load"] and options.get("dialect") is not None:
        raise click.UsageError("--load works with the linechat profile only")
    clients = options.get("clients") or DEFAULT_CLIENTS
    if (options.get("senders") or 0) > clients:
        raise click.UsageError(f"--senders {options['senders']} is more than --clients {clients}")


def config(options: Mapping[str, Any]) -> LoadConfig:
    """The load parameters the checks get; defaults for the ones not given."""
    given = {name: options[name] for name in LOAD_PARAMETERS if options.get(name) is not None}
    return LoadConfig(**given)


def is_measurement(spec: CheckSpec) -> bool:
    return spec.source.partition(":")[0] == MEASUREMENT_MODULE


def selection(
    catalog: list[CheckSpec], options: Mapping[str, Any], universe: Mapping[str, Rule]
) -> Selection:
    """The checks and rules of this run (raises SelectionError for an unknown token, and for
    load options in a run without a load check)."""
    if not options["load"]:
        chosen = select(catalog, options["only"], options["skip"], universe)
        named = {token.strip().lower() for token in (options["only"] or "").split(",")}
        checks = tuple(
            spec for spec in chosen.checks if not is_measurement(spec) or spec.name in named
        )
        given = [name for name in LOAD_PARAMETERS if options.get(name) is not None]
        if given and not runs_serially(checks):
            flag = "--" + given[0].replace("_", "-")
            raise SelectionError(f"{flag} applies to the load checks: add --load")
        return Selection(checks=checks, rule_ids=chosen.rule_ids)
    measurements = [spec for spec in catalog if is_measurement(spec)]
    chosen = select(measurements, options["only"], options["skip"], universe)
    covered = {rule_id for spec in chosen.checks for rule_id in spec.rule_ids}
    return Selection(
        checks=chosen.checks,
        rule_ids=tuple(rule_id for rule_id in chosen.rule_ids if rule_id in covered),
    )


def runs_serially(checks: tuple[CheckSpec, ...]) -> bool:
    """Measurements run one at a time: parallel checks would measure each other."""
    return any(is_measurement(spec) for spec in checks)


def describe(load: LoadConfig) -> str:
    return f"load: {load.describe()}"
