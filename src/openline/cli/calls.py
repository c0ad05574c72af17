"""``openline calls``: list, read, follow and export calls and their transcripts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import httpx
import typer
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from openline.cli._client import Api, Target, segment, tail_events, target
from openline.cli._errors import CliError, cli_errors
from openline.cli._live import FactPrinter, TimeOrder
from openline.cli._output import JsonFlag, console, err_console, parse_since, print_json
from openline.cli._views import call_view, calls_table, end_reason_text
from openline.cli.metrics import results_table
from openline.domain.calls import CallStatus, EndReason
from openline.domain.log_levels import LEVELS, at_least
from openline.domain.transcript_files import (
    EXPORT_FORMATS,
    TRANSCRIPT_FORMATS,
    ExportWriter,
    render,
)

app = typer.Typer(
    name="calls",
    help="List, read, follow and export calls and their transcripts.",
    no_args_is_help=True,
)

PAGE_MAX = 100  # the API's largest page

CallId = Annotated[str, typer.Argument(help="Call id (call_…).", show_default=False)]
AgentFilter = Annotated[
    str | None,
    typer.Option("--agent", help="Only this agent's calls (id or name).", show_default=False),
]
StatusFilter = Annotated[CallStatus | None, typer.Option("--status", show_default=False)]
EndReasonFilter = Annotated[EndReason | None, typer.Option("--end-reason", show_default=False)]
Since = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Calls started at or after: ISO 8601 (UTC unless it has a zone) or an age "
        "like 30m, 2h, 7d.",
        show_default=False,
    ),
]
Until = Annotated[
    str | None,
    typer.Option(
        "--until", help="Calls started before (same forms as --since).", show_default=False
    ),
]


def _filters(
    api: Api,
    agent: str | None,
    status: CallStatus | None,
    end_reason: EndReason | None,
    since: str | None,
    until: str | None,
) -> dict[str, Any]:
    return {
        "agent_id": api.agent_id(agent) if agent else None,
        "status": status.value if status else None,
        "end_reason": end_reason.value if end_reason else None,
        "start_time_after": parse_since(since) if since else None,
        "start_time_before": parse_since(until) if until else None,
    }


def _pages(
    api: Api, filters: dict[str, Any], limit: int | None, page_size: int, transcript: bool
) -> Iterator[dict]:
    """Calls matching ``filters``, newest first, fetched page by page, at most ``limit``."""
    cursor, seen = None, 0
    while limit is None or seen < limit:
        size = page_size if limit is None else min(page_size, limit - seen)
        page = api.get(
            "/agents/calls",
            **filters,
            limit=size,
            starting_after=cursor,
            expand="transcript" if transcript else None,
        )
        for call in page["data"]:
            yield call
            seen += 1
        cursor = page.get("next_page")
        if not page.get("has_more") or not cursor or not page["data"]:
            return


@app.command("ls")
@cli_errors
def list_calls(
    ctx: typer.Context,
    agent: AgentFilter = None,
    status: StatusFilter = None,
    end_reason: EndReasonFilter = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, typer.Option(min=1, help="How many calls, newest first.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """List calls, newest first."""
    with Api(target(ctx)) as api:
        filters = _filters(api, agent, status, end_reason, since, until)
        found = list(_pages(api, filters, limit + 1, PAGE_MAX, transcript=False))
    calls, more = found[:limit], len(found) > limit
    if as_json:
        print_json(calls)
        return
    if not calls:
        console.print("No calls match." if any(filters.values()) else "No calls yet.")
        return
    console.print(calls_table(calls))
    if more:
        err_console.print(f"[dim]Showing the {limit} newest; --limit shows more.[/]")


@app.command("get")
@cli_errors
def get(ctx: typer.Context, call: CallId, as_json: JsonFlag = False) -> None:
    """Show a call: outcome, transcript (tool calls, events, metrics), metric results.

    --json prints exactly the API's call; its metric results: openline metrics results
    --call CALL --json.
    """
    with Api(target(ctx)) as api:
        found = api.get(f"/agents/calls/{segment(call)}")
        if as_json:
            print_json(found)
            return
        results = api.get("/agents/metrics/results", call_id=found["id"], limit=PAGE_MAX)
    console.print(call_view(found))
    if results["data"]:
        rows = sorted(results["data"], key=lambda result: result["metricName"])
        console.print()
        console.print(Text("Metric results", style="bold underline"))
        console.print(results_table(rows, with_call=False))
        if results.get("has_more"):
            err_console.print(
                f"[dim]The first {PAGE_MAX}; all of them: openline metrics results --call "
                f"{found['id']}[/]"
            )


def _format_for(
    path: Path | None, given: str | None, allowed: tuple[str, ...], default: str
) -> str:
    if given is not None:
        fmt = given.lower()
    elif path is not None and path.suffix.lower().lstrip(".") in allowed:
        fmt = path.suffix.lower().lstrip(".")
    else:
        fmt = default
    if fmt not in allowed:
        raise CliError(f"--format must be one of {', '.join(allowed)}, not {given!r}")
    return fmt


def _is_stdout(path: Path | None) -> bool:
    return path is None or str(path) == "-"


@contextlib.contextmanager
def _output_file(path: Path | None, binary: bool = False) -> Iterator[IO[Any]]:
    if _is_stdout(path):
        yield sys.stdout.buffer if binary else sys.stdout
        return
    assert path is not None
    try:
        handle = path.open("wb") if binary else path.open("w", encoding="utf-8", newline="")
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}") from None
    with handle:
        yield handle


Output = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write to this file (- for stdout).", show_default=False),
]


@app.command("transcript")
@cli_errors
def transcript(
    ctx: typer.Context,
    call: CallId,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help=f"One of {', '.join(TRANSCRIPT_FORMATS)} (default: from the -o file's "
            "extension, else txt).",
            show_default=False,
        ),
    ] = None,
    output: Output = None,
) -> None:
    """Write a call's transcript (turn timestamps, tool calls, events, metrics) in a format."""
    fmt = _format_for(output, fmt, TRANSCRIPT_FORMATS, "txt")
    with Api(target(ctx)) as api:
        found = api.get(f"/agents/calls/{segment(call)}")
    text = render(found, fmt)
    with _output_file(output) as out:
        out.write(text)
    if not _is_stdout(output):
        entries = len(found.get("transcript") or [])
        err_console.print(f"Wrote {fmt} transcript of {call} ({entries} entries) to {output}")


