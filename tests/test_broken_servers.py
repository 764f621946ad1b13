"""chat-conform is itself tested: every deliberately broken server in tests/servers/ must
fail the check written for its bug, and every correct server must pass everything.

Each broken server names the rules it violates in a module constant ``BREAKS`` (the main one
first); ``CAUGHT_BY`` below names the check that must catch it. Both are read from the files,
so adding a broken server without saying which check catches it fails this suite.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SERVERS = Path(__file__).resolve().parent / "servers"
RUN_TIMEOUT = 300

# broken server -> the check that must fail on it (and the test says which)
CAUGHT_BY: dict[str, str] = {
    "broken_argument_stripped": "framing.argument-verbatim",
    "broken_case_sensitive_commands": "framing.command-words-any-case",
    "broken_controls_relayed": "messaging.control-characters-refused",
    "broken_cr_not_stripped": "framing.crlf-accepted",
    "broken_crash_on_reset": "leave.serving-after-reset",
    "broken_crlf_sent": "framing.lf-line-ends",
    "broken_echo_to_sender": "messaging.sender-excluded",
    "broken_empty_line_error": "framing.empty-lines-ignored",
    "broken_exit_then_processes_rest": "exit.rest-of-segment-ignored",
    "broken_hello_late": "greeting.hello-first",
    "broken_join_to_self_too": "order.join-to-others-only",
    "broken_kick_reason_disconnect": "load.kick-announced",
    "broken_lines_before_eof_dropped": "order.message-then-close",
    "broken_loses_messages_under_load": "order.exactly-once",
    "broken_msg_before_name": "messaging.unregistered-refused",
    "broken_name_length_in_bytes": "registration.length-in-characters",
    "broken_name_lowercased": "registration.welcome-exact-name",
    "broken_name_never_freed": "leave.name-free-after-exit",
    "broken_name_too_long_accepted": "registration.length-in-characters",
    "broken_names_case_sensitive": "registration.taken-case-insensitive",
    "broken_no_bye": "exit.bye-then-close",
    "broken_no_join": "order.join-to-others-only",
    "broken_no_leave_on_reset": "leave.disconnect-on-reset",
    "broken_no_line_limit": "framing.over-long-line-refused",
    "broken_no_server_full": "greeting.server-full",
    "broken_ping_echoes_controls": "ping.control-token-refused",
    "broken_ping_needs_registration": "ping.every-state",
    "broken_recv_boundary_framing": "framing.tail-and-head-in-one-segment",
    "broken_reorders_messages": "order.sender-fifo-one-segment",
    "broken_sigterm_no_bye": "life.sigterm-bye",
    "broken_slow_reader_stalls_all": "load.slow-reader-does-not-stall",
    "broken_small_client_limit": "load.hundred-clients",
    "broken_syntax_before_state": "commands.state-before-argument",
    "broken_trailing_partial_line_processed": "framing.partial-last-line-discarded",
    "broken_unicode_crash": "framing.bad-encoding-refused",
    "broken_unknown_command_closes": "commands.unknown-refused",
    "broken_unregistered_gets_broadcast": "order.unregistered-hear-nothing",
    "broken_who_count_wrong": "who.lists-registered",
    "broken_who_needs_registration": "who.unregistered-asker",
}


def broken_servers() -> list[Path]:
    return sorted(SERVERS.glob("broken_*.py"))


def breaks(path: Path) -> tuple[str, ...]:
    """The ``BREAKS`` tuple of a broken server, read without running it."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "BREAKS" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, tuple) and value, f"{path.name}: BREAKS must be a tuple"
            return value
    raise AssertionError(f"{path.name} has no BREAKS constant")


def conform(tmp_path: Path, server: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    report = tmp_path / "report.json"
    command = f'"{sys.executable}" "{server}" --port {{port}} --max-clients {{max_clients}}'
    command += " --max-output {max_output}"
    result = subprocess.run(
        [sys.executable, "-m", "chat_conform", "--server", command, "--json", str(report), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=RUN_TIMEOUT,
        check=False,
    )
    data = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    return result.returncode, data, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("server", broken_servers(), ids=lambda p: p.stem)
def test_broken_server_fails_the_intended_check(tmp_path: Path, server: Path) -> None:
    rule = breaks(server)[0]
    expected_check = CAUGHT_BY.get(server.stem)
    code, report, output = conform(tmp_path, server, "--only", rule)
    assert code == 1, f"{server.name} breaks {rule} but chat-conform exited {code}:\n{output}"
    verdicts = {r["id"]: r["outcome"] for r in report["rules"]}
    assert verdicts[rule] in ("fail", "warn"), f"{rule} was {verdicts[rule]}:\n{output}"
    failed = {c["name"] for c in report["checks"] if c["outcome"] in ("fail", "warn")}
    assert expected_check is not None, f"say which check catches {server.stem}: {failed}"
    assert expected_check in failed, f"{expected_check} passed on {server.name}:\n{output}"


@pytest.mark.slow
@pytest.mark.parametrize("server", ["selectors_server", "_chatbase"])
def test_correct_servers_pass_everything(tmp_path: Path, server: str) -> None:
    code, report, output = conform(tmp_path, SERVERS / f"{server}.py", "--strict")
    assert code == 0, output
    assert report["totals"]["checks"]["fail"] == 0


def test_every_broken_server_names_a_known_rule_and_check() -> None:
    """Fast: the table above and the servers' BREAKS agree with the rule registry."""
    from chat_conform.registry import load_catalog
    from chat_conform.rules import RULES

    names = {c.name for c in load_catalog()}
    for server in broken_servers():
        for rule in breaks(server):
            assert rule in RULES, f"{server.name}: unknown rule {rule}"
        assert CAUGHT_BY.get(server.stem) in names, f"{server.stem}: no known check catches it"
