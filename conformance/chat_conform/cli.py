"""chat-conform: check that a chat server speaks linechat/1, rule by rule.

The CLI validates its options, starts the server once as a pre-flight (a server that cannot
start stops the run at once with exit 3), then runs the checks as pytest tests, in this
process, with pytest-xdist, and with a pytest configuration of its own so that the project
it runs in (its pytest.ini, conftest.py, plugins) never applies to the checks.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import click
import pytest

from chat_conform import console, criteria, loadcli, loadreport
from chat_conform.collector import ResultCollector
from chat_conform.dialect import LINECHAT, Dialect, DialectError, load_dialect
from chat_conform.dialect_plugin import not_applicable
from chat_conform.launcher import ServerCommand, ServerStartError, running_server
from chat_conform.registry import DIALECT_CATALOG, LINECHAT_CATALOG, CheckSpec, load_catalog
from chat_conform.report_html import write_html
from chat_conform.report_json import write_json
from chat_conform.report_junit import write_junit
from chat_conform.results import (
    EXIT_HARNESS,
    EXIT_OK,
    CheckResult,
    RunResult,
    judge_rules,
)
from chat_conform.selection import Selection, SelectionError
from chat_conform.settings import OPTION, Settings
from chat_conform.wire import escape

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKS_DIR = PACKAGE_DIR / "checks"
DIALECT_CHECKS_DIR = PACKAGE_DIR / "dialect_checks"
PYTEST_INI = PACKAGE_DIR / "pytest.ini"
REFERENCE_SERVER = (
    sys.executable,
    *("-m", "linechat.server", "--host", "127.0.0.1", "--port", "{port}"),
    *("--max-clients", "{max_clients}", "--max-output", "{max_output}"),
    *("--idle-timeout", "{idle_timeout}"),
)

EPILOG = """\b
Exit status:
  0  every MUST rule checked holds (SHOULD/MAY failures are warnings)
  1  a rule failed (with --strict, SHOULD and MAY failures count too)
  2  usage error (bad option or combination)
  3  the server could not be started, or the harness failed
  4  every rule held, but a load measurement missed --max-p99-ms or --min-rate
  (when several apply, the first of 3, 1, 4 wins)
\b
Placeholders in --server: {port} (a free port; without it the port is in the
environment as PORT), {max_clients}, {max_output} and {idle_timeout} (values the
checks choose, seconds for {idle_timeout} with 0 meaning no limit; checks that need
one are skipped when it is missing).
\b
Profiles: linechat (linechat/1 itself, rule by rule), relay, name-prompt, or a
TOML file describing another dialect; a dialect is judged on observations (D-...),
each check passes, fails, or is not applicable to the profile.
\b
Load (--load): only the measurement checks run, one at a time: N clients, S of
them sending M marked messages each (lost, duplicated, reordered, latency, rate),
a connection storm, churn, and a slow reader. Latency and rate fail only against
--max-p99-ms and --min-rate (exit 4). The load client's own ceiling is printed
beside the results.
\b
Examples:
  chat-conform
  chat-conform --server "python my_server.py --port {port}"
  chat-conform --server "./server" --port 5000
  chat-conform --connect 127.0.0.1:5000 --only WHO,PING
  chat-conform --load --clients 1000 --max-p99-ms 50 --json load.json
  chat-conform --profile name-prompt --server "python server.py" --port 8080
  chat-conform --profile my-dialect.toml --server "python server.py --port {port}"
"""


def _version() -> str:
    try:
        return metadata.version("linechat")
    except metadata.PackageNotFoundError:
        return "unknown"


class _OneLineErrors(click.Command):
    """Usage errors as one line on stderr (exit 2), not Click's three-line block."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            status = super().main(*args, **kwargs)
        except click.ClickException as error:
            click.echo(f"chat-conform: error: {error.format_message()}", err=True)
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("chat-conform: interrupted", err=True)
            sys.exit(EXIT_HARNESS)
        except Exception:  # a bug in chat-conform must not look like "a rule failed" (1)
            traceback.print_exc()
            click.echo("chat-conform: internal error (see the traceback above)", err=True)
            sys.exit(EXIT_HARNESS)
        sys.exit(status or EXIT_OK)


