"""The pytest plugin that runs checks: loaded as ``-p chat_conform.plugin`` by the CLI.

It runs in the CLI process and in every xdist worker. It gives each check its ``chat``
fixture (a fresh server per check, or the shared --connect server), keeps only the selected
checks, repeats them for --repeat, and attaches each check's outcome data (failure message,
transcript, server stderr) to pytest's reports as ``user_properties``, which xdist carries
back to the CLI process.

With a dialect profile the CLI also loads ``chat_conform.dialect_plugin``, whose ``room``
fixture starts the server with :func:`session_on_fresh_server` as well and marks the checks
a profile cannot run with :data:`NOT_APPLICABLE_KEY`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator
from typing import Any, Protocol, TypeVar

import pytest

from chat_conform.launcher import HOST, ServerCommand, ServerProcess, ServerStartError, start_server
from chat_conform.metrics import METRICS_KEY
from chat_conform.registry import CheckSpec, spec_of
from chat_conform.session import Chat
from chat_conform.settings import OPTION, Settings
from chat_conform.wire import NOTE, Transcript

REPORT_PROPERTY = "chat_conform"
REPETITION_FIXTURE = "chat_conform_repetition"
MAX_TRANSCRIPT_EVENTS = 5000
SERVER_STDERR_LINES = 30


class Session(Protocol):
    """What the report needs of a check's fixture: a ``Chat``, or a dialect ``Room``."""

    transcript: Transcript
    server: ServerProcess | None

    def close_all(self) -> None: ...


SessionT = TypeVar("SessionT", bound=Session)

SETTINGS_KEY = pytest.StashKey[Settings]()
CHAT_KEY = pytest.StashKey[Session]()
NOT_APPLICABLE_KEY = pytest.StashKey[str]()  # why a check cannot apply to the profile


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(OPTION, dest="chat_conform_settings", help="set by chat-conform (JSON)")


def pytest_configure(config: pytest.Config) -> None:
    raw = config.getoption("chat_conform_settings")
    if raw is None:
        raise pytest.UsageError("the checks are run by chat-conform, not by pytest directly")
    config.stash[SETTINGS_KEY] = Settings.from_json(raw)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """--repeat N: every check runs N times, as separate test items (r1 ... rN)."""
    repeat = metafunc.config.stash[SETTINGS_KEY].repeat
    if repeat > 1:
        metafunc.fixturenames.append(REPETITION_FIXTURE)
        metafunc.parametrize(
            REPETITION_FIXTURE, range(1, repeat + 1), indirect=True, ids=lambda n: f"r{n}"
        )


@pytest.fixture(name=REPETITION_FIXTURE)
def repetition(request: pytest.FixtureRequest) -> int:
    number: int = request.param
    return number


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the checks the CLI selected; let -k match check names and rule IDs too."""
    selected = set(config.stash[SETTINGS_KEY].selected)
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        spec = _spec(item)
        item.extra_keyword_matches.update({spec.name, *spec.rule_ids})
        (kept if spec.name in selected else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _spec(item: pytest.Item) -> CheckSpec:
    spec = spec_of(getattr(item, "function", None))
    if spec is None:
        raise pytest.UsageError(f"{item.nodeid} is not declared with @check")
    return spec


def reason_to_skip(spec: CheckSpec, settings: Settings) -> str | None:
    """Why ``spec`` cannot run in this mode, or None."""
    if settings.shared_server:
        if spec.needs_own_server:
            return "needs a server of its own, not possible with --connect"
        return None
    command = ServerCommand(settings.server_argv or ())
    for option in spec.server_options:
        if not command.has_placeholder(option):
            return f"the server command has no {{{option}}} placeholder"
    return None


@pytest.fixture
def chat(request: pytest.FixtureRequest) -> Iterator[Chat]:
    """The check's handle on the server: a fresh server per check, or the shared one."""
    settings: Settings = request.config.stash[SETTINGS_KEY]
    spec = _spec(request.node)
    reason = reason_to_skip(spec, settings)
    if reason is not None:
        pytest.skip(reason)
    seed = f"{settings.seed}:{request.node.nodeid}"
    if settings.connect is not None:
        host, port = settings.connect
        session = Chat(
            host=host, port=port, timeout=settings.timeout, seed=seed, shared=True, server=None
        )
        request.node.stash[CHAT_KEY] = session
        yield session
        session.close_all()
        return
    with session_on_fresh_server(
        request,
        spec,
        lambda server: Chat(
            host=HOST,
            port=server.port,
            timeout=settings.timeout,
            seed=seed,
            shared=False,
            server=server,
        ),
    ) as session:
        yield session


