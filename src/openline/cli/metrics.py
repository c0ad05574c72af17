"""``openline metrics``: evaluation metrics (``/agents/metrics``), the agents they are
attached to, and their results per call, listed or exported as CSV (docs/evaluations.md)."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any
from urllib.parse import urlencode

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

from openline.cli._client import AgentRef, Api, segment, target
from openline.cli._errors import CliError, cli_errors
from openline.cli._output import (
    Cell,
    JsonFlag,
    compact,
    console,
    err_console,
    list_table,
    parse_json_object,
    parse_since,
    print_fields,
    print_json,
    print_list,
    when,
)

app = typer.Typer(
    name="metrics",
    help="Evaluation metrics: create them (an LLM question or an offline rule), attach them "
    "to agents, and read or export their results per call.",
    no_args_is_help=True,
)

PAGE_MAX = 100  # the API's largest page
METRIC_PREFIX = "metric_"

MetricRef = Annotated[
    str,
    typer.Argument(
        metavar="METRIC", help="Metric id (metric_…) or exact name.", show_default=False
    ),
]


class ExportFormat(StrEnum):
    csv = "csv"


# -- finding metrics ---------------------------------------------------------------------


def all_metrics(api: Api) -> Iterator[dict]:
    """Every metric, newest first, page by page."""
    cursor = None
    while True:
        page = api.get("/agents/metrics", limit=PAGE_MAX, starting_after=cursor)
        yield from page["data"]
        cursor = page.get("next_page")
        if not page.get("has_more") or not cursor or not page["data"]:
            return


def metric(api: Api, ref: str) -> dict:
    """A metric by id, else by its exact name (a name may itself start with ``metric_``)."""
    if ref.startswith(METRIC_PREFIX):
        try:
            return api.get(f"/agents/metrics/{segment(ref)}")
        except CliError:
            pass  # not an id: perhaps a name
    for found in all_metrics(api):
        if found["name"] == ref:
            return found
    raise CliError(f"no metric with id or name {ref!r} (see `openline metrics ls`)")


# -- rules from options ------------------------------------------------------------------

_COMPARISON = re.compile(r"^\s*([^<>=!\s]+)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$")
RULE_OPTIONS = ("--rule", "--rule-file", "--event", "--tool", "--transcript", "--metric")


def metric_rule(text: str) -> dict:
    """``score>=5`` as a metric rule."""
    match = _COMPARISON.match(text)
    number = None
    if match:
        try:
            number = float(match.group(3))
        except ValueError:
            number = None
    if match is None or number is None:
        raise CliError(
            f"--metric must be NAME OP NUMBER with OP one of < <= == != >= >, like "
            f"'score>=5', not {text!r}"
        )
    value: float | int = int(number) if number.is_integer() else number
    return {"type": "metric", "name": match.group(1), "op": match.group(2), "value": value}


def transcript_rule(text: str) -> dict:
    """``assistant:has shipped`` as a transcript rule."""
    role, colon, pattern = text.partition(":")
    role = role.strip().lower()
    if not colon or role not in ("user", "assistant") or not pattern:
        raise CliError(
            f"--transcript must be ROLE:REGEX with ROLE user or assistant, like "
            f"'assistant:has shipped', not {text!r}"
        )
    return {"type": "transcript", "role": role, "pattern": pattern}


def rule_from(
    rule: str | None,
    rule_file: Path | None,
    event: str | None,
    tool: str | None,
    transcript: str | None,
    metric_option: str | None,
    end_reason: str | None,
) -> dict | None:
    """The rule the options describe (at most one of them), or None for an LLM metric."""
    given = [
        name
        for name, value in zip(
            (*RULE_OPTIONS, "--end-reason"),
            (rule, rule_file, event, tool, transcript, metric_option, end_reason),
            strict=True,
        )
        if value is not None
    ]
    if len(given) > 1:
        raise CliError(f"give one rule, not {' and '.join(given)}")
    if rule is not None:
        return parse_json_object(rule, "--rule")
    if rule_file is not None:
        try:
            text = rule_file.read_text(encoding="utf-8")
        except OSError as error:
            raise CliError(f"cannot read {rule_file}: {error.strerror or error}") from None
        return parse_json_object(text, f"--rule-file {rule_file}")
    if event is not None:
        return {"type": "event", "name": event}
    if tool is not None:
        return {"type": "tool_called", "name": tool}
    if transcript is not None:
        return transcript_rule(transcript)
    if metric_option is not None:
        return metric_rule(metric_option)
    if end_reason is not None:
        reasons = [reason.strip() for reason in end_reason.split(",") if reason.strip()]
        if not reasons:
            raise CliError("--end-reason needs one or more end reasons, like agent_hangup")
        return {"type": "end_reason", "in": reasons}
    return None


def describe_rule(rule: dict | None) -> str:
    """A rule in a few words, as `metrics ls` shows it."""
    if not rule:
        return "LLM judge"
    kind = rule.get("type")
    if kind == "event":
        extra = f" {compact(rule['metadata'])}" if rule.get("metadata") else ""
        return f"event {rule.get('name')}{extra}"
    if kind == "tool_called":
        extra = f" {compact(rule['arguments'])}" if rule.get("arguments") else ""
        return f"tool {rule.get('name')} called{extra}"
    if kind == "metric":
        value = rule.get("value")
        shown = f"{value:g}" if isinstance(value, float) else value
        return f"metric {rule.get('name')} {rule.get('op')} {shown}"
    if kind == "transcript":
        flags = "" if rule.get("ignore_case", True) else " (case-sensitive)"
        never = "no " if rule.get("absent") else ""
        return f"{never}{rule.get('role')} turn matches /{rule.get('pattern')}/{flags}"
    if kind == "end_reason":
        return f"end reason in {', '.join(rule.get('in') or [])}"
    return compact(rule)


# -- commands ----------------------------------------------------------------------------


RuleJson = Annotated[
    str | None,
    typer.Option(
        "--rule",
        metavar="JSON",
        help='An offline rule as JSON, e.g. \'{"type": "event", "name": "order_processed"}\' '
        "(see docs/evaluations.md).",
        show_default=False,
    ),
]
RuleFile = Annotated[
    Path | None,
    typer.Option("--rule-file", help="An offline rule, as JSON in this file.", show_default=False),
]
EventRule = Annotated[
    str | None,
    typer.Option(
        "--event", metavar="NAME", help="Rule: the agent logged this event.", show_default=False
    ),
]
ToolRule = Annotated[
    str | None,
    typer.Option(
        "--tool", metavar="NAME", help="Rule: the agent called this tool.", show_default=False
    ),
]
TranscriptRule = Annotated[
    str | None,
    typer.Option(
        "--transcript",
        metavar="ROLE:REGEX",
        help="Rule: a turn of ROLE (user or assistant) matches REGEX (case-insensitive).",
        show_default=False,
    ),
]
MetricRule = Annotated[
    str | None,
    typer.Option(
        "--metric",
        metavar="NAME OP NUMBER",
        help="Rule: the last value the agent logged for a metric compares to a number, "
        "e.g. 'score>=5' (< <= == != >= >).",
        show_default=False,
    ),
]
EndReasonRule = Annotated[
    str | None,
    typer.Option(
        "--end-reason",
        metavar="A,B",
        help="Rule: the call ended for one of these reasons, e.g. agent_hangup,client_hangup.",
        show_default=False,
    ),
]


@app.command("create")
@cli_errors
def create(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="Unique name: lower case letters, digits and _ - .", show_default=False
        ),
    ],
    prompt: Annotated[
        str,
        typer.Option(
            help="The question about a call (what an LLM judge is asked; a rule metric's "
            "description).",
            show_default=False,
        ),
    ],
    display_name: Annotated[
        str | None, typer.Option(help="A readable name.", show_default=False)
    ] = None,
    rule: RuleJson = None,
    rule_file: RuleFile = None,
    event: EventRule = None,
    tool: ToolRule = None,
    transcript: TranscriptRule = None,
    metric_option: MetricRule = None,
    end_reason: EndReasonRule = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a metric: an LLM judge's question, or an offline rule (one rule option).

    Without a rule the metric is judged by the LLM judge (the analysis LLM settings).
    """
    body: dict[str, Any] = {"name": name, "prompt": prompt}
    if display_name is not None:
        body["display_name"] = display_name
    found_rule = rule_from(rule, rule_file, event, tool, transcript, metric_option, end_reason)
    if found_rule is not None:
        body["rule"] = found_rule
    with Api(target(ctx)) as api:
        made = api.post("/agents/metrics", body)
    if as_json:
        print_json(made)
        return
    console.print(
        f"Created metric [bold]{escape(made['name'])}[/] ({made['id']}): "
        f"{escape(describe_rule(made.get('rule')))}"
    )
    console.print(
        f"Judge it after each call of an agent: openline metrics attach {made['name']} AGENT"
    )


