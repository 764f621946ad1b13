"""The pytest plugin of the dialect checks: loaded as ``-p chat_conform.dialect_plugin``.

The CLI loads it (besides ``chat_conform.plugin``) when a profile other than linechat is
chosen. It gives each dialect check its ``room`` fixture on a fresh server, or marks the
check not applicable when the profile lacks what it observes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chat_conform.dialect import Dialect, load_dialect
from chat_conform.dialect_room import Room
from chat_conform.launcher import HOST
from chat_conform.plugin import NOT_APPLICABLE_KEY, SETTINGS_KEY, session_on_fresh_server
from chat_conform.registry import CheckSpec, spec_of
from chat_conform.settings import Settings

FEATURE_MEANING = {
    "registration": "no registration steps that send anything",
    "names": "no names (no registration step sends {name})",
    "join": "no join notice ([receive] join)",
    "leave": "no leave notice ([receive] leave)",
    "exit": "no exit word ([send] exit)",
}


def not_applicable(spec: CheckSpec, dialect: Dialect) -> str | None:
    """Why ``spec`` does not apply to ``dialect`` (the profile says so, or lacks a feature)."""
    if spec.name in dialect.not_applicable:
        return f"the profile says: {dialect.not_applicable[spec.name]}"
    lacking = [feature for feature in spec.needs if feature not in dialect.features]
    if lacking:
        return "the profile has " + " and ".join(FEATURE_MEANING[f] for f in lacking)
    return None


@pytest.fixture
def room(request: pytest.FixtureRequest) -> Iterator[Room]:
    """The dialect check's handle on its own fresh server."""
    settings: Settings = request.config.stash[SETTINGS_KEY]
    spec = spec_of(getattr(request.node, "function", None))
    assert spec is not None
    dialect = load_dialect(settings.profile)
    reason = not_applicable(spec, dialect)
    if reason is not None:
        request.node.stash[NOT_APPLICABLE_KEY] = reason
        pytest.skip(reason)
    quiet = settings.quiet_period or dialect.quiet_period
    seed = f"{settings.seed}:{request.node.nodeid}"
    with session_on_fresh_server(
        request,
        spec,
        lambda server: Room(
            host=HOST,
            port=server.port,
            dialect=dialect,
            timeout=settings.timeout,
            quiet_period=quiet,
            seed=seed,
            server=server,
        ),
    ) as session:
        yield session