@app.command("export")
@cli_errors
def export(
    ctx: typer.Context,
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="File to write (- for stdout).", show_default=False),
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help=f"One of {', '.join(EXPORT_FORMATS)} (default: from the file's extension, "
            "else jsonl).",
            show_default=False,
        ),
    ] = None,
    agent: AgentFilter = None,
    status: StatusFilter = None,
    end_reason: EndReasonFilter = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many calls, newest first.")
    ] = None,
    page_size: Annotated[int, typer.Option(min=1, max=PAGE_MAX, hidden=True)] = PAGE_MAX,
) -> None:
    """Export many calls with their transcripts, streamed to a file page by page."""
    fmt = _format_for(output, fmt, EXPORT_FORMATS, "jsonl")
    exported = 0
    with Api(target(ctx)) as api:
        filters = _filters(api, agent, status, end_reason, since, until)
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn() if limit else TextColumn("{task.completed} calls"),
            console=err_console,
            disable=not err_console.is_terminal,
            transient=False,
        )
        with progress, _output_file(output) as out:
            task = progress.add_task("Exporting calls", total=limit)
            writer = ExportWriter(out, fmt)
            try:
                for call in _pages(api, filters, limit, page_size, transcript=True):
                    writer.add(call)
                    exported += 1
                    progress.advance(task)
            except CliError as error:
                writer.close()
                raise CliError(
                    f"{error} (export stopped: {output} holds the {exported} calls written so far)"
                ) from None
            writer.close()
    if not _is_stdout(output):
        err_console.print(f"Exported {exported} calls ({fmt}) to {output}")


BIG_DOWNLOAD = 1_000_000  # bytes; smaller files arrive before a progress bar would help


# A download's destination (default: named after the call, as the command says).
DownloadTo = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="File to write (default: CALL_ID and the file's suffix; - for stdout).",
        show_default=False,
    ),
]


@app.command("recording")
@cli_errors
def recording(
    ctx: typer.Context,
    call: CallId,
    output: DownloadTo = None,
) -> None:
    """Download a call's recording (to CALL_ID.wav by default): a stereo WAV, the caller
    on the left, the agent on the right, from the start of the call to its end."""
    destination = output or Path(f"{call}.wav")
    _save(ctx, f"/agents/calls/{segment(call)}/audio", destination, f"the recording of {call}")


@app.command("bundle")
@cli_errors
def bundle(
    ctx: typer.Context,
    call: CallId,
    output: DownloadTo = None,
) -> None:
    """Download everything recorded of a call as one zip (CALL_ID.zip by default), to
    debug it offline: the call and transcript (JSON and text), logs, events, metrics,
    tool calls, webhook deliveries, analysis, its deployment and build log tail, the
    recording."""
    destination = output or Path(f"{call}.zip")
    _save(ctx, f"/agents/calls/{segment(call)}/bundle", destination, f"the bundle of {call}")