@app.command("ls")
@cli_errors
def list_metrics(
    ctx: typer.Context,
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent",
            help="Only the metrics attached to this agent (id or name).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List metrics, newest first (with --agent: the agent's, by name)."""
    with Api(target(ctx)) as api:
        if agent is not None:
            agent_id = api.agent_id(agent)
            found = api.get(f"/agents/{segment(agent_id)}/metrics")["data"]
            empty = (
                f"No metrics attached to {agent}. Attach one: openline metrics attach METRIC "
                f"{agent}"
            )
        else:
            found = list(all_metrics(api))
            empty = "No metrics yet. Create one: openline metrics create NAME --prompt …"
    print_list(
        found,
        ("ID", "NAME", "DISPLAY NAME", "JUDGED BY", "CREATED (UTC)"),
        lambda row: (
            row["id"],
            row["name"],
            row.get("display_name"),
            describe_rule(row.get("rule")),
            when(row.get("created_at")),
        ),
        empty=empty,
        as_json=as_json,
    )


@app.command("get")
@cli_errors
def get(ctx: typer.Context, metric_ref: MetricRef, as_json: JsonFlag = False) -> None:
    """Show one metric: its prompt, and its rule if it has one."""
    with Api(target(ctx)) as api:
        found = metric(api, metric_ref)
    print_fields(found, _details, as_json=as_json)


def _details(row: dict) -> list[tuple[str, Cell]]:
    fields: list[tuple[str, Cell]] = [
        ("id", row["id"]),
        ("name", row["name"]),
        ("display name", row.get("display_name")),
        ("prompt", row["prompt"]),
        ("judged by", describe_rule(row.get("rule"))),
    ]
    if row.get("rule"):
        fields.append(("rule", compact(row["rule"], None)))
    fields.append(("created (UTC)", when(row.get("created_at"))))
    return fields


@app.command("attach")
@cli_errors
def attach(ctx: typer.Context, metric_ref: MetricRef, agent: AgentRef) -> None:
    """Judge the metric after each of the agent's calls, from its next call on."""
    with Api(target(ctx)) as api:
        found = metric(api, metric_ref)
        agent_id = api.agent_id(agent)
        api.post(f"/agents/{segment(agent_id)}/metrics/{segment(found['id'])}", {})
    console.print(
        f"Attached metric {escape(found['name'])} to agent {escape(agent)}: judged after each "
        "of its calls from now on."
    )


@app.command("detach")
@cli_errors
def detach(ctx: typer.Context, metric_ref: MetricRef, agent: AgentRef) -> None:
    """Stop judging the metric after the agent's calls (results so far are kept)."""
    with Api(target(ctx)) as api:
        found = metric(api, metric_ref)
        agent_id = api.agent_id(agent)
        api.delete(f"/agents/{segment(agent_id)}/metrics/{segment(found['id'])}")
    console.print(f"Detached metric {escape(found['name'])} from agent {escape(agent)}.")


# -- results -----------------------------------------------------------------------------


_TIME_FORMS = "ISO 8601 (UTC unless it has a zone) or an age like 30m, 2h, 7d"
Start = Annotated[
    str | None,
    typer.Option(help=f"Results judged at or after: {_TIME_FORMS}.", show_default=False),
]
End = Annotated[
    str | None,
    typer.Option(help=f"Results judged at or before: {_TIME_FORMS}.", show_default=False),
]


def _instant(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    try:
        return parse_since(value)
    except CliError as error:
        raise CliError(f"{option}: {error}") from None


def result_filters(
    api: Api,
    agent: str | None,
    call: str | None,
    deployment: str | None,
    metric_ref: str | None,
    since: str | None,
    start: str | None,
    end: str | None,
) -> dict[str, Any]:
    if since is not None and (start is not None or end is not None):
        raise CliError("give either --since or --start / --end, not both")
    return {
        "agent_id": api.agent_id(agent) if agent else None,
        "call_id": call,
        "deployment_id": deployment,
        "metric_id": metric(api, metric_ref)["id"] if metric_ref else None,
        "start_date": _instant(since, "--since") or _instant(start, "--start"),
        "end_date": _instant(end, "--end"),
    }


def result_pages(api: Api, filters: dict[str, Any], limit: int) -> tuple[list[dict], bool]:
    """Up to ``limit`` results, newest first, and whether there are more."""
    rows: list[dict] = []
    cursor = None
    while len(rows) <= limit:
        page = api.get(
            "/agents/metrics/results",
            **filters,
            limit=min(PAGE_MAX, limit + 1 - len(rows)),
            starting_after=cursor,
        )
        rows += page["data"]
        cursor = page.get("next_page")
        if not page.get("has_more") or not cursor or not page["data"]:
            break
    return rows[:limit], len(rows) > limit


_STATUS_STYLES = {"completed": "green", "failed": "bold red"}


def passed_text(result: dict) -> Text:
    """✓ passed, ✗ not passed, - when the question is not pass/fail or judging failed."""
    if result.get("passed") is True:
        return Text("✓", style="green")
    if result.get("passed") is False:
        return Text("✗", style="bold red")
    return Text("-")


def value_text(result: dict) -> str:
    if result.get("result"):
        return result["result"]
    return "-" if result.get("value") is None else compact(result["value"], 80)


def reason_text(result: dict) -> Text:
    reason = result.get("reason") or "-"
    return Text(reason, style="red" if result.get("status") == "failed" else "")


def results_table(results: list[dict], with_call: bool = True) -> Table:
    columns = ["TIME (UTC)", "CALL", "METRIC", "STATUS", "PASSED", "VALUE", "REASON"]
    if not with_call:
        columns.remove("CALL")
        columns.remove("TIME (UTC)")
    rows = []
    for result in results:
        cells: list[Cell] = [
            when(result.get("createdAt")),
            result.get("callId"),
            result.get("metricName"),
            Text(result["status"], style=_STATUS_STYLES.get(result["status"], "")),
            passed_text(result),
            value_text(result),
            reason_text(result),
        ]
        rows.append(cells if with_call else cells[2:])
    return list_table(columns, rows)


Output = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="With --export: write to this file (- for stdout, the default).",
        show_default=False,
    ),
]


