"""Measurements under load: what ``chat-conform --load`` runs (not part of a plain run).

A plain run keeps the quick LOAD checks of ``test_load``. These checks measure: hundreds of
clients exchanging marked messages (loss, duplicates, order, latency, rate), a connection
storm, churn, and a slow reader while others exchange tens of MB. Their sizes come from
--clients, --senders, --messages, --rate and --churn; their numbers go into the reports
(``measurements``). The scenarios themselves live in :mod:`chat_conform.loadscenarios`.
"""

from __future__ import annotations

import pytest

from chat_conform import loadscenarios as scenarios
from chat_conform.checks.test_load import DELIVERY_BOUND_SECONDS
from chat_conform.loadconfig import LoadConfig
from chat_conform.loadrun import raise_if_broken
from chat_conform.metrics import METRICS_KEY, Measurements
from chat_conform.plugin import SETTINGS_KEY
from chat_conform.registry import check
from chat_conform.session import Chat


@pytest.fixture
def measurements(request: pytest.FixtureRequest) -> Measurements:
    """What the check measured; the plugin puts it in the check's report."""
    measured = Measurements()
    request.node.stash[METRICS_KEY] = measured
    return measured


@pytest.fixture
def load(request: pytest.FixtureRequest) -> LoadConfig:
    """--clients, --senders, --messages, --rate, --churn and the thresholds."""
    config: LoadConfig = request.config.stash[SETTINGS_KEY].load
    return config


@check("load.run", "ORDER-2", "ORDER-3", "ORDER-4")
def test_run(chat: Chat, load: LoadConfig, measurements: Measurements) -> None:
    """N clients; S of them send M marked messages each: none lost, repeated or reordered.

    Also measured: deliveries/s, end-to-end latency (p50, p90, p99, max) and when the last
    receiver has the last message; --max-p99-ms and --min-rate judge them (exit status 4).
    """
    raise_if_broken(scenarios.message_run(chat, load, measurements))


@check("load.storm", "LOAD-1")
def test_storm(chat: Chat, load: LoadConfig, measurements: Measurements) -> None:
    """N clients connect and register at once; each gets WELCOME and then the first MSG.

    LOAD-1 holds when at least 100 of them (all, if N is smaller) are served together.
    """
    needed = min(load.clients, scenarios.LOAD1_CLIENTS)
    if load.clients < scenarios.LOAD1_CLIENTS:
        measurements.note(f"LOAD-1 asks for {scenarios.LOAD1_CLIENTS} clients; tried {needed}")
    storm = scenarios.storm(chat, load.clients, measurements)
    raise_if_broken(storm.verdict("LOAD-1", needed))


@check("load.storm-thousand", "LOAD-2")
def test_storm_thousand(chat: Chat, load: LoadConfig, measurements: Measurements) -> None:
    """With --clients 1000 or more: all N clients that connect at once are served."""
    if load.clients < scenarios.LOAD2_CLIENTS:
        pytest.skip(f"LOAD-2 needs --clients {scenarios.LOAD2_CLIENTS} or more")
    storm = scenarios.storm(chat, load.clients, measurements)
    raise_if_broken(storm.verdict("LOAD-2", load.clients))


@check("load.churn", "LEAVE-2", "LEAVE-5")
def test_churn(chat: Chat, load: LoadConfig, measurements: Measurements) -> None:
    """--churn clients connect, register and leave (EXIT, FIN, RST); the server still relays.

    The same names come back wave after wave (LEAVE-2). A local server's open files,
    threads and memory must return near their values after a warm-up wave (LEAVE-5).
    """
    raise_if_broken(scenarios.churn(chat, load.churn, measurements))


@check("load.slow-reader", "LOAD-3", "LOAD-4")
def test_slow_reader(chat: Chat, measurements: Measurements) -> None:
    """One client reads nothing while four exchange 32 MB: none of them waits 2 s.

    The slow one is dropped with `LEAVE <name> kicked`, or gets everything once it reads.
    """
    raise_if_broken(scenarios.slow_reader(chat, measurements, DELIVERY_BOUND_SECONDS))
