"""Two small inline SVG charts for the HTML report: lines over time, and a histogram.

No plotting toolchain and no JavaScript: the report stays one self-contained file that any
browser shows. Only numbers and fixed words go into the SVG (labels are escaped anyway).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
COLOURS = ("#0969da", "#9a6700", "#cf222e", "#1a7f37")
TICKS = 5


def _nice_step(span: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) for about TICKS ticks over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / TICKS
    power: float = 10.0 ** math.floor(math.log10(raw))
    return next(factor * power for factor in (1, 2, 5, 10) if factor * power >= raw)


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e5 else f"{value:.2g}"


def _frame(title: str, x_label: str, y_label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}" '
        'font-family="system-ui, sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
        f'height="{HEIGHT - TOP - BOTTOM}" fill="none" stroke="#999"/>',
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 6}" '
        f'text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="12" y="{(TOP + HEIGHT - BOTTOM) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {(TOP + HEIGHT - BOTTOM) / 2})">{escape(y_label)}</text>',
    ]


def _y_axis(top_value: float) -> tuple[list[str], float]:
    """Grid lines and labels from 0 to a round value at or above ``top_value``."""
    step = _nice_step(top_value)
    top = max(step, math.ceil(top_value / step) * step)
    parts = []
    for index in range(round(top / step) + 1):
        value = index * step
        y = _y(value, top)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
        )
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{_number(value)}</text>'
        )
    return parts, top


def _y(value: float, top: float) -> float:
    return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * value / top


def line_chart(
    title: str,
    x_label: str,
    y_label: str,
    points: Sequence[Sequence[float]],
    names: Sequence[str],
) -> str:
    """Lines over x: each point is (x, y1, y2, ...), one line per name."""
    parts = _frame(title, x_label, y_label)
    if not points:
        return "\n".join([*parts, "</svg>"])
    x_top = max(point[0] for point in points) or 1.0
    grid, y_top = _y_axis(max(max(point[1:]) for point in points))
    parts += grid
    x_step = _nice_step(x_top)
    for index in range(int(x_top / x_step) + 1):
        x = _x(index * x_step, x_top)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">'
            f"{_number(index * x_step)}</text>"
        )
    for line, name in enumerate(names):
        colour = COLOURS[line % len(COLOURS)]
        coordinates = " ".join(
            f"{_x(point[0], x_top):.1f},{_y(point[line + 1], y_top):.1f}" for point in points
        )
        parts.append(
            f'<polyline points="{coordinates}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
        )
        parts.append(
            f'<text x="{LEFT + 8 + 70 * line}" y="{TOP + 14}" fill="{colour}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _x(value: float, top: float) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * value / top


def histogram(
    title: str, x_label: str, y_label: str, buckets: Sequence[tuple[float, float, int]]
) -> str:
    """One bar per (from, to, count) bucket, equally wide; the bucket edges label the x axis."""
    parts = _frame(title, x_label, y_label)
    if not buckets:
        return "\n".join([*parts, "</svg>"])
    grid, y_top = _y_axis(max(count for _, _, count in buckets))
    parts += grid
    width = (WIDTH - LEFT - RIGHT) / len(buckets)
    label_every = max(1, len(buckets) // 6)
    for index, (low, high, count) in enumerate(buckets):
        x = LEFT + index * width
        y = _y(count, y_top)
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(width - 2, 1):.1f}" '
            f'height="{HEIGHT - BOTTOM - y:.1f}" fill="{COLOURS[0]}">'
            f"<title>{_number(low)} to {_number(high)}: {count}</title></rect>"
        )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">'
                f"{low:.3g}</text>"
            )
    parts.append("</svg>")
    return "\n".join(parts)