@app.command("results")
@cli_errors
def results(
    ctx: typer.Context,
    agent: Annotated[
        str | None,
        typer.Option("--agent", help="Only this agent's calls (id or name).", show_default=False),
    ] = None,
    call: Annotated[
        str | None, typer.Option("--call", help="Only this call (call_…).", show_default=False)
    ] = None,
    deployment: Annotated[
        str | None,
        typer.Option("--deployment", help="Only this deployment's calls.", show_default=False),
    ] = None,
    metric_ref: Annotated[
        str | None,
        typer.Option("--metric", help="Only this metric (id or name).", show_default=False),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Results judged since: an age like 30m, 24h, 7d, or ISO 8601.",
            show_default=False,
        ),
    ] = None,
    start: Start = None,
    end: End = None,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1, help="How many results, newest first (default 20).", show_default=False
        ),
    ] = None,
    as_json: JsonFlag = False,
    export: Annotated[
        ExportFormat | None,
        typer.Option(
            "--export",
            help="Stream every matching result as CSV (to stdout, or -o FILE).",
            show_default=False,
        ),
    ] = None,
    output: Output = None,
) -> None:
    """Metric results, newest first: time, call, metric, status, passed, value, reason."""
    if export is None and output is not None:
        raise CliError("-o / --output goes with --export csv")
    if export is not None and (limit is not None or as_json):
        raise CliError("--export writes every matching result: leave out --limit and --json")
    with Api(target(ctx)) as api:
        filters = result_filters(api, agent, call, deployment, metric_ref, since, start, end)
        if export is not None:
            _export(api, filters, output)
            return
        shown, more = result_pages(api, filters, limit or 20)
    if as_json:
        print_json(shown)
        return
    if not shown:
        console.print("No results match." if any(filters.values()) else "No results yet.")
        return
    console.print(results_table(shown))
    if more:
        err_console.print(f"[dim]Showing the {limit or 20} newest; --limit shows more.[/]")