def _save(ctx: typer.Context, path: str, destination: Path, what: str) -> None:
    """Download ``path`` to ``destination`` (``-``: stdout). Written beside it, then
    renamed: an interrupted download never leaves a file that looks whole."""
    to_stdout = _is_stdout(destination)
    partial = destination if to_stdout else destination.with_name(destination.name + ".part")
    try:
        with (
            Api(target(ctx)) as api,
            api.download(path) as response,
            _output_file(partial, binary=True) as out,
        ):
            size = _copy(response, out)
    except BaseException:
        if not to_stdout:
            partial.unlink(missing_ok=True)
        raise
    if not to_stdout:
        partial.replace(destination)
        err_console.print(f"Wrote {what} ({decimal(size)}) to {destination}")


def _copy(response: httpx.Response, out: IO[bytes]) -> int:
    """Copy the body as it arrives, with a progress bar for big files on a terminal."""
    total = int(response.headers.get("content-length", 0)) or None
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err_console,
        disable=not err_console.is_terminal or (total or 0) < BIG_DOWNLOAD,
        transient=True,
    )
    copied = 0
    with progress:
        task = progress.add_task("Downloading", total=total)
        for chunk in response.iter_bytes():
            out.write(chunk)
            copied += len(chunk)
            progress.advance(task, len(chunk))
    return copied


@app.command("tail")
@cli_errors
def tail(
    ctx: typer.Context,
    call: CallId,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each fact as a JSON line, then the call.")
    ] = False,
) -> None:
    """Follow a call live until it ends: turns, tool calls, events, metrics, logs.

    A call that has already ended is printed whole.
    """
    where = target(ctx)
    if not as_json:
        err_console.print(f"[dim]Following {call} (Ctrl-C to stop)[/]")
    try:
        asyncio.run(_follow(where, call, as_json))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


async def _follow(where: Target, call: str, as_json: bool) -> None:
    printer = FactPrinter()
    ordered = TimeOrder(console.print)
    async for event in tail_events(where, call):
        is_end = event.event == "end"
        if as_json:
            if event.event in ("fact", "end"):
                console.file.write(json.dumps({"event": event.event, "data": event.data}) + "\n")
                console.file.flush()
        elif event.event == "fact" and isinstance(event.data, dict):
            ordered.add(printer.apply(event.data))
        elif event.event == "caught_up":
            ordered.flush()
        elif is_end:
            ordered.flush()
            _print_end(event.data if isinstance(event.data, dict) else {})
        if is_end:
            return
    ordered.flush()
    raise CliError("the live tail stopped before the call ended")


def _print_end(call: dict) -> None:
    text = Text("Call ended: ", style="bold")
    text.append(call.get("status") or "?")
    text.append(f", {end_reason_text(call)}")
    if call.get("error_message"):
        text.append(f": {call['error_message']}", style="red")
    console.print(text)


_LEVEL_STYLES = {"debug": "dim", "warning": "yellow", "error": "red", "critical": "bold red"}


@app.command("logs")
@cli_errors
def logs(
    ctx: typer.Context,
    call: CallId,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until the call ends.")
    ] = False,
    level: Annotated[
        str | None,
        typer.Option(help=f"Minimum level: {', '.join(LEVELS)}.", show_default=False),
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-s", help="Only lines containing this text.")
    ] = None,
) -> None:
    """The log lines the agent's code emitted during a call."""
    if level is not None and level not in LEVELS:
        raise CliError(f"--level must be one of {', '.join(LEVELS)}")
    where = target(ctx)
    if follow:
        try:
            asyncio.run(_follow_logs(where, call, level, search))
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        return
    after = 0
    with Api(where) as api:
        while True:
            page = api.get(
                f"/agents/calls/{call}/logs", level=level, q=search, after=after, limit=1000
            )
            for line in page["data"]:
                _print_log_line(line)
            if not page["has_more"]:
                return
            after = page["next_page"]


async def _follow_logs(where: Target, call: str, level: str | None, search: str | None) -> None:
    wanted = at_least(level) or LEVELS
    async for event in tail_events(where, call, kinds=("log",)):
        if event.event == "end":
            return
        line = event.data if isinstance(event.data, dict) else {}
        if line.get("level") in wanted and (
            not search or search.lower() in str(line.get("message", "")).lower()
        ):
            _print_log_line(line)
    raise CliError("the live tail stopped before the call ended")


def _print_log_line(line: dict) -> None:
    text = Text(f"{line['timestamp']:>9.3f}s ", style="dim")
    text.append(f"{line['level'].upper():<8}", style=_LEVEL_STYLES.get(line["level"], ""))
    text.append(f" {line.get('logger') or '-'}: ", style="cyan")
    text.append(line["message"])
    console.print(text, highlight=False, soft_wrap=True)
    if line.get("exc_text"):
        console.print(Text(line["exc_text"], style="red"), highlight=False, soft_wrap=True)


@app.command("analyze")
@cli_errors
def analyze(ctx: typer.Context, call: CallId) -> None:
    """Run post-call analysis again and print the new summary."""
    with Api(target(ctx)) as api:
        result = api.post(f"/agents/calls/{call}/analyze", {})
    console.print(result["summary"])