def _parse_address(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def _parse_workers(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value != "auto" and not (value.isdigit() and int(value) >= 0):
        raise click.BadParameter(f"expected a number of workers or 'auto', got {value!r}")
    return value


def _parse_profile(ctx: click.Context, param: click.Parameter, value: str) -> Dialect | None:
    """None for linechat; else the dialect, validated (a bad profile is a usage error)."""
    if value == LINECHAT:
        return None
    try:
        return load_dialect(value)
    except DialectError as error:
        raise click.BadParameter(str(error)) from error


def _report_path(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and not value.resolve().parent.is_dir():
        raise click.BadParameter(f"directory {str(value.parent)!r} does not exist")
    return value


_positive = click.FloatRange(min=0, min_open=True)
_report_file = click.Path(dir_okay=False, path_type=Path)


@click.command(
    cls=_OneLineErrors,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--profile",
    "dialect",
    default=LINECHAT,
    callback=_parse_profile,
    show_default=True,
    metavar="NAME|FILE",
    help="What the server speaks: linechat, relay, name-prompt, or a profile .toml file.",
)
@click.option("--server", "server_text", metavar="CMD", help="Server command line (see below).")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    metavar="N",
    help="The server's hard-coded port (checks then run one at a time).",
)
@click.option(
    "--connect",
    metavar="HOST:PORT",
    callback=_parse_address,
    help="Check an already running server (checks needing their own are skipped).",
)
@click.option(
    "--startup-timeout",
    type=_positive,
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="How long a server may take to listen.",
)
@click.option(
    "--timeout",
    type=_positive,
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="How long each wait for a line may take.",
)
@click.option(
    "-n",
    "--workers",
    default="auto",
    callback=_parse_workers,
    show_default=True,
    metavar="N|auto",
    help="Checks run in parallel (0 = one at a time).",
)
@click.option(
    "--quiet-period",
    type=_positive,
    metavar="SECONDS",
    help="Dialects: silence that counts as 'nothing more arrived' (default: the profile's).",
)
@click.option("--only", metavar="IDS", help="Rule IDs, sections, groups or checks (comma list).")
@click.option("--skip", metavar="IDS", help="Rule IDs, sections, groups or checks to leave out.")
@click.option("-k", "keyword", metavar="EXPR", help="pytest -k expression on check names.")
@click.option("--list", "list_only", is_flag=True, help="List every check and exit.")
@click.option("--strict", is_flag=True, help="SHOULD and MAY failures fail the run.")
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=1,
    metavar="N",
    help="Run every check N times (to catch flaky behaviour).",
)
@click.option("--seed", type=int, metavar="N", help="Seed of names and payloads (default: random).")
@click.option("--json", "json_path", type=_report_file, callback=_report_path, help="JSON report.")
@click.option("--junit", "junit_path", type=_report_file, callback=_report_path, help="JUnit XML.")
@click.option("--html", "html_path", type=_report_file, callback=_report_path, help="HTML report.")
@click.option("-v", "--verbose", is_flag=True, help="Show the transcript of every check.")
@loadcli.options
@click.version_option(_version(), prog_name="chat-conform")
def main(**options: Any) -> int:
    """Check that a chat server follows the linechat/1 protocol, rule by rule.

    Each check starts the server afresh (--server, default: the bundled reference server),
    talks to it over TCP and reports which SPEC rule it breaks and why. With --profile, a
    server that speaks another dialect is checked on what its users observe instead.
    """
    _check_combinations(options)
    loadcli.check_options(options)
    dialect: Dialect | None = options["dialect"]
    catalog = load_catalog(LINECHAT_CATALOG if dialect is None else DIALECT_CATALOG)
    inapplicable = _inapplicable(catalog, dialect)
    if options["list_only"]:
        console.print_catalog(catalog, inapplicable)
        return EXIT_OK
    try:
        selection = loadcli.selection(catalog, options, criteria.universe(dialect is not None))
    except SelectionError as error:
        raise click.UsageError(str(error)) from error
    settings = _settings(options, selection)
    run = RunResult(
        tool_version=_version(),
        seed=settings.seed,
        server=_describe_server(settings),
        strict=options["strict"],
        started=_now(),
        profile=LINECHAT if dialect is None else dialect.name,
        profile_source="" if dialect is None else dialect.source,
    )
    workers = "0 (serial: load)" if loadcli.runs_serially(selection.checks) else options["workers"]
    _print_header(run, settings, workers, len(selection.checks))
    if options["load"]:
        click.echo(loadcli.describe(settings.load) + "\n")
    if dialect is not None:
        console.print_profile(dialect, settings.quiet_period or dialect.quiet_period)
    if selection.checks:
        preflight_error = _preflight(settings, greeting_hint=dialect is None)
        if preflight_error is not None:
            click.echo(f"chat-conform: {preflight_error}", err=True)
            return EXIT_HARNESS
        results = _run_checks(settings, selection, options, run)
        if results is None:
            raise click.UsageError(f"no check matches -k {options['keyword']!r}")
        run.checks = results
    run.rules = judge_rules(selection.rule_ids, _covering_checks(catalog), run.checks)
    run.finished = _now()
    _report(run, options)
    return run.exit_code()


def _covering_checks(catalog: list[CheckSpec]) -> dict[str, list[str]]:
    """Rule ID -> the names of every check that covers it."""
    covering: dict[str, list[str]] = {}
    for spec in catalog:
        for rule_id in spec.rule_ids:
            covering.setdefault(rule_id, []).append(spec.name)
    return covering


def _inapplicable(catalog: list[CheckSpec], dialect: Dialect | None) -> dict[str, str]:
    """Check name -> why it does not apply to the profile; a usage error for a profile
    that declares a check not applicable that does not exist."""
    if dialect is None:
        return {}
    names = {spec.name for spec in catalog}
    unknown = sorted(set(dialect.not_applicable) - names)
    if unknown:
        raise click.UsageError(
            f"--profile: [checks] not_applicable names no dialect check: {unknown[0]}"
        )
    reasons = {spec.name: not_applicable(spec, dialect) for spec in catalog}
    return {name: reason for name, reason in reasons.items() if reason is not None}


def _check_combinations(options: dict[str, Any]) -> None:
    dialect = options["dialect"]
    if dialect is not None and options["connect"] is not None:
        raise click.UsageError(
            "--connect works with the linechat profile only: dialect checks start their own "
            "server (a quiet room, and its stderr for tracebacks)"
        )
    if dialect is not None and options["server_text"] is None and not options["list_only"]:
        raise click.UsageError(f"--profile {dialect.name} needs --server (the server to check)")
    if dialect is None and options["quiet_period"] is not None:
        raise click.UsageError("--quiet-period applies to dialect profiles only")
    if options["connect"] is not None and options["port"] is not None:
        raise click.UsageError("--port and --connect cannot be used together")
    if options["connect"] is not None and options["server_text"] is not None:
        raise click.UsageError("--server and --connect cannot be used together")
    if options["server_text"] is not None:
        try:
            ServerCommand.parse(options["server_text"])
        except ValueError as error:
            raise click.UsageError(f"--server: {error}") from error


def _settings(options: dict[str, Any], selection: Selection) -> Settings:
    argv = None
    if options["connect"] is None:
        text = options["server_text"]
        argv = REFERENCE_SERVER if text is None else ServerCommand.parse(text).argv
    seed = options["seed"]
    return Settings(
        server_argv=argv,
        connect=options["connect"],
        fixed_port=options["port"],
        startup_timeout=options["startup_timeout"],
        timeout=options["timeout"],
        seed=random.SystemRandom().randrange(1, 2**31) if seed is None else seed,
        repeat=options["repeat"],
        selected=tuple(spec.name for spec in selection.checks),
        profile=LINECHAT if options["dialect"] is None else _profile_reference(options["dialect"]),
        quiet_period=options["quiet_period"],
        load=loadcli.config(options),
    )


def _profile_reference(dialect: Dialect) -> str:
    """How the pytest workers find the profile again: a built-in name or an absolute path."""
    return dialect.name if dialect.source == "builtin" else dialect.source


def _describe_server(settings: Settings) -> str:
    if settings.connect is not None:
        host, port = settings.connect
        return f"connect {host}:{port}"
    assert settings.server_command is not None
    return str(settings.server_command)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _print_header(run: RunResult, settings: Settings, workers: str, count: int) -> None:
    what = f"profile {run.profile}" if run.is_dialect else "linechat/1 conformance"
    click.echo(f"chat-conform {run.tool_version}: {what}")
    if settings.connect is not None:
        click.echo(f"server: {run.server.removeprefix('connect ')} (already running, shared)")
    else:
        fixed = f" on port {settings.fixed_port}" if settings.fixed_port else ""
        click.echo(f"server: {run.server} (a fresh server per check{fixed})")
    workers = "0 (serial)" if settings.fixed_port else workers
    click.echo(f"seed: {run.seed}  workers: {workers}  timeout: {settings.timeout:g} s")
    click.echo(f"running {count} checks\n")


def _preflight(settings: Settings, *, greeting_hint: bool) -> str | None:
    """Start the server once (or reach the --connect one); an error message if impossible.

    With ``greeting_hint``, also look at the first bytes the server sends: a server written
    to another assignment (a name prompt, a plain relay) would otherwise fail every check
    with "expected HELLO" and no word about --profile."""
    if settings.connect is not None:
        host, port = settings.connect
        try:
            with socket.create_connection((host, port), timeout=settings.startup_timeout):
                return None
        except OSError as error:
            return f"cannot connect to {host}:{port}: {error.strerror or error}"
    assert settings.server_command is not None
    try:
        with running_server(
            settings.server_command,
            options={},
            startup_timeout=settings.startup_timeout,
            port=settings.fixed_port,
        ) as server:
            if greeting_hint:
                _hint_if_not_linechat(server.port, min(2.0, settings.timeout))
            return None
    except ServerStartError as error:
        return "server did not start: " + error.describe()


def _hint_if_not_linechat(port: int, timeout: float) -> None:
    """Say so at once if the first bytes are not a linechat/1 greeting."""
    first = b""
    address = ("127.0.0.1", port)
    with contextlib.suppress(OSError), socket.create_connection(address, timeout) as probe:
        deadline = time.monotonic() + timeout
        while b"\n" not in first and len(first) < 200 and time.monotonic() < deadline:
            probe.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = probe.recv(200)
            if not chunk:
                break
            first += chunk
    if first.startswith(b"HELLO linechat/1"):
        return
    seen = f"its first bytes were {escape(first[:80])!r}" if first else "it sent nothing first"
    click.echo(
        f"note: a linechat/1 server greets every connection with HELLO linechat/1, but {seen} "
        f"within {timeout:g} s. If it was written to another assignment, try --profile "
        "name-prompt (it asks for a name) or --profile relay (it forwards raw bytes).\n"
    )


def _run_checks(
    settings: Settings, selection: Selection, options: dict[str, Any], run: RunResult
) -> list[CheckResult] | None:
    """Run the selected checks; None if -k left nothing to run."""
    catalog = {spec.name: spec for spec in selection.checks}
    collector = ResultCollector(
        catalog,
        strict=options["strict"],
        on_result=lambda result: console.print_progress(result, repeat=settings.repeat),
    )
    runs = len(selection.checks) * settings.repeat
    serial = settings.fixed_port is not None or runs == 1  # one run: no worker to start
    serial = serial or loadcli.runs_serially(selection.checks)
    workers = "0" if serial else options["workers"]
    args = _pytest_args(settings, workers, options["keyword"], options["dialect"] is not None)
    with _isolated_environment():
        status = pytest.main(args, plugins=[collector])
    if status == pytest.ExitCode.NO_TESTS_COLLECTED and options["keyword"]:
        return None
    if status not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        why = _PYTEST_STOPPED.get(pytest.ExitCode(status), "pytest stopped")
        run.harness_errors.append(f"{why} (pytest exit status {int(status)})")
    run.harness_errors.extend(collector.harness_errors)
    return collector.results


_PYTEST_STOPPED = {
    pytest.ExitCode.INTERRUPTED: "the run was interrupted before every check had run",
    pytest.ExitCode.INTERNAL_ERROR: "pytest failed internally",
    pytest.ExitCode.USAGE_ERROR: "pytest rejected chat-conform's arguments",
}


def _pytest_args(settings: Settings, workers: str, keyword: str | None, dialect: bool) -> list[str]:
    """pytest's command line: chat-conform's own config, never the current directory's."""
    checks_dir = DIALECT_CHECKS_DIR if dialect else CHECKS_DIR
    args = [
        *("-c", str(PYTEST_INI), "--rootdir", str(checks_dir), "--noconftest"),
        "--import-mode=importlib",
        *("-p", "no:cacheprovider", "-p", "no:terminal", "-p", "no:stepwise"),
        *("-p", "xdist.plugin", "-p", "chat_conform.plugin"),
        *(("-p", "chat_conform.dialect_plugin") if dialect else ()),
        "--capture=no",
        f"{OPTION}={settings.to_json()}",
        *("-n", workers),
    ]
    if keyword:
        args += ["-k", keyword]
    return [*args, str(checks_dir)]


@contextlib.contextmanager
def _isolated_environment() -> Iterator[None]:
    """No PYTEST_ADDOPTS, PYTEST_PLUGINS or auto-loaded plugins (workers inherit this)."""
    saved = dict(os.environ)
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        os.environ.pop(name, None)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _report(run: RunResult, options: dict[str, Any]) -> None:
    console.print_summary(run)
    loadreport.print_measurements(run)
    console.print_details(run, verbose=options["verbose"])
    writers: Sequence[tuple[Path | None, Callable[[RunResult, Path], None]]] = (
        (options["json_path"], write_json),
        (options["junit_path"], write_junit),
        (options["html_path"], write_html),
    )
    for path, write in writers:
        if path is not None:
            write(run, path)
            click.echo(f"report written: {path}")
    console.print_verdict(run)
