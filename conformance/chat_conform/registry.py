"""The ``@check`` decorator and the catalogue of every check, with its stable name and rules.

There are two catalogues: the linechat/1 checks (``@check``, in ``chat_conform.checks``,
naming SPEC rules) and the dialect checks (``@dialect_check``, in
``chat_conform.dialect_checks``, naming observations) that a non-linechat profile runs.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chat_conform import criteria
from chat_conform.dialect import FEATURES
from chat_conform.launcher import DEFAULT_SERVER_OPTIONS
from chat_conform.observations import OBSERVATIONS
from chat_conform.rules import RULES, Level

LINECHAT_CATALOG, DIALECT_CATALOG = "linechat", "dialect"
CHECKS_PACKAGE = "chat_conform.checks"
PACKAGES = {LINECHAT_CATALOG: CHECKS_PACKAGE, DIALECT_CATALOG: "chat_conform.dialect_checks"}
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
    catalog: str = LINECHAT_CATALOG  # or DIALECT_CATALOG
    needs: tuple[str, ...] = ()  # dialect features (dialect.FEATURES) it cannot do without

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def level(self) -> Level:
        return criteria.strongest_level(self.rule_ids)

    def sort_key(self) -> tuple[tuple[int, int], str]:
        return (min(criteria.sort_key(rule_id) for rule_id in self.rule_ids), self.name)


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
        spec = CheckSpec(
            name=name,
            rule_ids=tuple(rule_ids),
            summary=_summary(function, name, "chat"),
            server_options=options,
            needs_own_server=needs_own_server or bool(options),
            source=_source(function),
        )
        return _register(function, spec)

    return register


def _summary(function: Callable[..., Any], name: str, fixture: str) -> str:
    """The docstring's first line; raise TypeError for a function that cannot be a check."""
    doc = inspect.getdoc(function)
    if not function.__name__.startswith("test_") or not doc:
        raise TypeError(f"check {name}: a test_... function with a docstring is required")
    if fixture not in inspect.signature(function).parameters:
        raise TypeError(f"check {name}: the function must take the `{fixture}` fixture")
    return doc.splitlines()[0]


def _source(function: Callable[..., Any]) -> str:
    return f"{function.__module__.rsplit('.', 1)[-1]}:{function.__qualname__}"


def _register(function: CheckFunction, spec: CheckSpec) -> CheckFunction:
    known = _CHECKS.get(spec.name)
    if known is not None and known.source != spec.source:
        raise TypeError(f"check name {spec.name} is used twice: {known.source}, {spec.source}")
    _CHECKS[spec.name] = spec
    setattr(function, SPEC_ATTRIBUTE, spec)
    return function


def dialect_check(
    name: str, *observation_ids: str, needs: tuple[str, ...] = ()
) -> Callable[[CheckFunction], CheckFunction]:
    """Declare a pytest test function as a dialect check (run by non-linechat profiles).

    It names observations (``D-FANOUT``...) instead of rules, takes the ``room`` fixture,
    and is not applicable to a profile that lacks one of the features in ``needs``.
    """
    _validate_ids(name, observation_ids, OBSERVATIONS, "observation")
    if set(needs) - set(FEATURES):
        raise ValueError(f"dialect check {name}: unknown feature in {needs}")

    def register(function: CheckFunction) -> CheckFunction:
        spec = CheckSpec(
            name=name,
            rule_ids=tuple(observation_ids),
            summary=_summary(function, name, "room"),
            needs_own_server=True,
            source=_source(function),
            catalog=DIALECT_CATALOG,
            needs=needs,
        )
        return _register(function, spec)

    return register


def _validate_ids(name: str, ids: tuple[str, ...], known: Mapping[str, object], kind: str) -> None:
    """A check's name has the dotted form and it names at least one known rule/observation."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"check name {name!r} is not of the form group.what-it-checks")
    if not ids:
        raise ValueError(f"check {name}: name at least one {kind}")
    unknown = [item for item in ids if item not in known]
    if unknown:
        raise ValueError(f"check {name}: unknown {kind} {unknown[0]}")


def _validate(name: str, rule_ids: tuple[str, ...], options: Mapping[str, int]) -> None:
    _validate_ids(name, rule_ids, RULES, "rule ID")
    bad_options = sorted(set(options) - set(DEFAULT_SERVER_OPTIONS))
    if bad_options:
        raise ValueError(f"check {name}: unknown server option {bad_options[0]}")


def spec_of(function: object) -> CheckSpec | None:
    """The spec a function was declared with, or None if it is not a check."""
    spec = getattr(function, SPEC_ATTRIBUTE, None)
    return spec if isinstance(spec, CheckSpec) else None


def load_catalog(catalog: str = LINECHAT_CATALOG) -> list[CheckSpec]:
    """Import every check module of ``catalog`` and return its checks in SPEC order."""
    name = PACKAGES[catalog]
    package = importlib.import_module(name)
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("test_"):
            importlib.import_module(f"{name}.{module.name}")
    specs = [spec for spec in _CHECKS.values() if spec.catalog == catalog]
    return sorted(specs, key=CheckSpec.sort_key)