@contextlib.contextmanager
def session_on_fresh_server(
    request: pytest.FixtureRequest,
    spec: CheckSpec,
    make_session: Callable[[ServerProcess], SessionT],
) -> Iterator[SessionT]:
    """Start this check's own server, make its session, and always close and stop both."""
    settings: Settings = request.config.stash[SETTINGS_KEY]
    server = start_server(
        ServerCommand(settings.server_argv or ()),
        options=spec.server_options,
        startup_timeout=settings.startup_timeout,
        port=settings.fixed_port,
    )
    try:
        session = make_session(server)
        session.transcript.record(
            "server", NOTE, f"pid {server.pid} listening on {HOST}:{server.port}"
        )
        request.node.stash[CHAT_KEY] = session
        try:
            yield session
        finally:
            session.close_all()
            status = server.exit_status()
            if status is not None:
                session.transcript.record("server", NOTE, f"had exited with status {status}")
    finally:
        server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach what the CLI's report needs to each phase's report (xdist serialises it)."""
    report = yield
    spec = _spec(item)
    callspec = getattr(item, "callspec", None)
    data: dict[str, Any] = {
        "check": spec.name,
        "repetition": callspec.params.get(REPETITION_FIXTURE, 1) if callspec else 1,
    }
    if call.excinfo is not None:
        data["failure"] = _describe_exception(call.excinfo, call.when)
        if NOT_APPLICABLE_KEY in item.stash:
            data["failure"] = {"kind": "na", "message": item.stash[NOT_APPLICABLE_KEY]}
    if call.when == "teardown" and CHAT_KEY in item.stash:
        data.update(_session_data(item.stash[CHAT_KEY]))
    if call.when == "teardown" and METRICS_KEY in item.stash:
        data["metrics"] = item.stash[METRICS_KEY].to_dict()
    report.user_properties.append((REPORT_PROPERTY, data))
    return report


def _describe_exception(excinfo: pytest.ExceptionInfo[BaseException], when: str) -> dict[str, str]:
    error = excinfo.value
    if isinstance(error, pytest.skip.Exception):
        return {"kind": "skip", "message": str(error.msg)}
    if isinstance(error, ServerStartError):
        return {"kind": "error", "message": "the server did not start: " + error.describe()}
    if isinstance(error, AssertionError) and when == "call":
        # A failure may name the rules it shows broken (e.g. only a SHOULD rule): "rules".
        rules = ",".join(getattr(error, "rule_ids", ()))
        return {"kind": "fail", "message": str(error) or "assertion failed", "rules": rules}
    return {"kind": "error", "message": f"the check broke in {when}: {excinfo.exconly()}"}


def _session_data(session: Session) -> dict[str, Any]:
    events = session.transcript.events()
    data: dict[str, Any] = {
        "transcript": [event.to_dict() for event in events[-MAX_TRANSCRIPT_EVENTS:]],
        "transcript_dropped": max(0, len(events) - MAX_TRANSCRIPT_EVENTS),
    }
    if session.server is not None:
        data["server_stderr"] = session.server.stderr_tail(SERVER_STDERR_LINES)
        data["findings"] = [finding.to_dict() for finding in session.server.findings()]
    return data