def _export(api: Api, filters: dict[str, Any], output: Path | None) -> None:
    query = urlencode({key: value for key, value in filters.items() if value is not None})
    path = "/agents/metrics/results/export" + (f"?{query}" if query else "")
    rows = CsvRows()
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        TextColumn("{task.completed} results"),
        console=err_console,
        disable=not err_console.is_terminal,
        transient=False,
    )
    with (
        api.download(path) as response,
        progress,
        _output_file(output) as out,
    ):
        task = progress.add_task("Exporting metric results", total=None)
        try:
            for chunk in response.iter_bytes():
                out.write(chunk)
                progress.update(task, completed=rows.feed(chunk))
        except CliError as error:
            where = "stdout" if _is_stdout(output) else str(output)
            raise CliError(
                f"{error} (export stopped: {where} holds the {rows.count} results written so far)"
            ) from None
        out.flush()
    where = "stdout" if _is_stdout(output) else str(output)
    noun = "result" if rows.count == 1 else "results"
    err_console.print(f"Exported {rows.count} metric {noun} (csv) to {escape(where)}")


class CsvRows:
    """Counts the records of a CSV as its bytes stream by: each record ends with a line
    break outside quotes (a quote inside a quoted field is doubled, so quotes toggle in
    pairs, even split across chunks); the first record is the header."""

    def __init__(self) -> None:
        self._quoted = False
        self._breaks = 0

    def feed(self, chunk: bytes) -> int:
        for index, part in enumerate(chunk.split(b'"')):
            if index:
                self._quoted = not self._quoted
            if not self._quoted:
                self._breaks += part.count(b"\n")
        return self.count

    @property
    def count(self) -> int:
        return max(0, self._breaks - 1)


@contextlib.contextmanager
def _output_file(path: Path | None) -> Iterator[IO[bytes]]:
    if _is_stdout(path):
        yield sys.stdout.buffer
        return
    assert path is not None
    try:
        handle = path.open("wb")
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}") from None
    with handle:
        yield handle


def _is_stdout(path: Path | None) -> bool:
    return path is None or str(path) == "-"
