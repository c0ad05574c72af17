"""``openline stats``: fleet analytics in the terminal (``GET /agents/analytics``), with
evaluation pass rates, and two deployments of an agent compared measure by measure."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from openline.cli._client import Api, target
from openline.cli._errors import CliError, cli_errors
from openline.cli._output import (
    Cell,
    console,
    fields_table,
    list_table,
    parse_since,
    print_json,
    when,
)
from openline.domain.analytics import PASS_RATE_WORSE_BY, WORSE_BY, Change, compare
from openline.domain.tally import LATENCIES

BARS = "▁▂▃▄▅▆▇█"
NO_DEPLOYMENT = "(no deployment)"  # calls through a self-hosted agent URL
# Room the series table leaves its sparklines: the label and "peak …" columns take the rest.
SPARK_MARGIN = 36


class By(StrEnum):  # the API's group_by, less its "_id"
    deployment = "deployment"
    agent = "agent"


class Bucket(StrEnum):  # domain.buckets.Grain
    minute = "minute"
    hour = "hour"
    day = "day"


Time = Annotated[
    str | None,
    typer.Option(
        help="ISO 8601 (UTC unless it has a zone) or an age like 30m, 2h, 7d.",
        show_default=False,
    ),
]


@cli_errors
def stats(
    ctx: typer.Context,
    agent: Annotated[
        str | None,
        typer.Argument(
            metavar="AGENT",
            help="Only this agent's calls: id (agent_…) or exact name (default: every agent).",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Calls started since: an age like 90m, 24h, 7d, or ISO 8601 "
            "(default: the last 24 h).",
            show_default=False,
        ),
    ] = None,
    start: Time = None,
    end: Time = None,
    by: Annotated[
        By | None,
        typer.Option(
            help="A row per deployment or per agent, besides the totals.",
            show_default=False,
        ),
    ] = None,
    bucket: Annotated[
        Bucket | None,
        typer.Option(
            help="The series' buckets (default: by span; minutes up to 3 h, hours up to 10 d).",
            show_default=False,
        ),
    ] = None,
    metadata: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY:VALUE",
            help="Only calls whose metadata has key:value (repeatable; all must match).",
            show_default=False,
        ),
    ] = None,
    deployments: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--compare",
            metavar="DEP_A DEP_B",
            help="Compare two of AGENT's deployments: DEP_B against DEP_A, worse rows marked.",
            show_default=False,
        ),
    ] = None,
    include_test_runs: Annotated[
        bool,
        typer.Option(
            "--include-test-runs",
            help="Count test runs' calls too (metadata test_run, made by openline test).",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the API's reply (with --compare: the comparison).")
    ] = False,
) -> None:
    """Fleet analytics over a time range: calls, failures, latency, duration, turns, tools,
    metrics, events, evaluation pass rates, and their series; or two deployments side by
    side (--compare)."""
    query: dict[str, Any] = _range(since, start, end) | {
        "metadata": metadata or None,
        "bucket": bucket.value if bucket else None,
        "include_test_runs": "true" if include_test_runs else None,
    }
    if deployments is not None:
        if agent is None:
            raise CliError("--compare needs the AGENT whose deployments to compare")
        if by is not None:
            raise CliError("--compare already compares deployments: leave out --by")
    with Api(target(ctx)) as api:
        found = api.agent(agent) if agent else None
        query["agent_id"] = found["id"] if found else None
        if deployments is not None and found is not None:  # --compare has its AGENT (above)
            report = api.get("/agents/analytics", **query, group_by="deployment_id")
            _print_comparison(report, found, *deployments, as_json=as_json)
            return
        group_by = f"{by.value}_id" if by else None
        report = api.get("/agents/analytics", **query, group_by=group_by)
        names = _agent_names(api) if by is By.agent and not as_json else {}
    if as_json:
        print_json(report)
        return
    _print_report(report, found, names)


def _range(since: str | None, start: str | None, end: str | None) -> dict[str, str | None]:
    if since is not None and (start is not None or end is not None):
        raise CliError("give either --since or --start / --end, not both")
    if since is not None:
        return {"start": _instant(since, "--since"), "end": None}
    return {"start": _instant(start, "--start"), "end": _instant(end, "--end")}


def _instant(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    try:
        return parse_since(value)
    except CliError as error:
        raise CliError(f"{option}: {error}") from None


def _agent_names(api: Api) -> dict[str, str]:
    return {agent["id"]: agent["name"] for agent in api.get("/agents")["summaries"]}


# -- formatting numbers ---------------------------------------------------------------


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def counts(values: dict[str, int]) -> str:
    """``{"info": 4, "error": 1}`` as ``info 4, error 1`` (the API lists the most first)."""
    return ", ".join(f"{name} {count}" for name, count in values.items()) or "-"


def sparkline(values: Sequence[float | None]) -> str:
    """A bar per value, scaled to the largest: zero is ▁, anything above zero at least ▂
    (so one failure among many calls still shows), and no value at all is a blank."""
    top = max((value for value in values if value is not None), default=0.0)
    steps = len(BARS) - 1
    marks = []
    for value in values:
        if value is None:
            marks.append(" ")
        elif value <= 0 or top <= 0:
            marks.append(BARS[0])
        else:
            marks.append(BARS[max(1, round(value / top * steps))])
    return "".join(marks)


# -- the report -----------------------------------------------------------------------


def _print_report(report: dict, agent: dict | None, names: dict[str, str]) -> None:
    console.print(
        _heading(f"Fleet analytics: {_agent_text(agent) if agent else 'every agent'}", report)
    )
    totals = report["totals"]
    if not totals["calls"]["count"]:
        console.print("No ended calls in this range.")
        return
    _section("Calls", fields_table(_call_fields(totals)))
    _section("Latency", _latency_table(totals))
    if totals["tool_calls"]:
        _section("Tool calls", _tools_table(totals))
    numeric = {k: v for k, v in totals["metrics"].items() if "values" not in v}
    valued = {k: v for k, v in totals["metrics"].items() if "values" in v}
    if numeric:
        _section("Metrics", _numeric_metrics_table(numeric))
    if valued:
        _section("Metric values", _valued_metrics_table(valued))
    if totals["events"]:
        _section("Events", _events_table(totals))
    if totals.get("evaluations"):
        _section("Evaluations", _evaluations_table(totals["evaluations"]))
    _print_series(report)
    if report["group_by"]:
        _print_groups(report, names)


def _heading(title: str, report: dict) -> Text:
    """The title in bold, then the range and the metadata filter the numbers are of."""
    heading = Text(title, style="bold")
    heading.append(f"  {when(report['start'])} → {when(report['end'])} UTC")
    pairs = report["filters"]["metadata"]
    if pairs:
        heading.append("  metadata " + ", ".join(f"{k}:{v}" for k, v in pairs.items()))
    if report["filters"].get("include_test_runs"):
        heading.append("  test runs included")
    return heading


def _agent_text(agent: dict) -> str:
    return f"{agent['name']} ({agent['id']})"


def _section(title: str, table: Table) -> None:
    console.print()
    console.print(Text(title, style="bold underline"))
    console.print(table)


def _call_fields(totals: dict) -> list[tuple[str, Cell]]:
    calls, duration, turns = totals["calls"], totals["duration_s"], totals["turns"]
    failure_rate = share(calls["failed"], calls["count"])
    return [
        ("calls", str(calls["count"])),
        ("completed", str(calls["completed"])),
        ("failed", Text(str(calls["failed"]), style="bold red" if calls["failed"] else "")),
        ("failure rate", percent(failure_rate)),
        ("end reasons", counts(calls["end_reasons"])),
        (
            "duration",
            f"mean {seconds(duration['mean'])}, p50 {seconds(duration['p50'])}, "
            f"p95 {seconds(duration['p95'])}, total {seconds(duration['sum'])}",
        ),
        ("turns", str(turns["count"])),
        (
            "interrupted",
            f"{turns['interrupted']} ({percent(share(turns['interrupted'], turns['count']))})",
        ),
    ]


def _latency_table(totals: dict) -> Table:
    rows = []
    for name in LATENCIES:
        latency = totals["latency_s"].get(name) or {"count": 0}
        quantiles = [seconds(latency.get(q)) for q in ("p50", "p90", "p95", "p99")]
        rows.append((name, str(latency["count"]), *quantiles))
    return list_table(("LATENCY", "COUNT", "P50", "P90", "P95", "P99"), rows)


def _tools_table(totals: dict) -> Table:
    rows = [
        (name, str(t["count"]), _errors(t["errors"]), percent(share(t["errors"], t["count"])))
        for name, t in totals["tool_calls"].items()
    ]
    return list_table(("TOOL", "CALLS", "ERRORS", "ERROR RATE"), rows)


def _errors(count: int) -> Text:
    return Text(str(count), style="bold red" if count else "")


def _numeric_metrics_table(metrics: dict[str, dict]) -> Table:
    rows = [
        (name, str(m["count"]), *(number(m[k]) for k in ("mean", "min", "max", "p50", "p95")))
        for name, m in metrics.items()
    ]
    return list_table(("METRIC", "COUNT", "MEAN", "MIN", "MAX", "P50", "P95"), rows)


def _valued_metrics_table(metrics: dict[str, dict]) -> Table:
    rows = [(name, str(m["count"]), counts(m["values"])) for name, m in metrics.items()]
    return list_table(("METRIC", "COUNT", "VALUES (MOST FREQUENT FIRST)"), rows)


_EVALUATION_COLUMNS = ("JUDGED", "PASSED", "FAILED", "ERRORED", "PASS RATE")


def _evaluation_cells(evaluation: dict) -> tuple[Cell, ...]:
    return (
        str(evaluation["judged"]),
        str(evaluation["passed"]),
        _errors(evaluation["failed"]),
        _errors(evaluation["errored"]),
        percent(evaluation["pass_rate"]),
    )


def _evaluations_table(evaluations: dict[str, dict]) -> Table:
    """Per evaluation metric: its final results and pass rate (passed of passed + failed)."""
    rows = [(name, *_evaluation_cells(e)) for name, e in evaluations.items()]
    return list_table(("EVALUATION", *_EVALUATION_COLUMNS), rows)


def _events_table(totals: dict) -> Table:
    rows = [
        (name, str(event["count"]), counts(event["levels"]))
        for name, event in totals["events"].items()
    ]
    return list_table(("EVENT", "COUNT", "LEVELS"), rows)


# -- the series -----------------------------------------------------------------------


def _print_series(report: dict) -> None:
    """Calls, failures and response p95 per bucket; a long series folds several buckets
    into a mark (counts added, p95 the worst) so that it fits on one line."""
    series = report["series"]
    per_mark = max(1, math.ceil(len(series) / max(10, console.width - SPARK_MARGIN)))
    calls = _fold([entry["calls"]["count"] for entry in series], per_mark, sum)
    failed = _fold([entry["calls"]["failed"] for entry in series], per_mark, sum)
    p95 = _fold([entry["latency_s"]["response"]["p95"] for entry in series], per_mark, max)
    rows: list[tuple[str, Cell]] = [
        ("calls", _spark(calls, number)),
        ("failed", _spark(failed, number, style="red")),
        ("response p95", _spark(p95, seconds)),
    ]
    every = report["bucket"] if per_mark == 1 else f"{per_mark} {report['bucket']}s"
    _section(f"Series (a mark per {every}, {len(series)} buckets)", fields_table(rows))


def _fold(
    values: list[float | None], size: int, combine: Callable[[list[float]], float]
) -> list[float | None]:
    folded: list[float | None] = []
    for at in range(0, len(values), size):
        present = [value for value in values[at : at + size] if value is not None]
        folded.append(combine(present) if present else None)
    return folded


def _spark(values: list[float | None], shown: Callable[[float], str], style: str = "") -> Text:
    peak = max((value for value in values if value is not None), default=None)
    line = Text(sparkline(values), style=style)
    return line.append(f"  peak {shown(peak) if peak is not None else '-'}", style="dim")


# -- groups ---------------------------------------------------------------------------


def _print_groups(report: dict, names: dict[str, str]) -> None:
    key = report["group_by"]
    noun = key.removesuffix("_id")
    label = _group_label(key, names)
    calls_rows, latency_rows = [], []
    for group in report["groups"]:
        calls, turns = group["calls"], group["turns"]
        tools = group["tool_calls"].values()
        calls_rows.append(
            (
                label(group[key]),
                str(calls["count"]),
                str(calls["completed"]),
                _errors(calls["failed"]),
                percent(share(calls["failed"], calls["count"])),
                seconds(group["duration_s"]["p50"]),
                str(turns["count"]),
                str(turns["interrupted"]),
                str(sum(tool["count"] for tool in tools)),
                _errors(sum(tool["errors"] for tool in tools)),
            )
        )
        latency = group["latency_s"]
        latency_rows.append(
            (
                label(group[key]),
                *(seconds(latency["response"][q]) for q in ("p50", "p95", "p99")),
                seconds(latency["tts_ttfb"]["p95"]),
                seconds(latency["stt_ttfb"]["p95"]),
            )
        )
    heading = noun.upper()
    calls_columns = (heading, "CALLS", "COMPLETED", "FAILED", "FAILURE RATE", "DURATION P50")
    more_columns = ("TURNS", "INTERRUPTED", "TOOL CALLS", "TOOL ERRORS")
    _section(f"Calls by {noun}", list_table(calls_columns + more_columns, calls_rows))
    latency_columns = ("RESPONSE P50", "RESPONSE P95", "RESPONSE P99", "TTS_TTFB P95")
    _section(
        f"Latency by {noun}",
        list_table((heading, *latency_columns, "STT_TTFB P95"), latency_rows),
    )
    evaluation_rows = [
        (label(group[key]), name, *_evaluation_cells(evaluation))
        for group in report["groups"]
        for name, evaluation in group.get("evaluations", {}).items()
    ]
    if evaluation_rows:
        _section(
            f"Evaluations by {noun}",
            list_table((heading, "EVALUATION", *_EVALUATION_COLUMNS), evaluation_rows),
        )


def _group_label(key: str, names: dict[str, str]) -> Callable[[str | None], str]:
    def label(group: str | None) -> str:
        if group is None:
            return NO_DEPLOYMENT
        if key == "agent_id" and group in names:
            return f"{names[group]} ({group})"
        return group

    return label


# -- comparing two deployments ----------------------------------------------------------

_SECTION_NAMES = {
    "duration_s": "duration",
    "latency_s": "latency",
    "tool_calls": "tool",
    "metrics": "metric",
    "events": "event",
    "evaluations": "evaluation",
}


def _print_comparison(report: dict, agent: dict, before: str, after: str, *, as_json: bool) -> None:
    groups = {group["deployment_id"]: group for group in report["groups"]}
    missing = [
        deployment for deployment in dict.fromkeys((before, after)) if deployment not in groups
    ]
    if missing:
        others = sorted(deployment for deployment in groups if deployment)  # None: no deployment
        seen = f"; deployments with calls: {', '.join(others)}" if others else ""
        raise CliError(
            f"no ended calls of {_agent_text(agent)} from {' or '.join(missing)} "
            f"between {when(report['start'])} and {when(report['end'])} UTC{seen}"
        )
    changes = compare(groups[before], groups[after])
    if as_json:
        print_json(
            {
                "agent_id": agent["id"],
                "start": report["start"],
                "end": report["end"],
                "filters": report["filters"],
                "before": groups[before],
                "after": groups[after],
                "changes": [dataclasses.asdict(change) for change in changes],
            }
        )
        return
    console.print(_heading(f"{_agent_text(agent)}: {after} against {before}", report))
    console.print(list_table(("MEASURE", before, after, "CHANGE", ""), map(_change_row, changes)))
    worse = sum(1 for change in changes if change.worse)
    noun = "measure" if worse == 1 else "measures"
    allowance = f"{WORSE_BY * 100:.0f} %"
    if any(change.section == "evaluations" for change in changes):
        allowance += f" (pass rates: {PASS_RATE_WORSE_BY * 100:.0f} points)"
    console.print()
    console.print(
        Text(f"{worse} {noun} worse by more than {allowance}.", style="bold red")
        if worse
        else Text(f"Nothing got worse by more than {allowance}.", style="green")
    )


def _change_row(change: Change) -> tuple[Cell, ...]:
    shown = _format_of(change)
    style = "red" if change.worse else ""
    section = _SECTION_NAMES.get(change.section, change.section)
    return (
        Text(f"{section} {change.measure}", style=style),
        shown(change.before),
        shown(change.after),
        _points(change.before, change.after)
        if change.section == "evaluations"
        else _relative(change.before, change.after),
        Text("▲ worse", style="bold red") if change.worse else Text(""),
    )


def _format_of(change: Change) -> Callable[[float | None], str]:
    if change.measure.endswith(("rate", "share")):
        return percent
    if change.section in ("latency_s", "duration_s"):
        return seconds
    return number


def _points(before: float | None, after: float | None) -> str:
    """A pass rate's change in percentage points (what its worse allowance is in)."""
    if before is None or after is None:
        return "-"
    change = (after - before) * 100
    return "±0 pts" if abs(change) < 0.05 else f"{change:+.1f} pts"


def _relative(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "-"
    if before == 0:
        return "±0 %" if after == 0 else "from 0"
    change = (after - before) / abs(before)
    return "±0 %" if abs(change) < 0.0005 else f"{change * 100:+.1f} %"
