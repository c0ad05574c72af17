"""Charts drawn on the server as inline SVG: stacked columns, labelled bars, shares of a
bar (pass rates), lines (with levels across them: an alert's threshold).

Drawn here rather than by a JavaScript library: the page shows its charts without
scripts, the geometry is plain data a unit test can check, and there is nothing to build
or vendor. Every bar and point is a link (to the calls it counts); colours come from CSS
classes (the Content-Security-Policy allows no inline styles), so ``kind`` names one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 400, 190  # about the size a card shows it at, so text keeps its size
LEFT, RIGHT, TOP, BOTTOM = 36, 8, 10, 22
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
X_LABELS = 5  # at most: more would overlap
BAR_ROW, LABEL_W, VALUE_W = 24, 130, 36  # labelled bars: a row's height, the margins


@dataclass(frozen=True)
class Mark:
    """A bar, a bar's part or a point: its value, colour class, link and description."""

    value: float
    kind: str
    href: str
    label: str


@dataclass(frozen=True)
class Column:
    label: str  # under the axis (only every few are shown)
    marks: tuple[Mark, ...]  # stacked from the bottom


@dataclass(frozen=True)
class Line:
    kind: str
    points: tuple[Mark | None, ...]  # one per x position; None where there is no value


@dataclass(frozen=True)
class Level:
    """A horizontal line across a chart of lines (a threshold), named at its right end."""

    value: float
    kind: str
    label: str


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at least ``value`` (1 for nothing to show)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10 * power


def number(value: float) -> str:
    """A value as a label: whole numbers bare, others to three significant digits."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.3g}"


def columns(title: str, shown: Sequence[Column]) -> Markup:
    """Vertical bars, one per column, each mark stacked on the one below."""
    top = nice_ceiling(max((sum(m.value for m in c.marks) for c in shown), default=0))
    slot = PLOT_W / max(1, len(shown))
    width = max(1.0, slot * 0.8)
    parts = _y_axis(top)
    for i, column in enumerate(shown):
        x = LEFT + i * slot + (slot - width) / 2
        base = 0.0
        for mark in column.marks:
            if mark.value <= 0:
                continue
            upper, lower = _y(base + mark.value, top), _y(base, top)
            parts.append(_link(mark, _rect(x, upper, width, lower - upper, mark.kind)))
            base += mark.value
    parts += _x_labels([c.label for c in shown], slot)
    return _svg(title, HEIGHT, parts)


def bars(title: str, rows: Sequence[Column]) -> Markup:
    """Horizontal bars, one a row, labelled on the left, marks stacked left to right,
    the row's total on the right."""
    top = max((sum(m.value for m in row.marks) for row in rows), default=0) or 1
    room = WIDTH - LABEL_W - VALUE_W
    parts = []
    for i, row in enumerate(rows):
        y = TOP + i * BAR_ROW
        middle = y + BAR_ROW / 2
        parts.append(_text(LABEL_W - 8, middle, _short(row.label), "end", "label"))
        left = float(LABEL_W)
        for mark in row.marks:
            if mark.value > 0:
                length = room * mark.value / top
                parts.append(_link(mark, _rect(left, y + 4, length, BAR_ROW - 8, mark.kind)))
                left += length
        total = sum(m.value for m in row.marks)
        parts.append(_text(left + 6, middle, number(total), "start", "value"))
    return _svg(title, TOP * 2 + BAR_ROW * len(rows), parts)


