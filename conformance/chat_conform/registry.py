"""The ``@check`` decorator and the catalogue of every check, with its stable name and rules."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chat_conform.launcher import DEFAULT_SERVER_OPTIONS
from chat_conform.rules import RULES, Level, rule_sort_key, strongest_level

CHECKS_PACKAGE = "chat_conform.checks"
SPEC_ATTRIBUTE = "_chat_conform_check"
_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\.[a-z0-9]+(?:-[a-z0-9]+)*")

CheckFunction = TypeVar("CheckFunction", bound=Callable[..., Any])


@dataclass(frozen=True)
class CheckSpec:
    """What the report says about a check: its stable dotted name and the rules it covers."""

    name: str  # "<group>.<what>", e.g. "broadcast.sender-exclusion"; never renamed
    rule_ids: tuple[str, ...]
    summary: str  # the first line of the check's docstring
    server_options: Mapping[str, int] = field(default_factory=dict)
    needs_own_server: bool = False  # reconfigures or stops the server: not with --connect
    source: str = ""  # module:function, to tell a re-import from a duplicate name

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def level(self) -> Level:
        return strongest_level(self.rule_ids)

    def sort_key(self) -> tuple[tuple[int, int], str]:
        return (min(rule_sort_key(rule_id) for rule_id in self.rule_ids), self.name)


_CHECKS: dict[str, CheckSpec] = {}


def check(
    name: str,
    *rule_ids: str,
    server_options: Mapping[str, int] | None = None,
    needs_own_server: bool = False,
) -> Callable[[CheckFunction], CheckFunction]:
    """Declare a pytest test function as a conformance check.

    ``server_options`` (e.g. ``{"max_clients": 2}``) are given to a fresh server through the
    placeholders of its command; a check that needs them, or that stops the server
    (``needs_own_server=True``), is skipped with --connect.
    """
    options = dict(server_options or {})
    _validate(name, rule_ids, options)

    def register(function: CheckFunction) -> CheckFunction:
        doc = inspect.getdoc(function)
        if not function.__name__.startswith("test_") or not doc:
            raise TypeError(f"check {name}: a test_... function with a docstring is required")
        if "chat" not in inspect.signature(function).parameters:
            raise TypeError(f"check {name}: the function must take the `chat` fixture")
        spec = CheckSpec(
            name=name,
            rule_ids=tuple(rule_ids),
            summary=doc.splitlines()[0],
            server_options=options,
            needs_own_server=needs_own_server or bool(options),
            source=f"{function.__module__.rsplit('.', 1)[-1]}:{function.__qualname__}",
        )
        known = _CHECKS.get(name)
        if known is not None and known.source != spec.source:
            raise TypeError(f"check name {name} is used twice: {known.source}, {spec.source}")
        _CHECKS[name] = spec
        setattr(function, SPEC_ATTRIBUTE, spec)
        return function

    return register


def _validate(name: str, rule_ids: tuple[str, ...], options: Mapping[str, int]) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError(f"check name {name!r} is not of the form group.what-it-checks")
    if not rule_ids:
        raise ValueError(f"check {name}: name at least one rule ID")
    unknown = [rule_id for rule_id in rule_ids if rule_id not in RULES]
    if unknown:
        raise ValueError(f"check {name}: unknown rule ID {unknown[0]}")
    bad_options = sorted(set(options) - set(DEFAULT_SERVER_OPTIONS))
    if bad_options:
        raise ValueError(f"check {name}: unknown server option {bad_options[0]}")


def spec_of(function: object) -> CheckSpec | None:
    """The spec a function was declared with, or None if it is not a check."""
    spec = getattr(function, SPEC_ATTRIBUTE, None)
    return spec if isinstance(spec, CheckSpec) else None


def load_catalog() -> list[CheckSpec]:
    """Import every check module and return all checks in SPEC order."""
    package = importlib.import_module(CHECKS_PACKAGE)
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("test_"):
            importlib.import_module(f"{CHECKS_PACKAGE}.{module.name}")
    return sorted(_CHECKS.values(), key=CheckSpec.sort_key)
