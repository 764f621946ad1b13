"""chat-conform profiles: servers that do not speak linechat/1, checked as they are.

The servers in tests/servers/dialect/ are written the way course assignments are: a relay,
and name-prompt servers each with one typical bug plus a fixed one. EXPECTED says which
dialect check must fail on which server (every other applicable check must pass, and the
checks a profile cannot observe must be "not applicable"); the module docstring of each
server says the same in words.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from junitparser import Failure, JUnitXml, Skipped

from chat_conform.dialect import DialectError, builtin_names, load_dialect, parse_dialect
from chat_conform.findings import TracebackScanner
from chat_conform.integrity import PayloadMaker, StreamIndex, classify, foreign_pieces
from chat_conform.registry import DIALECT_CATALOG, load_catalog
from chat_conform.report_json import schema

REPO = Path(__file__).resolve().parents[1]
SERVERS = REPO / "tests" / "servers" / "dialect"
RUN_TIMEOUT = 300

NOT_APPLICABLE_TO_RELAY = {
    "dialect.silent-at-prompt",
    "dialect.duplicate-name",
    "dialect.join-notice",
    "dialect.leave-on-exit",
    "dialect.leave-on-close",
    "dialect.leave-on-reset",
}
# server -> (profile, the checks that must fail; every other applicable check must pass)
EXPECTED: dict[str, tuple[str, set[str]]] = {
    "relay_fixed": ("relay", set()),
    "relay_buggy": (
        "relay",
        {
            "dialect.integrity",
            "dialect.close",
            "dialect.reset",
            "dialect.churn",
            "dialect.non-reader",
            "dialect.load",
        },
    ),
    "prompt_fixed": ("name-prompt", set()),
    "prompt_buggy_recv_chunks": ("name-prompt", {"dialect.long-message"}),
    "prompt_buggy_remove_during_iteration": ("name-prompt", {"dialect.close", "dialect.reset"}),
    "prompt_buggy_bare_except": ("name-prompt", {"dialect.leave-on-reset"}),
    "prompt_buggy_dies_on_reset": ("name-prompt", {"dialect.leave-on-reset"}),
    "prompt_buggy_blocking_send": ("name-prompt", {"dialect.non-reader"}),
    "prompt_buggy_name_in_accept_loop": ("name-prompt", {"dialect.silent-at-prompt"}),
    "prompt_buggy_name_overwrite": ("name-prompt", {"dialect.duplicate-name"}),
}
# server -> check -> exception types of which at least one must be among its findings
TRACEBACKS: dict[str, dict[str, set[str]]] = {
    "relay_buggy": {
        "dialect.close": {"OSError", "ConnectionResetError", "BrokenPipeError"},
        "dialect.reset": {"ConnectionResetError", "BrokenPipeError"},
        "dialect.churn": {"OSError", "ConnectionResetError", "BrokenPipeError"},
    },
    "prompt_buggy_recv_chunks": {"dialect.long-message": {"UnicodeDecodeError"}},
    "prompt_buggy_dies_on_reset": {
        "dialect.reset": {"ConnectionResetError"},  # passes: the others are still served
        "dialect.leave-on-reset": {"ConnectionResetError"},
        "dialect.churn": {"ConnectionResetError"},
    },
}
WITHOUT_TRACEBACKS = ("relay_fixed", "prompt_fixed", "prompt_buggy_bare_except")


def conform(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chat_conform", *args],
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=RUN_TIMEOUT,
        cwd=cwd,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        check=False,
    )


def server_command(name: str) -> str:
    return f'"{sys.executable}" "{SERVERS / name}.py"'  # the port comes in $PORT


def run_profile(tmp_path: Path, server: str, *args: str) -> tuple[int, dict[str, Any], str]:
    profile = EXPECTED[server][0]
    report = tmp_path / "report.json"
    result = conform(
        *("--profile", profile, "--server", server_command(server), "--json", str(report)),
        *("--timeout", "3", *args),
    )
    data = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    return result.returncode, data, result.stdout + result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- the whole matrix: every check on every server --------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("server", sorted(EXPECTED))
def test_every_check_has_its_verdict_on_every_server(tmp_path: Path, server: str) -> None:
    profile, failing = EXPECTED[server]
    code, report, output = run_profile(tmp_path, server, "-n", "2")
    jsonschema.validate(report, schema())
    outcomes = {check["name"]: check["outcome"] for check in report["checks"]}
    expected = {
        name: "na"
        if profile == "relay" and name in NOT_APPLICABLE_TO_RELAY
        else ("fail" if name in failing else "pass")
        for name in (spec.name for spec in load_catalog(DIALECT_CATALOG))
    }
    assert outcomes == expected, output
    assert code == (1 if failing else 0), output
    passed = sum(outcome == "pass" for outcome in expected.values())
    applicable = sum(outcome != "na" for outcome in expected.values())
    assert report["score"]["passed"] == passed and report["score"]["applicable"] == applicable
    found = {
        check["name"]: {f["exception"] for f in check["findings"]} for check in report["checks"]
    }
    for check, exceptions in TRACEBACKS.get(server, {}).items():
        assert found[check] & exceptions, f"{check}: no {exceptions} in {found[check]}:\n{output}"
    if server in WITHOUT_TRACEBACKS:
        assert not any(found.values()), output


# -- a run as its users see it ----------------------------------------------------------


def test_hard_coded_port_report_names_the_bug_with_transcript_and_traceback(
    tmp_path: Path,
) -> None:
    """The issue's "done when": a relay with a hard-coded port; the report shows the lost
    messages, the transcript and the traceback the dying thread printed."""
    port = free_port()
    report = tmp_path / "report.json"
    result = conform(
        *("--profile", "relay", "--server", server_command("relay_buggy")),
        *("--port", str(port), "--only", "dialect.fan-out,dialect.reset"),
        *("--timeout", "2", "--json", str(report)),
    )
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert f"on port {port}" in out and "workers: 0 (serial)" in out
    assert "PASS  dialect.fan-out" in out
    assert "FAIL  dialect.reset" in out
    assert "after dmitry reset its connection" in out
    assert re.search(r"bob never got alice's \w+", out)
    assert re.search(r"\d+\.\d{3} dmitry \* resets the connection \(RST\)", out)
    assert re.search(
        r"(ConnectionResetError|BrokenPipeError): .* at relay_buggy\.py, line \d+", out
    )
    assert "Score: 1/2 applicable checks passed (50%)" in out
    assert "FAILED observations: D-DISCONNECT" in out
    data = json.loads(report.read_text(encoding="utf-8"))
    jsonschema.validate(data, schema())
    assert data["profile"] == {"name": "relay", "source": "builtin"}
    reset = next(check for check in data["checks"] if check["name"] == "dialect.reset")
    assert reset["rule_ids"] == ["D-DISCONNECT"]
    assert reset["findings"][0]["file"].endswith("relay_buggy.py")


def test_passing_check_still_reports_traceback_in_every_format(tmp_path: Path) -> None:
    paths = {kind: tmp_path / f"report.{kind}" for kind in ("json", "xml", "html")}
    result = conform(
        *("--profile", "name-prompt", "--server", server_command("prompt_buggy_dies_on_reset")),
        *("--only", "dialect.reset,dialect.leave-on-reset", "-n", "0", "--timeout", "2"),
        *("--json", str(paths["json"]), "--junit", str(paths["xml"])),
        *("--html", str(paths["html"])),
    )
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "PASS  dialect.reset" in out and "FAIL  dialect.leave-on-reset" in out
    assert "dialect.reset (pass): ConnectionResetError" in out
    assert "dmitry got no leave notice" not in out  # the notice is about dmitry, to others
    assert re.search(r"\w+ got no leave notice for dmitry", out)

    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    jsonschema.validate(data, schema())
    reset = next(check for check in data["checks"] if check["name"] == "dialect.reset")
    assert reset["outcome"] == "pass"
    assert reset["findings"][0]["exception"] == "ConnectionResetError"
    assert reset["findings"][0]["source"] == "data = conn.recv(65536)"

    cases = {case.name: case for case in next(iter(JUnitXml.fromfile(str(paths["xml"]))))}
    assert cases["dialect.reset"].result == []
    assert "ConnectionResetError" in (cases["dialect.reset"].system_err or "")
    assert isinstance(cases["dialect.leave-on-reset"].result[0], Failure)

    html = paths["html"].read_text(encoding="utf-8")
    assert "Server tracebacks" in html and "ConnectionResetError" in html
    assert "Score: 1/2 applicable checks passed (50%)" in html


def test_not_applicable_is_its_own_outcome_everywhere(tmp_path: Path) -> None:
    paths = {kind: tmp_path / f"report.{kind}" for kind in ("json", "xml", "html")}
    result = conform(
        *("--profile", "relay", "--server", server_command("relay_fixed")),
        *("--only", "dialect.fan-out,dialect.join-notice,D-NAMES", "-n", "0"),
        *("--json", str(paths["json"]), "--junit", str(paths["xml"])),
        *("--html", str(paths["html"])),
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "N/A   dialect.join-notice" in out
    assert "the profile has no join notice" in out
    assert "Score: 1/1 applicable checks passed (100%)" in out
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    jsonschema.validate(data, schema())
    assert {c["name"]: c["outcome"] for c in data["checks"]} == {
        "dialect.fan-out": "pass",
        "dialect.join-notice": "na",
        "dialect.duplicate-name": "na",
    }
    assert {r["id"]: r["outcome"] for r in data["rules"]} == {
        "D-FANOUT": "pass",
        "D-NOTICES": "na",
        "D-NAMES": "na",
    }
    assert data["gaps"] == []
    assert data["score"] == {
        "passed": 1,
        "applicable": 1,
        "ratio": 1.0,
        "text": "Score: 1/1 applicable checks passed (100%)",
    }
    cases = {case.name: case for case in next(iter(JUnitXml.fromfile(str(paths["xml"]))))}
    skipped = cases["dialect.join-notice"].result[0]
    assert isinstance(skipped, Skipped) and skipped.message == "not applicable"
    assert 'class="outcome na">n/a<' in paths["html"].read_text(encoding="utf-8")


def test_list_shows_which_checks_apply_to_a_profile() -> None:
    result = conform("--list", "--profile", "relay")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "[n/a:" in lines["dialect.join-notice"]
    assert "[n/a:" not in lines["dialect.fan-out"]
    assert "16 checks (10 applicable to this profile)" in result.stdout


# -- profiles: loading and errors -------------------------------------------------------


def test_builtin_profiles_load_with_their_features() -> None:
    assert set(builtin_names()) >= {"relay", "name-prompt"}
    relay, prompt = load_dialect("relay"), load_dialect("name-prompt")
    assert relay.features == frozenset() and relay.framed
    assert prompt.features == {"registration", "names", "join", "leave", "exit"}
    assert not prompt.framed
    assert prompt.join is not None and prompt.leave is not None
    assert prompt.join.compile(name="bob").search("bob вошёл в чат")
    assert prompt.leave.compile(name="bob").search("bob вышел из чата")
    assert not prompt.leave.compile(name="bob").search("bob вошёл в чат")
    assert prompt.received.compile(name="bob", text="привет").search("[bob]: привет")


GOOD = """
name = "mine"
[register]
steps = [{ expect = 'name' }, { send = "{name}", terminator = "\\n" }]
[send]
message = "MSG {text}"
terminator = "\\n"
[receive]
message = '{name}> {text}'
"""


@pytest.mark.parametrize(
    ("replace", "by", "complaint"),
    [
        ("'{name}> {text}'", "'{name}> ({text}'", "[receive] message: bad regular expression"),
        ('message = "MSG {text}"', 'message = "MSG"', "[send] message: must contain {text}"),
        ('name = "mine"', "", "name: missing"),
        ('terminator = "\\n"\n[receive]', 'terminator = ";"\n[receive]', "[send] terminator"),
        ("{ expect = 'name' }", "{ expect = 'x*' }", "matches empty data"),
        ("{ expect = 'name' }", "{ expect = 'x', send = 'y' }", "exactly one of expect and send"),
        ('"MSG {text}"', '"MSG {txt}"', "unknown placeholder {txt}"),
        ("[receive]", "[receive]\njoin = 'joined'", "[receive] join: must contain {name}"),
        ("[send]", "[send]\ncolour = 'red'", "[send] colour: unknown key"),
        ('name = "mine"', 'name = "mine"\nquiet_period = -1', "quiet_period"),
        ('name = "mine"', "name = [", "not valid TOML"),
    ],
)
def test_bad_profile_is_one_line_and_exit_2(
    tmp_path: Path, replace: str, by: str, complaint: str
) -> None:
    assert replace in GOOD
    profile = tmp_path / "mine.toml"
    profile.write_text(GOOD.replace(replace, by, 1), encoding="utf-8")
    result = conform("--profile", str(profile), "--server", "srv")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("chat-conform: error:")
    assert complaint in result.stderr, result.stderr
    assert str(profile) in result.stderr


def test_good_profile_file_loads(tmp_path: Path) -> None:
    profile = tmp_path / "mine.toml"
    profile.write_text(GOOD, encoding="utf-8")
    dialect = load_dialect(str(profile))
    assert dialect.name == "mine" and dialect.features == {"registration", "names"}
    assert dialect.message_bytes("hi") == b"MSG hi\n"
    assert parse_dialect(GOOD, source="x").register[1].terminator == "\n"


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--profile", "no-such-profile", "--server", "srv"], "unknown profile 'no-such-profile'"),
        (["--profile", "relay"], "needs --server"),
        (["--profile", "relay", "--connect", "127.0.0.1:5000"], "--connect works with the"),
        (["--quiet-period", "0.5"], "--quiet-period applies to dialect profiles only"),
        (["--profile", "relay", "--server", "srv", "--only", "FRAME-4"], "FRAME-4"),
    ],
)
def test_profile_misuse_is_one_line_and_exit_2(args: list[str], complaint: str) -> None:
    result = conform(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert complaint in result.stderr


def test_profile_naming_an_unknown_check_is_a_usage_error(tmp_path: Path) -> None:
    profile = tmp_path / "mine.toml"
    profile.write_text(GOOD + '[checks]\nnot_applicable = { "dialect.nope" = "x" }\n', "utf-8")
    result = conform("--profile", str(profile), "--server", "srv")
    assert result.returncode == 2
    assert "dialect.nope" in result.stderr


def test_bad_profile_errors_name_the_key() -> None:
    with pytest.raises(DialectError, match=r"\[receive\] leave: needs a name"):
        parse_dialect(
            'name = "x"\n[send]\nmessage = "{text}"\n'
            '[receive]\nmessage = "{text}"\nleave = "{name} left"\n',
            source="p.toml",
        )


# -- what became of a payload: the verdicts ---------------------------------------------


def _payloads(profile: str, *sizes: int) -> list[Any]:
    maker = PayloadMaker(random.Random(7), load_dialect(profile))
    return [maker.make("alice", "alice", size=size) for size in sizes]


def test_prompt_message_cut_by_the_server_is_split_with_the_prefix_named() -> None:
    dialect = load_dialect("name-prompt")
    (long,) = _payloads("name-prompt", 5000)
    data = long.text.encode()
    stream = b"".join(b"alice: " + data[at : at + 1024] for at in range(0, len(data), 1024))
    delivery = classify(StreamIndex(stream, dialect), long, "bob")
    assert delivery.verdict == "split"
    assert delivery.detail == 'it arrived in 5 pieces, "alice: " inserted 4 times'


def test_verdicts_intact_glued_corrupted_duplicated_lost() -> None:
    dialect = load_dialect("name-prompt")
    one, two, three = _payloads("name-prompt", 60, 60, 60)
    a, b = one.text.encode(), two.text.encode()

    def verdict(stream: bytes, payload: Any) -> str:
        return classify(StreamIndex(stream, dialect), payload, "bob").verdict

    assert verdict(b"Welcome!\nalice: " + a + b"\nalice: " + b + b"\n", one) == "intact"
    assert verdict(b"alice: " + a + b"alice: " + b, two) == "intact"  # no terminator: fine
    assert verdict(b"alice: " + a + b, two) == "glued"  # the server joined two reads
    assert verdict(b"alice: " + a[:30] + b"?" + a[31:], one) == "corrupted"
    assert verdict(b"alice: " + a[:30], one) == "corrupted"  # truncated
    assert verdict(b"bob: " + a, one) == "corrupted"  # not in the message form for alice
    assert verdict(b"alice: " + a + b"alice: " + a, one) == "duplicated"
    assert verdict(b"alice: " + a, three) == "lost"


def test_relay_lines_cut_into_each_other_are_split_and_glued() -> None:
    dialect = load_dialect("relay")
    first, second = _payloads("relay", 200, 50)
    a, b = first.text.encode(), second.text.encode()
    stream = a[:70] + b + b"\n" + a[70:] + b"\n"
    index = StreamIndex(stream, dialect)
    assert classify(index, first, "carol").verdict == "split"
    assert classify(index, second, "carol").verdict == "glued"
    whole = StreamIndex(b + b"\n" + a + b"\n", dialect)
    assert classify(whole, first, "carol").verdict == "intact"
    assert classify(whole, second, "carol").verdict == "intact"


def test_foreign_pieces_are_placed_where_they_repeat() -> None:
    assert foreign_pieces(b"hello world", b"hello world") == []
    # "alice: " inserted before "abc" could be read as "lice: a": the leftmost reading
    assert foreign_pieces(b"xyzabcdefghijklmnop", b"xyzalice: abcdefghijklmnop") == [b"alice: "]
    assert foreign_pieces(b"abcdef", b"abXdef") is None  # changed, not inserted


# -- tracebacks on the server's stderr ----------------------------------------------------

THREAD_TRACEBACK = """\
Exception in thread Thread-3 (handle_client):
Traceback (most recent call last):
  File "/usr/lib/python3.11/threading.py", line 1045, in _bootstrap_inner
    self.run()
  File "/home/student/server.py", line 31, in handle_client
    data = conn.recv(1024).decode()
           ^^^^^^^^^^^^^^^
  File "/usr/lib/python3.11/socket.py", line 10, in recv
    return x
ConnectionResetError: [Errno 104] Connection reset by peer
"""
CHAINED = """\
Traceback (most recent call last):
  File "/home/student/server.py", line 5, in broadcast
    c.send(data)
BrokenPipeError: [Errno 32] Broken pipe

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/home/student/server.py", line 8, in broadcast
    clients.remove(c)
ValueError: list.remove(x): x not in list
"""


def _scan(text: str) -> TracebackScanner:
    scanner = TracebackScanner()
    for line in text.splitlines():
        scanner.feed(line)
    return scanner


def test_traceback_is_located_in_the_servers_own_code() -> None:
    (finding,) = _scan("listening\n" + THREAD_TRACEBACK + THREAD_TRACEBACK).findings()
    assert finding.exception == "ConnectionResetError"
    assert finding.message == "[Errno 104] Connection reset by peer"
    assert (finding.file, finding.line) == ("/home/student/server.py", 31)
    assert finding.source == "data = conn.recv(1024).decode()"
    assert finding.thread == "Thread-3 (handle_client)"
    assert finding.count == 2
    assert finding.summary() == (
        "ConnectionResetError: [Errno 104] Connection reset by peer at server.py, line 31, "
        "in handle_client: data = conn.recv(1024).decode() [thread Thread-3 (handle_client)] (x2)"
    )


def test_interleaved_tracebacks_of_two_threads_are_both_kept() -> None:
    other = THREAD_TRACEBACK.replace("Thread-3", "Thread-4").replace(
        "ConnectionReset", "BrokenPipe"
    )
    one, two = THREAD_TRACEBACK.splitlines(), other.splitlines()
    interleaved = [line for pair in zip(one, two, strict=True) for line in pair]
    found = _scan("\n".join(interleaved)).findings()
    assert sorted(f.exception for f in found) == ["BrokenPipeError", "ConnectionResetError"]


def test_chained_traceback_counts_once_as_its_last_exception() -> None:
    findings = _scan(CHAINED + "a log line\n" + CHAINED).findings()
    assert [(f.exception, f.line, f.count) for f in findings] == [("ValueError", 8, 2)]


def test_scanner_keeps_a_bounded_number_of_findings() -> None:
    scanner = TracebackScanner()
    for number in range(100):
        _feed_all(scanner, THREAD_TRACEBACK.replace("line 31", f"line {number + 100}"))
    assert len(scanner.findings()) == 20
    assert scanner.dropped == 80


def _feed_all(scanner: TracebackScanner, text: str) -> None:
    for line in text.splitlines():
        scanner.feed(line)


def test_linechat_profile_reports_tracebacks_too(tmp_path: Path) -> None:
    """broken_crash_on_reset.py dies in a thread when a client resets: LEAVE-5's check
    shows the OSError its thread printed."""
    report = tmp_path / "report.json"
    crash = f'"{sys.executable}" "{REPO / "tests" / "servers" / "broken_crash_on_reset.py"}"'
    result = conform(
        *("--server", crash + " --port {port}", "--only", "LEAVE-5", "-n", "0"),
        *("--timeout", "2", "--json", str(report)),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    data = json.loads(report.read_text(encoding="utf-8"))
    jsonschema.validate(data, schema())
    exceptions = {f["exception"] for c in data["checks"] for f in c["findings"]}
    assert "OSError" in exceptions, result.stdout
    assert "Server tracebacks:" in result.stdout
