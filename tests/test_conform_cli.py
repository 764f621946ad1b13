"""chat-conform as its users run it: a subprocess, its output, its exit status, its reports."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from chat_conform.loadcli import is_measurement
from chat_conform.registry import load_catalog
from chat_conform.report_json import schema
from chat_conform.report_junit import to_junit
from chat_conform.results import CheckResult, RunResult, check_outcome_for_failure, judge_rules
from chat_conform.wire import escape

REPO = Path(__file__).resolve().parents[1]
SERVERS = REPO / "tests" / "servers"
CORRECT_SERVER = f"{sys.executable} {SERVERS / '_chatbase.py'} --port {{port}}"
WHO_COUNT_WRONG = f"{sys.executable} {SERVERS / 'broken_who_count_wrong.py'} --port {{port}}"
RUN_TIMEOUT = 120  # seconds; a full run against the reference takes a few seconds


def conform(
    *args: str, cwd: Path = REPO, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run chat-conform to completion; its output decoded as UTF-8."""
    return subprocess.run(
        [sys.executable, "-m", "chat_conform", *args],
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=RUN_TIMEOUT,
        cwd=cwd,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})},
        check=False,
    )


def stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def reference_server() -> Iterator[int]:
    """A reference server on a free port, for --connect; yields the port it reports."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "linechat.server", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        encoding="utf-8",
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # bounded: the server prints it at once or exits
        match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", first)
        assert match, f"unexpected first line {first!r}"
        yield int(match.group(1))
    finally:
        stop(proc)
        if proc.stdout is not None:
            proc.stdout.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- listing and exit status 0 ------------------------------------------------------------


def test_list_shows_every_check_with_rules_and_level() -> None:
    result = conform("--list")
    assert result.returncode == 0, result.stderr
    for spec in load_catalog():
        line = next(line for line in result.stdout.splitlines() if line.startswith(spec.name))
        assert ",".join(spec.rule_ids) in line
        assert spec.level in line
        assert spec.summary in line


def test_reference_passes_ping_checks_with_json_report(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = conform("--only", "PING", "-n", "0", "--seed", "1234", "--json", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "seed: 1234" in result.stdout
    data = json.loads(report.read_text(encoding="utf-8"))
    jsonschema.validate(data, schema())
    assert data["seed"] == 1234
    assert {check["outcome"] for check in data["checks"]} == {"pass"}
    assert {rule["id"] for rule in data["rules"]} == {"PING-1", "PING-2", "PING-3"}
    assert all(check["server_stderr"] for check in data["checks"]), "reference logs to stderr"


@pytest.mark.slow
def test_full_run_against_the_reference_passes() -> None:
    result = conform("-n", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    for spec in load_catalog():
        if not is_measurement(spec):  # those run only with --load
            assert f"PASS  {spec.name} " in result.stdout


# -- exit status 1: a rule is broken ------------------------------------------------------


def test_broken_server_fails_with_rule_message_and_transcript() -> None:
    result = conform("--server", WHO_COUNT_WRONG, "--only", "who.lists-registered", "-n", "0")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "FAIL  who.lists-registered" in out
    assert "WHO-1 (MUST): `WHO` MUST get one `USER <name>` line" in out
    assert '"END WHO 4" after 3 USER lines' in out
    assert re.search(r"\d+\.\d{3} bob > WHO\n", out)
    assert re.search(r"\d+\.\d{3} bob < USER carol\n", out)
    assert "FAILED rules: WHO-1 (exit 1)" in out


# -- exit status 2: misuse ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--port", "5000", "--connect", "127.0.0.1:5000"], "--port and --connect"),
        (["--server", "x", "--connect", "127.0.0.1:5000"], "--server and --connect"),
        (["--only", "NOPE-1"], "NOPE-1"),
        (["--skip", "no-such-check"], "no-such-check"),
        (["--repeat", "0"], "--repeat"),
        (["--server", 'unbalanced "quote'], "--server"),
        (["--server", "srv --port {prot}"], "{prot}"),
        (["--connect", "no-port-here"], "HOST:PORT"),
        (["-n", "many"], "workers"),
        (["--json", "/no/such/directory/report.json"], "does not exist"),
        (["--no-such-option"], "--no-such-option"),
    ],
)
def test_misuse_is_one_line_and_exit_2(args: list[str], complaint: str) -> None:
    result = conform(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("chat-conform: error:")
    assert complaint in result.stderr


def test_k_expression_matching_nothing_is_a_usage_error() -> None:
    result = conform("--server", CORRECT_SERVER, "-n", "0", "-k", "no_check_is_called_this")
    assert result.returncode == 2
    assert "no check matches -k" in result.stderr


def test_help_documents_exit_statuses() -> None:
    result = conform("--help")
    assert result.returncode == 0
    for status in ("0  every MUST rule", "1  a rule failed", "2  usage error", "3  the server"):
        assert status in result.stdout


# -- exit status 3: the server cannot be started ------------------------------------------


def test_server_that_exits_at_once_reports_status_and_stderr() -> None:
    crash = f"{sys.executable} -c \"import sys; sys.stderr.write('boom\\n'); sys.exit(4)\""
    result = conform("--server", crash)
    assert result.returncode == 3
    assert "server did not start" in result.stderr
    assert "status 4" in result.stderr
    assert "boom" in result.stderr
    assert "PASS" not in result.stdout and "FAIL" not in result.stdout


def test_server_that_never_listens_times_out_and_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    sleeper = (
        f'{sys.executable} -c "import os, sys, time; '
        f"open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)\" {pid_file}"
    )
    started = time.monotonic()
    result = conform("--server", sleeper, "--startup-timeout", "1")
    assert result.returncode == 3
    assert time.monotonic() - started < 30
    assert "did not accept connections" in result.stderr
    assert "within 1 s" in result.stderr
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_command_that_does_not_exist() -> None:
    result = conform("--server", "no-such-binary-xyz --port {port}")
    assert result.returncode == 3
    assert "cannot run no-such-binary-xyz" in result.stderr


def test_connect_to_nothing() -> None:
    result = conform("--connect", f"127.0.0.1:{free_port()}")
    assert result.returncode == 3
    assert "cannot connect" in result.stderr


# -- server modes ---------------------------------------------------------------------------


def test_hard_coded_port_runs_serially() -> None:
    port = free_port()
    hard_coded = f"{sys.executable} {SERVERS / '_chatbase.py'} --port {port}"
    result = conform("--server", hard_coded, "--port", str(port), "--only", "PING-1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "workers: 0 (serial)" in result.stdout
    assert f"on port {port}" in result.stdout


def test_port_is_passed_in_the_environment_without_placeholder() -> None:
    env_port = f"{sys.executable} {SERVERS / '_chatbase.py'}"  # _chatbase reads $PORT
    result = conform("--server", env_port, "--only", "ping.bare", "-n", "0")
    assert result.returncode == 0, result.stdout + result.stderr


def test_missing_placeholder_skips_the_check_that_needs_it() -> None:
    result = conform("--server", CORRECT_SERVER, "--only", "greeting.server-full", "-n", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the server command has no {max_clients} placeholder" in result.stdout


def test_connect_mode_shares_one_server_in_parallel(reference_server: int, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = conform(
        *("--connect", f"127.0.0.1:{reference_server}", "--only", "WHO,PING,GREET"),
        *("-n", "2", "--repeat", "2", "--json", str(report)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "needs a server of its own, not possible with --connect" in result.stdout
    checks = json.loads(report.read_text(encoding="utf-8"))["checks"]
    names = {check["name"] for check in checks}
    assert len(checks) == 2 * len(names)
    assert {check["repetition"] for check in checks} == {1, 2}
    skipped = {check["name"] for check in checks if check["outcome"] == "skip"}
    assert skipped == {"greeting.server-full"}


def test_project_pytest_configuration_does_not_leak_into_checks(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --no-such-pytest-option\n")
    (tmp_path / "conftest.py").write_text("raise RuntimeError('this conftest must not load')\n")
    result = conform(
        *("--server", CORRECT_SERVER, "--only", "ping.bare", "-n", "1"),
        cwd=tmp_path,
        env={"PYTEST_ADDOPTS": "--also-no-such-option"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- reports --------------------------------------------------------------------------------


def test_reports_describe_failures_in_all_three_formats(tmp_path: Path) -> None:
    paths = {kind: tmp_path / f"report.{kind}" for kind in ("json", "xml", "html")}
    result = conform(
        *("--server", WHO_COUNT_WRONG, "--only", "WHO-1,GREET-1,GREET-2", "-n", "0"),
        *("--json", str(paths["json"]), "--junit", str(paths["xml"])),
        *("--html", str(paths["html"])),
    )
    assert result.returncode == 1, result.stdout + result.stderr

    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    jsonschema.validate(data, schema())
    failed = next(check for check in data["checks"] if check["name"] == "who.lists-registered")
    assert failed["outcome"] == "fail"
    assert "END WHO 4" in failed["message"]
    assert {"client": "bob", "direction": ">", "text": "WHO"}.items() <= next(
        event for event in failed["transcript"] if event["text"] == "WHO"
    ).items()
    rules = {rule["id"]: rule["outcome"] for rule in data["rules"]}
    assert rules == {"WHO-1": "fail", "GREET-1": "pass", "GREET-2": "skip"}

    suite = next(iter(JUnitXml.fromfile(str(paths["xml"]))))
    cases = {case.name: case for case in suite}
    assert cases["who.lists-registered"].classname == "who"
    assert isinstance(cases["who.lists-registered"].result[0], Failure)
    assert cases["greeting.hello-first"].result == []
    assert isinstance(cases["greeting.server-full"].result[0], Skipped)
    assert not any(isinstance(r, Error) for case in suite for r in case.result)

    html = paths["html"].read_text(encoding="utf-8")
    assert "who.lists-registered" in html and "greeting.hello-first" in html
    assert "<style>" in html
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?https?://", html)
    assert "<script" not in html


def test_junit_reports_gaps_and_escapes_control_characters() -> None:
    result = CheckResult(
        name="who.example",
        rule_ids=("WHO-1",),
        level="MUST",
        outcome="fail",
        duration=0.1,
        message="got \x1b[31m and \x00",
    )
    run = RunResult(tool_version="t", seed=1, server="s", strict=False, started="x")
    run.checks = [result]
    run.rules = judge_rules(["WHO-1", "LIFE-2"], {"WHO-1": ["who.example"]}, run.checks)
    text = ElementTree.tostring(to_junit(run), encoding="unicode")
    root = ElementTree.fromstring(text)  # parses: no raw control characters
    assert root.find(".//testcase[@classname='gaps'][@name='LIFE-2']/skipped") is not None
    assert "\\x1b[31m" in text


# -- pieces a user sees ---------------------------------------------------------------------


def test_transcript_shows_cyrillic_and_escapes_controls() -> None:
    assert escape("MSG Алиса привет".encode()) == "MSG Алиса привет"
    assert escape(b"a\x1b[0m\r\tb\\") == "a\\x1b[0m\\r\\tb\\\\"
    assert escape(b"bad \xff\xfe") == "bad \\xff\\xfe"


def test_should_failures_warn_unless_strict() -> None:
    assert check_outcome_for_failure("MUST", strict=False) == "fail"
    assert check_outcome_for_failure("SHOULD", strict=False) == "warn"
    assert check_outcome_for_failure("MAY", strict=True) == "fail"
    warned = CheckResult("order.x", ("ORDER-4",), "SHOULD", "warn", 0.1, "late")
    run = RunResult(tool_version="t", seed=1, server="s", strict=False, started="x")
    run.checks = [warned]
    assert run.exit_code() == 0


def test_conformance_kit_never_imports_the_reference() -> None:
    for path in (REPO / "conformance" / "chat_conform").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            assert not any(m.split(".")[0] == "linechat" for m in modules), path
