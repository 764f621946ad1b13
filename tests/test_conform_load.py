"""chat-conform --load: the measurements, their verdicts, their reports and exit status 4."""

from __future__ import annotations

import json
import re
import socket
import sys
import xml.etree.ElementTree as ElementTree
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from junitparser import JUnitXml

from chat_conform.loadclient import Conn
from chat_conform.loadrun import Broken, LoadFailure, Plan, RunLog, judge_delivery
from chat_conform.report_json import schema
from chat_conform.results import CheckResult, judge_rules
from tests.test_conform_cli import SERVERS, conform

SMALL = ("--clients", "12", "--messages", "10", "--churn", "30")  # fast, but every check runs
LOSES = f"{sys.executable} {SERVERS / 'broken_loses_messages_under_load.py'} --port {{port}}"
REORDERS = f"{sys.executable} {SERVERS / 'broken_reorders_messages.py'} --port {{port}}"
SMALL_LIMIT = f"{sys.executable} {SERVERS / 'broken_small_client_limit.py'} --port {{port}}"


def values(report: dict[str, Any], check: str) -> dict[str, float]:
    """The measured numbers of one check in a JSON report, by key."""
    (result,) = [item for item in report["checks"] if item["name"] == check]
    return {value["key"]: value["value"] for value in result["metrics"]["values"]}


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["outcome"] for item in report["checks"]}


# -- against the reference ---------------------------------------------------------------------