def shares(title: str, rows: Sequence[Column], notes: Sequence[str]) -> Markup:
    """Horizontal bars of one length, one a row, labelled on the left: each row's marks
    split it by their share of the row's total (a pass rate: passed, then failed), its
    note on the right. A row without a total has no bar."""
    room = WIDTH - LABEL_W - VALUE_W
    parts = []
    for i, (row, note) in enumerate(zip(rows, notes, strict=True)):
        y = TOP + i * BAR_ROW
        middle = y + BAR_ROW / 2
        parts.append(_text(LABEL_W - 8, middle, _short(row.label), "end", "label"))
        total = sum(m.value for m in row.marks)
        left = float(LABEL_W)
        for mark in row.marks:
            if mark.value > 0 and total > 0:
                length = room * mark.value / total
                parts.append(_link(mark, _rect(left, y + 4, length, BAR_ROW - 8, mark.kind)))
                left += length
        parts.append(_text(LABEL_W + room + 6, middle, note, "start", "value"))
    return _svg(title, TOP * 2 + BAR_ROW * len(rows), parts)


def lines(
    title: str, labels: Sequence[str], shown: Sequence[Line], levels: Sequence[Level] = ()
) -> Markup:
    """Lines over the x positions, broken where a value is missing; each point a link.
    ``levels`` are drawn across the plot, the scale reaching the highest of them too."""
    values = [mark.value for line in shown for mark in line.points if mark is not None]
    top = nice_ceiling(max([*values, *(level.value for level in levels)], default=0))
    slot = PLOT_W / max(1, len(labels))
    parts = _y_axis(top)
    parts += [_level(level, top) for level in levels]
    for line in shown:
        path, pen_down = [], False
        for i, mark in enumerate(line.points):
            if mark is None:
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{_x(i, slot):.1f},{_y(mark.value, top):.1f}")
            pen_down = True
        parts.append(f'<path class="line {line.kind}" d="{" ".join(path)}"/>')
        for i, mark in enumerate(line.points):
            if mark is not None:
                dot = (
                    f'<circle class="point {mark.kind}" cx="{_x(i, slot):.1f}" '
                    f'cy="{_y(mark.value, top):.1f}" r="3.5"/>'
                )
                parts.append(_link(mark, dot))
    parts += _x_labels(labels, slot)
    return _svg(title, HEIGHT, parts)


# -- pieces ---------------------------------------------------------------------------


def _y(value: float, top: float) -> float:
    return TOP + PLOT_H * (1 - value / top)


def _x(i: int, slot: float) -> float:
    return LEFT + (i + 0.5) * slot


def _y_axis(top: float) -> list[str]:
    parts = []
    for tick in (0, top / 2, top):
        y = _y(tick, top)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(_text(LEFT - 6, y, number(tick), "end", "tick"))
    return parts


def _level(level: Level, top: float) -> str:
    y = _y(level.value, top)
    label, kind = escape(level.label), escape(level.kind)
    return (
        f'<g role="img" aria-label="{label}"><title>{label}</title>'
        f'<line class="across {kind}" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
        f'y1="{y:.1f}" y2="{y:.1f}"/>'
        f"{_text(WIDTH - RIGHT, y - 7, level.label, 'end', f'across {kind}')}</g>"
    )


def _x_labels(labels: Sequence[str], slot: float) -> list[str]:
    every = max(1, math.ceil(len(labels) / X_LABELS))
    return [
        _text(_x(i, slot), HEIGHT - 8, label, "middle", "tick")
        for i, label in enumerate(labels)
        if i % every == 0 and label
    ]


def _rect(x: float, y: float, width: float, height: float, kind: str) -> str:
    return (
        f'<rect class="bar {escape(kind)}" x="{x:.1f}" y="{y:.1f}" '
        f'width="{width:.1f}" height="{height:.1f}"/>'
    )


def _link(mark: Mark, shape: str) -> str:
    label = escape(mark.label)
    return f'<a href="{escape(mark.href)}" aria-label="{label}"><title>{label}</title>{shape}</a>'


def _text(x: float, y: float, content: str, anchor: str, kind: str) -> str:
    return (
        f'<text class="{kind}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" '
        f'dominant-baseline="middle">{escape(content)}</text>'
    )


def _short(label: str, most: int = 20) -> str:
    return label if len(label) <= most else label[: most - 1] + "…"


def _svg(title: str, height: float, parts: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height:.0f}" role="group" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )
