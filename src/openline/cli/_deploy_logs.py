"""Deployment log lines in the terminal: reading pages, following the live tail, and
``openline logs [DEP|AGENT]``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC
from typing import Annotated, Any, Literal

import httpx
import typer
from rich.text import Text

from openline.cli._client import Api, Target, error_for, segment, target, unreachable
from openline.cli._errors import CliError, cli_errors
from openline.cli._output import console, parse_since, parse_time
from openline.cli._sse import ServerEvent, SseDecoder
from openline.domain.log_levels import LogLevel

LEVEL_STYLES = {
    "debug": "dim",
    "info": "",
    "warning": "yellow",
    "error": "bold red",
    "critical": "bold red",
}
STREAM_STYLES = {"build": "blue", "system": "cyan", "stdout": "", "stderr": "magenta"}


def log_text(line: dict[str, Any]) -> Text:
    """``2025-01-31 14:00:00.123 INFO  stderr  message  [call_…]``."""
    moment = parse_time(line.get("timestamp"))
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if moment else "-"
    level = str(line.get("level") or "info")
    stream = str(line.get("stream") or "")
    out = Text()
    out.append(stamp + " ", style="dim")
    out.append(level.upper().ljust(8), style=LEVEL_STYLES.get(level, ""))
    out.append(stream.ljust(7), style=STREAM_STYLES.get(stream, ""))
    out.append(" " + str(line.get("message", "")))
    if line.get("call_id"):
        out.append(f"  [{line['call_id']}]", style="dim")
    return out


def follow(where: Target, deployment_id: str, params: dict[str, Any]) -> Iterator[ServerEvent]:
    """The deployment's live tail: ``log``, ``deployment`` and (at the end) ``end`` events."""
    timeout = httpx.Timeout(10.0, read=None)  # a quiet deployment is not a dead server
    path = f"/agents/deployments/{segment(deployment_id)}/logs/stream"
    clean = {k: v for k, v in params.items() if v is not None}
    try:
        with (
            httpx.Client(base_url=where.url, headers=where.headers, timeout=timeout) as http,
            http.stream("GET", path, params=clean) as response,
        ):
            if response.is_error:
                response.read()
                raise error_for(response, where)
            yield from SseDecoder().events(response.iter_lines())
    except httpx.TransportError as error:
        raise unreachable(where.url, error) from None


def deployment_for(api: Api, ref: str | None) -> dict:
    """A deployment by id, or an agent's live deployment (else its newest one)."""
    if ref and ref.startswith("dep_"):
        return api.get(f"/agents/deployments/{segment(ref)}")
    if ref is None:
        agents = api.get("/agents")["summaries"]
        if len(agents) != 1:
            raise CliError("say which deployment (dep_…) or agent (id or name) to show logs of")
        ref = agents[0]["id"]
    agent_id = api.agent_id(ref)
    deployments = api.get(f"/agents/{segment(agent_id)}/deployments")
    if not deployments:
        raise CliError(f"agent {ref} has no deployments yet (deploy with `openline deploy`)")
    live = [d for d in deployments if d["is_live"]]
    return (live or deployments)[0]


Stream = Literal["build", "runtime"]


@cli_errors
def logs(
    ctx: typer.Context,
    ref: Annotated[
        str | None,
        typer.Argument(
            help="Deployment id (dep_…), or an agent (id or name): its live deployment.",
            show_default=False,
        ),
    ] = None,
    follow_: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines as they come.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(help="From this time: ISO 8601 (UTC unless zoned) or an age (30m, 2h, 7d)."),
    ] = None,
    until: Annotated[str | None, typer.Option(help="Before this time (same forms).")] = None,
    level: Annotated[LogLevel | None, typer.Option(help="Minimum level.")] = None,
    grep: Annotated[str | None, typer.Option(help="Only lines containing this text.")] = None,
    call: Annotated[str | None, typer.Option(help="Only lines attributed to this call.")] = None,
    stream: Annotated[
        Stream | None, typer.Option(help="Only the build log, or only the running process's.")
    ] = None,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, max=1000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Show a deployment's build and runtime logs (stdout and stderr, timestamped)."""
    where = target(ctx)
    filters = {"level": level, "q": grep, "call_id": call, "stream": stream}
    show = _printer(as_json)
    with Api(where) as api:
        deployment = deployment_for(api, ref)
        path = f"/agents/deployments/{segment(deployment['id'])}/logs"
        params = filters | {"limit": lines}
        if since or until:
            params |= {
                "since": parse_since(since) if since else None,
                "until": parse_since(until) if until else None,
            }
        else:
            params["tail"] = True  # the newest lines
        page = api.get(path, **params)
    for line in page["data"]:
        show(line)
    if page["has_more"] and not as_json:
        hint = "older lines not shown" if params.get("tail") else "more lines match"
        console.print(f"({hint}: raise --lines, or narrow with --since/--until)", style="dim")
    if not follow_:
        return
    after = page["data"][-1]["seq"] if page["data"] else 0
    try:
        for event in follow(where, deployment["id"], filters | {"after": after}):
            if event.event == "log":
                show(event.data)
            elif event.event == "end":
                if not as_json:
                    console.print(f"({deployment['id']} has stopped)", style="dim")
                return
    except KeyboardInterrupt:
        return


def _printer(as_json: bool) -> Callable[[dict], object]:
    if as_json:
        return lambda line: console.file.write(json.dumps(line, ensure_ascii=False) + "\n")
    return lambda line: console.print(log_text(line), markup=False, highlight=False)
