"""The SVG charts' geometry for known data, the histogram's edges and the range picker's
ranges (no browser)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from openline.console import charts
from openline.console.charts import HEIGHT, LEFT, PLOT_H, PLOT_W, TOP, Column, Line, Mark
from openline.console.dashboard import histogram_edges
from openline.console.time_range import BadRange, chosen
from openline.domain.sketch import Distribution

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 12, 2, 10, 17, 42, tzinfo=UTC)


def parsed(svg) -> ET.Element:
    return ET.fromstring(str(svg))


def rects(svg) -> list[dict[str, str]]:
    return [rect.attrib for rect in parsed(svg).iter(f"{SVG}rect")]


def links(svg) -> list[str]:
    return [a.attrib["href"] for a in parsed(svg).iter(f"{SVG}a")]


def mark(value: float, kind: str = "completed", href: str = "/x") -> Mark:
    return Mark(value, kind, href, f"{value} {kind}")


def test_columns_stack_their_marks_on_a_round_scale():
    svg = charts.columns(
        "Calls",
        [
            Column("10:00", (mark(3, "completed", "/a"), mark(1, "failed", "/b"))),
            Column("11:00", (mark(0, "completed", "/c"), mark(2, "failed", "/d"))),
        ],
    )
    slot = PLOT_W / 2
    unit = PLOT_H / 5  # the tallest column is 4: the scale goes to 5
    bottom = TOP + PLOT_H
    found = [
        (r["class"], float(r["x"]), float(r["y"]), float(r["width"]), float(r["height"]))
        for r in rects(svg)
    ]
    expected = [
        ("bar completed", LEFT + 0.1 * slot, bottom - 3 * unit, 0.8 * slot, 3 * unit),
        ("bar failed", LEFT + 0.1 * slot, bottom - 4 * unit, 0.8 * slot, unit),
        ("bar failed", LEFT + 1.1 * slot, bottom - 2 * unit, 0.8 * slot, 2 * unit),
    ]  # the zero mark is not drawn
    assert [f[0] for f in found] == [e[0] for e in expected]
    for got, want in zip(found, expected, strict=True):
        assert got[1:] == pytest.approx(want[1:], abs=0.06)
    assert links(svg) == ["/a", "/b", "/d"]
    ticks = [t.text for t in parsed(svg).iter(f"{SVG}text") if t.attrib["class"] == "tick"]
    assert ticks == ["0", "2.5", "5", "10:00", "11:00"]
    assert parsed(svg).attrib["aria-label"] == "Calls"


def test_bars_are_as_long_as_their_share_of_the_longest():
    svg = charts.bars(
        "End reasons", [Column("agent_hangup", (mark(4),)), Column("error", (mark(1, "failed"),))]
    )
    widths = [float(r["width"]) for r in rects(svg)]
    room = charts.WIDTH - charts.LABEL_W - charts.VALUE_W
    assert widths == pytest.approx([room, room / 4], abs=0.06)
    texts = [t.text for t in parsed(svg).iter(f"{SVG}text")]
    assert texts == ["agent_hangup", "4", "error", "1"]
    assert float(parsed(svg).attrib["viewBox"].split()[3]) == 2 * TOP + 2 * charts.BAR_ROW


def test_shares_split_one_length_by_each_rows_own_total():
    svg = charts.shares(
        "Pass rate",
        [
            Column("scored-high", (mark(3, "completed", "/p"), mark(1, "failed", "/f"))),
            Column("confirmed", (mark(0, "completed"), mark(2, "failed", "/g"))),
            Column("asked-the-judge", (mark(0, "completed"), mark(0, "failed"))),
        ],
        ["75%", "0%", "—"],
    )
    room = charts.WIDTH - charts.LABEL_W - charts.VALUE_W
    found = [(r["class"], float(r["x"]), float(r["width"])) for r in rects(svg)]
    expected = [
        ("bar completed", charts.LABEL_W, room * 0.75),
        ("bar failed", charts.LABEL_W + room * 0.75, room * 0.25),
        ("bar failed", charts.LABEL_W, room),
    ]  # zero marks, and a row of no verdicts, draw nothing
    assert [f[0] for f in found] == [e[0] for e in expected]
    for got, want in zip(found, expected, strict=True):
        assert got[1:] == pytest.approx(want[1:], abs=0.06)
    assert links(svg) == ["/p", "/f", "/g"]
    texts = [t.text for t in parsed(svg).iter(f"{SVG}text")]
    assert texts == ["scored-high", "75%", "confirmed", "0%", "asked-the-judge", "—"]


def test_lines_break_where_a_value_is_missing_and_every_point_links():
    points = (mark(10, "p50", "/0"), None, mark(20, "p50", "/2"), mark(40, "p50", "/3"))
    svg = charts.lines("Latency", ["a", "b", "c", "d"], [Line("p50", points)])
    slot = PLOT_W / 4
    path = next(parsed(svg).iter(f"{SVG}path")).attrib["d"].split()
    y = lambda v: TOP + PLOT_H * (1 - v / 50)  # noqa: E731 - the scale goes to 50
    assert [p[0] for p in path] == ["M", "M", "L"]  # no line across the gap
    assert [float(n) for n in path[1][1:].split(",")] == pytest.approx(
        [LEFT + 2.5 * slot, y(20)], abs=0.06
    )
    circles = list(parsed(svg).iter(f"{SVG}circle"))
    assert [float(c.attrib["cy"]) for c in circles] == pytest.approx(
        [y(10), y(20), y(40)], abs=0.06
    )
    assert links(svg) == ["/0", "/2", "/3"]


def test_labels_and_links_are_escaped():
    svg = charts.bars("<b>", [Column("<script>", (mark(1, "value", "/calls?a=1&b=<2>"),))])
    assert "<script>" not in str(svg) and "&lt;script&gt;" in str(svg)
    assert links(svg) == ["/calls?a=1&b=<2>"]  # escaped in the markup, intact once parsed


def test_an_empty_chart_still_has_its_axes():
    svg = charts.columns("Nothing", [])
    assert rects(svg) == [] and float(parsed(svg).attrib["viewBox"].split()[3]) == HEIGHT


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (0.03, 0.05), (1, 1), (4, 5), (7, 10), (11, 20), (2000, 2000)]
)
def test_nice_ceiling(value, ceiling):
    assert charts.nice_ceiling(value) == pytest.approx(ceiling)


@pytest.mark.parametrize(
    ("values", "edges"),
    [
        ([1, 2, 2, 4], [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5]),
        ([3, 3], [0.0, 5.0]),  # one value: one bin around it
        ([0.12, 0.31], [0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32]),
        ([-7, 12], [-8.0, -6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0]),
    ],
)
def test_histogram_edges_are_round_and_cover_every_value(values, edges):
    numbers = Distribution.of(values)
    assert histogram_edges(numbers) == edges
    assert sum(numbers.histogram(edges)) == len(values)


def test_presets_end_with_their_current_bucket():
    hour = chosen("1h", "", "", NOW)
    assert (hour.start, hour.end, hour.grain) == (
        datetime(2026, 12, 2, 9, 18, tzinfo=UTC),
        datetime(2026, 12, 2, 10, 18, tzinfo=UTC),
        "minute",
    )
    assert chosen("", "", "", NOW).end == datetime(2026, 12, 2, 11, tzinfo=UTC)  # 24 h, hours
    month = chosen("30d", "", "", NOW)
    assert (month.end, month.grain) == (datetime(2026, 12, 3, tzinfo=UTC), "day")
    assert month.query() == {"range": "30d"}


def test_a_typed_range_is_read_as_utc_and_a_preset_button_wins_over_it():
    typed = chosen("", "2026-11-01T08:00", "2026-11-01T09:30:15", NOW)
    assert (typed.start, typed.end) == (
        datetime(2026, 11, 1, 8, tzinfo=UTC),
        datetime(2026, 11, 1, 9, 30, 15, tzinfo=UTC),
    )
    assert typed.query() == {"start": "2026-11-01T08:00:00", "end": "2026-11-01T09:30:15"}
    assert chosen("7d", "2026-11-01T08:00", "", NOW).preset == "7d"


@pytest.mark.parametrize(
    ("preset", "start", "end", "message"),
    [
        ("week", "", "", "Unknown range 'week'"),
        ("", "2026-11-02T00:00", "2026-11-01T00:00", "The start must be before the end."),
        ("", "2026-11-01T00:00", "2026-11-01T00:00", "The start must be before the end."),
        ("", "soon", "", "'soon' is not a date and time"),
        ("", "", "9999-12-31T23:59", "is out of range"),
        ("", "2000-01-01T00:00", "", "too long"),
    ],
)
def test_bad_ranges_say_why(preset, start, end, message):
    with pytest.raises(BadRange, match=message):
        chosen(preset, start, end, NOW)