def test_load_run_against_the_reference_measures_and_reports(tmp_path: Path) -> None:
    paths = {kind: tmp_path / f"load.{kind}" for kind in ("json", "xml", "html")}
    result = conform(
        "--load",
        *SMALL,
        "--json",
        str(paths["json"]),
        "--junit",
        str(paths["xml"]),
        "--html",
        str(paths["html"]),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(paths["json"].read_text(encoding="utf-8"))
    jsonschema.validate(report, schema())
    assert outcomes(report) == {
        "load.run": "pass",
        "load.storm": "pass",
        "load.storm-thousand": "skip",  # LOAD-2 needs --clients 1000
        "load.churn": "pass",
        "load.slow-reader": "pass",
    }
    run = values(report, "load.run")
    assert run["expected"] == run["delivered"] == 12 * 11 * 10
    assert run["lost"] == run["duplicated"] == run["reordered"] == 0
    assert 0 < run["latency_p50_ms"] <= run["latency_p99_ms"] <= run["latency_max_ms"]
    assert run["deliveries_per_s"] > 0 and run["client_ceiling_per_s"] > 0
    assert "load client ceiling" in result.stdout
    assert values(report, "load.storm")["served"] == 12
    assert values(report, "load.churn")["cycles"] == 30
    assert values(report, "load.slow-reader")["lost"] == 0
    html = paths["html"].read_text(encoding="utf-8")
    assert html.count("<svg") == 2  # latency over time, latency histogram: load.run only
    suite = next(iter(JUnitXml.fromfile(str(paths["xml"]))))
    assert [case.is_passed for case in suite if case.name == "load.run"] == [True]
    found = ElementTree.parse(paths["xml"]).findall(
        ".//testcase[@name='load.run']/properties/property"
    )
    properties = {prop.get("name"): prop.get("value") for prop in found}
    assert properties["lost"] == "0"


def test_rule_ids_without_load_select_the_quick_checks_only() -> None:
    result = conform("--only", "ORDER-2", "-n", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "order.exactly-once" in result.stdout
    assert "load.run" not in result.stdout


@pytest.mark.slow
def test_a_thousand_clients_against_the_reference(tmp_path: Path) -> None:
    path = tmp_path / "load.json"
    result = conform("--load", "--clients", "1000", "--json", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(path.read_text(encoding="utf-8"))
    run = values(report, "load.run")
    assert run["clients"] == 1000
    assert run["lost"] == run["duplicated"] == run["reordered"] == 0
    assert run["delivered"] == run["expected"] >= 999_000
    for shown in ("deliveries/s", "latency p50", "latency p99", "latency max"):
        assert shown in result.stdout
    assert outcomes(report)["load.storm-thousand"] == "pass"


# -- against broken servers --------------------------------------------------------------------


def broken_run(tmp_path: Path, server: str) -> tuple[str, dict[str, Any]]:
    """``load.run`` with 12 clients sending 100 messages each: its output and JSON report."""
    path = tmp_path / "load.json"
    result = conform(
        "--load", "--only", "load.run", "--clients", "12", "--messages", "100",
        "--server", server, "--json", str(path),
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stdout, json.loads(path.read_text(encoding="utf-8"))


def verdicts(report: dict[str, Any]) -> dict[str, str]:
    return {rule["id"]: rule["outcome"] for rule in report["rules"]}


def test_lost_messages_fail_order_2_with_the_count(tmp_path: Path) -> None:
    output, report = broken_run(tmp_path, LOSES)
    # every 50th of each sender's 100 messages never reaches its 11 receivers: 12 * 2 * 11
    assert "ORDER-2: 264 of 13,200 deliveries lost (on 12 receivers)" in output
    assert values(report, "load.run")["lost"] == 264
    assert verdicts(report) == {"ORDER-2": "fail", "ORDER-3": "pass", "ORDER-4": "pass"}


def test_reordered_messages_fail_order_3_with_the_count(tmp_path: Path) -> None:
    output, report = broken_run(tmp_path, REORDERS)
    # consecutive messages are relayed as swapped pairs (unless a hold times out first):
    # up to 50 of each sender's 100 messages arrive after their successor, at 11 receivers
    found = re.search(r"ORDER-3: ([\d,]+) deliveries came after a later message", output)
    assert found, output
    count = int(found.group(1).replace(",", ""))
    assert 0 < count <= 12 * 50 * 11
    assert values(report, "load.run")["reordered"] == count
    assert re.search(r"load\d+ got message \d+ of load\d+ after message \d+ of load\d+", output)
    assert verdicts(report)["ORDER-3"] == "fail"


@pytest.mark.parametrize(
    ("server", "complaint"),
    [
        ("broken_slow_reader_stalls_all.py", r"LOAD-3: fast\d waited [\d.]+ s for its next"),
        ("broken_kick_reason_disconnect.py", 'LOAD-4: the others got "LEAVE slow disconnect"'),
    ],
    ids=["stalls", "kick-reason"],
)
def test_slow_reader_check_fails_broken_servers(server: str, complaint: str) -> None:
    command = f"{sys.executable} {SERVERS / server} --port {{port}}"
    result = conform("--load", "--only", "load.slow-reader", "--timeout", "3", "--server", command)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(complaint, result.stdout), result.stdout


def test_too_small_client_limit_fails_the_storm() -> None:
    result = conform("--load", "--only", "load.storm", "--server", SMALL_LIMIT)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "LOAD-1: only 10 of 100 clients served" in result.stdout
    assert "90 refused with ERR server-full" in result.stdout


# -- thresholds: exit status 4 -----------------------------------------------------------------


@pytest.mark.parametrize(
    "threshold", [("--max-p99-ms", "0.001"), ("--min-rate", "1e12")], ids=["p99", "rate"]
)
def test_missed_threshold_exits_4(tmp_path: Path, threshold: tuple[str, str]) -> None:
    path = tmp_path / "load.json"
    result = conform("--load", "--only", "load.run", *SMALL[:4], *threshold, "--json", str(path))
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"{threshold[0]} {float(threshold[1]):g}: measured" in result.stdout
    assert "MISSED" in result.stdout
    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["exit_code"] == 4
    assert all(rule["outcome"] == "pass" for rule in report["rules"])


def test_a_broken_rule_wins_over_a_missed_threshold() -> None:
    result = conform(
        "--load", "--only", "load.run", "--clients", "12", "--messages", "100",
        "--server", LOSES, "--max-p99-ms", "0.001",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--clients", "5"], "--clients applies to the load checks: add --load"),
        (["--only", "FRAME", "--rate", "5"], "--rate applies to the load checks: add --load"),
        (["--load", "--clients", "5", "--senders", "6"], "--senders 6 is more than --clients 5"),
        (["--load", "--clients", "1"], "--clients"),
    ],
)
def test_load_option_misuse_is_exit_2(args: list[str], complaint: str) -> None:
    result = conform(*args)
    assert result.returncode == 2
    assert complaint in result.stderr


def test_help_documents_exit_status_4() -> None:
    result = conform("--help")
    assert "4  every rule held, but a load measurement missed" in result.stdout
    assert "--max-p99-ms" in result.stdout and "--min-rate" in result.stdout


# -- the verdicts, on made-up deliveries -------------------------------------------------------


@pytest.fixture
def conns() -> Iterator[list[Conn]]:
    made: list[Conn] = []
    yield made
    for conn in made:
        conn.sock.close()


def run_log(conns: list[Conn], plan: Plan, received: Sequence[Sequence[int]]) -> RunLog:
    """A finished run in which receiver i got the message numbers ``received[i]``."""
    for index, numbers in enumerate(received):
        conn = Conn(index, f"c{index}", f"c{index}", socket.socket())
        conn.ids = array("q", numbers)
        conns.append(conn)
    return RunLog(plan, conns, array("d", [0.0]) * plan.total, 0.0, complete=True)


def everything_but(plan: Plan, receiver: int) -> list[int]:
    """Every message number in sender order, without the receiver's own."""
    return [
        number
        for number in range(plan.total)
        if receiver >= plan.senders or plan.sender_of(number) != receiver
    ]


def test_verdicts_of_a_perfect_run(conns: list[Conn]) -> None:
    plan = Plan(clients=4, senders=4, messages=3, rate=None)
    log = run_log(conns, plan, [everything_but(plan, index) for index in range(4)])
    delivery = judge_delivery(log)
    assert (delivery.expected, delivery.delivered) == (36, 36)
    assert delivery.lost == delivery.duplicated == delivery.reordered == 0
    assert delivery.order_conflict == ""


def test_verdicts_count_lost_duplicated_and_reordered(conns: list[Conn]) -> None:
    plan = Plan(clients=3, senders=1, messages=4, rate=None)  # c0 sends 0..3
    log = run_log(conns, plan, [[], [0, 1, 1, 3], [0, 2, 1, 3]])
    delivery = judge_delivery(log)
    assert (delivery.lost, delivery.duplicated, delivery.reordered) == (1, 1, 1)
    assert delivery.examples == {
        "lost": ["c1 never got message 3 of c0"],
        "duplicated": ["c1 got message 2 of c0 twice"],
        "reordered": ["c2 got message 2 of c0 after message 3 of c0"],
    }


def test_receivers_that_disagree_break_the_common_order(conns: list[Conn]) -> None:
    plan = Plan(clients=4, senders=2, messages=1, rate=None)  # c0 sends 0, c1 sends 1
    log = run_log(conns, plan, [[1], [0], [0, 1], [1, 0]])
    delivery = judge_delivery(log)
    assert delivery.reordered == 0  # one message per sender: no sender's order is broken
    assert delivery.order_conflict == (
        "c2 got message 1 of c0 before message 1 of c1, but c3 got them the other way round"
    )


# -- a failure that names the rules it broke ---------------------------------------------------


def test_a_failure_naming_only_a_should_rule_warns_and_passes_the_others() -> None:
    failure = LoadFailure([Broken("ORDER-4", "no common order: ...")])
    assert failure.rule_ids == ("ORDER-4",)
    assert str(failure) == "ORDER-4: no common order: ..."
    run = CheckResult(
        name="load.run",
        rule_ids=("ORDER-2", "ORDER-3", "ORDER-4"),
        level="MUST",
        outcome="warn",
        duration=1.0,
        message=str(failure),
        broken_rules=failure.rule_ids,
    )
    covering = {"ORDER-2": ["load.run"], "ORDER-3": ["load.run"], "ORDER-4": ["load.run"]}
    verdicts = judge_rules(["ORDER-2", "ORDER-3", "ORDER-4"], covering, [run])
    assert [(rule.rule_id, rule.outcome) for rule in verdicts] == [
        ("ORDER-2", "pass"),
        ("ORDER-3", "pass"),
        ("ORDER-4", "warn"),
    ]
