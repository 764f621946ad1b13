"""How the load checks' measurements appear in each report: console, JUnit, HTML.

(JSON carries them as they are: :meth:`chat_conform.metrics.Measurements.to_dict`.)
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from html import escape

import click

from chat_conform import svgchart
from chat_conform.metrics import Measurements
from chat_conform.results import CheckResult, RunResult
from chat_conform.wire import safe_text

LABEL_WIDTH = 42


def print_measurements(run: RunResult) -> None:
    """After the verdicts: every measured number of every check that measured something."""
    measured = [result for result in run.checks if result.metrics and not result.metrics.is_empty()]
    if not measured:
        return
    click.echo(click.style("\nMeasurements", bold=True))
    for result in measured:
        assert result.metrics is not None
        title = result.name + (f" (r{result.repetition})" if result.repetition > 1 else "")
        click.echo(f"{title} [{result.outcome}]")
        for line in measurement_lines(result.metrics):
            click.echo(f"  {line}")


def measurement_lines(metrics: Measurements) -> list[str]:
    """The numbers, then the notes, then each threshold with its verdict."""
    lines = [f"{value.label:<{LABEL_WIDTH}} {value.shown()}" for value in metrics.values]
    lines += metrics.notes
    for threshold in metrics.thresholds:
        shown = threshold.shown()
        lines.append(shown if threshold.held else click.style(shown, fg="yellow", bold=True))
    return lines


def junit_properties(case: ElementTree.Element, result: CheckResult) -> None:
    """A ``<properties>`` element on the test case: one property per measured number."""
    if result.metrics is None or result.metrics.is_empty():
        return
    properties = ElementTree.SubElement(case, "properties")
    for value in result.metrics.values:
        ElementTree.SubElement(
            properties, "property", {"name": value.key, "value": f"{value.value:g}"}
        )
    for threshold in result.metrics.thresholds:
        ElementTree.SubElement(
            properties,
            "property",
            {"name": f"threshold {threshold.option}", "value": safe_text(threshold.shown())},
        )
    for number, text in enumerate(result.metrics.notes, start=1):
        ElementTree.SubElement(
            properties, "property", {"name": f"note {number}", "value": safe_text(text)}
        )


def html_measurements(metrics: Measurements | None) -> list[str]:
    """A table of the numbers, the notes, and the latency charts (inline SVG)."""
    if metrics is None or metrics.is_empty():
        return []
    rows = "".join(
        f"<tr><td>{escape(value.label)}</td><td>{escape(value.shown())}</td></tr>"
        for value in metrics.values
    )
    parts = [f'<table class="metrics">{rows}</table>']
    parts += [f"<p>{escape(safe_text(text))}</p>" for text in metrics.notes]
    for threshold in metrics.thresholds:
        kind = "pass" if threshold.held else "warn"
        parts.append(f'<p class="outcome {kind}">{escape(threshold.shown())}</p>')
    if metrics.latency_series:
        parts.append(
            svgchart.line_chart(
                "Latency over time",
                "seconds since the first message",
                "latency (ms)",
                metrics.latency_series,
                ("p50", "p99", "max"),
            )
        )
    if metrics.latency_histogram:
        parts.append(
            svgchart.histogram(
                "Latency histogram",
                "latency (ms, log scale buckets)",
                "deliveries",
                metrics.latency_histogram,
            )
        )
    return parts
