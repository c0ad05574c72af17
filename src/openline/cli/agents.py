"""``openline agents``: create, list, show, update and remove agents."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.markup import escape

from openline.cli._client import AgentRef, Api, segment, target
from openline.cli._errors import CliError, cli_errors
from openline.cli._output import (
    Cell,
    JsonFlag,
    compact,
    console,
    parse_json_object,
    print_fields,
    print_json,
    print_list,
    when,
)

app = typer.Typer(
    name="agents",
    help="Create, list, show, update and remove agents.",
    no_args_is_help=True,
)


def _webhook(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    """``--webhook`` may name the webhook; the API wants its id."""
    if body.get("webhook_id"):
        from openline.cli.webhooks import webhook_id

        body["webhook_id"] = webhook_id(api, body["webhook_id"])
    return body


def _fields(**options: str | bool | None) -> dict[str, Any]:
    """The options that were given; an empty string clears a field."""
    body: dict[str, Any] = {}
    for name, value in options.items():
        if value is None:
            continue
        if isinstance(value, bool):
            body[name] = value
        elif name == "metadata":
            body[name] = parse_json_object(value, "--metadata")
        elif name == "prometheus_metrics":
            body[name] = [metric.strip() for metric in value.split(",") if metric.strip()]
        else:
            body[name] = value or None
    return body


def _text(help: str, *names: str) -> Any:
    """An optional text option (its parameter's name gives the option's unless ``names``)."""
    return Annotated[str | None, typer.Option(*names, help=help, show_default=False)]


# What `create` and `update` both set, each option's parameter named by its API field.
_SETTINGS: dict[str, Any] = {
    "self_hosted_deployment_url": _text(
        "Base URL of the agent server (speaks the Line agent protocol), "
        "e.g. http://127.0.0.1:8000.",
        "--url",
    ),
    "description": _text("What the agent is for."),
    "system_prompt": _text("System prompt sent to the agent at call start."),
    "introduction": _text("What the agent says first."),
    "metadata": _text('A JSON object, e.g. \'{"team": "support"}\'.'),
    "webhook_id": _text(
        'Webhook (id or name) that receives this agent\'s call events; "" detaches it.',
        "--webhook",
        "--webhook-id",
    ),
    "recording_enabled": Annotated[
        bool | None,
        typer.Option(
            "--recording/--no-recording",
            help="Record this agent's voice calls (stereo WAV); on for new agents.",
            show_default=False,
        ),
    ],
    "stt_provider": _text('Speech-to-text provider; "" for the platform default.'),
    "tts_provider": _text('Text-to-speech provider; "" for the platform default.'),
    "tts_voice": _text("Voice the text-to-speech provider speaks with."),
    "tts_language": _text("Language of the agent's speech, e.g. en or en-GB."),
    "prometheus_metrics": _text(
        "Its log_metric names that GET /metrics shows as histograms, comma-separated; "
        '"" for none (docs/telemetry.md).',
        "--prometheus-metrics",
    ),
}


def _with_settings(command: Callable[..., None]) -> Callable[..., None]:
    """Puts the `_SETTINGS` options where ``command`` has its ``settings`` parameter
    (so --help keeps their place); ``settings`` gets those given, as `_fields` makes them."""
    parameters: list[inspect.Parameter] = []
    for parameter in inspect.signature(command, eval_str=True).parameters.values():
        if parameter.name != "settings":
            parameters.append(parameter)
            continue
        parameters += [
            inspect.Parameter(field, parameter.kind, default=None, annotation=kind)
            for field, kind in _SETTINGS.items()
        ]

    @functools.wraps(command)
    def with_settings(*args: Any, **options: Any) -> None:
        given = {field: options.pop(field) for field in _SETTINGS}
        command(*args, settings=_fields(**given), **options)

    # Typer reads the options from the signature and the annotations.
    with_settings.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    with_settings.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_settings


@app.command("create")
@cli_errors
@_with_settings
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the agent.", show_default=False)],
    *,
    settings: dict[str, Any],
    as_json: JsonFlag = False,
) -> None:
    """Register an agent. Give --url to make it callable: the agent server's base URL."""
    body = {"name": name} | settings
    with Api(target(ctx)) as api:
        agent = api.post("/agents", _webhook(api, body))
    if as_json:
        print_json(agent)
        return
    console.print(f"Created agent [bold]{agent['id']}[/] ({escape(agent['name'])})")
    if agent.get("self_hosted_deployment_url"):
        console.print(f"Talk to it: openline chat {agent['id']}")


@app.command("ls")
@cli_errors
def list_agents(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List agents."""
    with Api(target(ctx)) as api:
        agents = api.get("/agents")["summaries"]
    print_list(
        agents,
        ("ID", "NAME", "AGENT SERVER", "CREATED (UTC)"),
        lambda a: (
            a["id"],
            a["name"],
            a.get("self_hosted_deployment_url"),
            when(a.get("created_at")),
        ),
        empty="No agents yet. Create one: openline agents create NAME --url AGENT_URL",
        as_json=as_json,
    )


@app.command("get")
@cli_errors
def get(ctx: typer.Context, agent: AgentRef, as_json: JsonFlag = False) -> None:
    """Show one agent."""
    with Api(target(ctx)) as api:
        found = api.agent(agent)
    print_fields(found, _details, as_json=as_json)


@app.command("update")
@cli_errors
@_with_settings
def update(
    ctx: typer.Context,
    agent: AgentRef,
    name: Annotated[str | None, typer.Option(help="A new name.", show_default=False)] = None,
    *,
    settings: dict[str, Any],
    as_json: JsonFlag = False,
) -> None:
    """Change an agent: only the options given change.

    An empty value ("") clears a field; --metadata replaces the whole metadata object.
    """
    if name is not None and not name.strip():
        raise CliError("--name cannot be empty: an agent always has a name")
    body = _fields(name=name) | settings
    if not body:
        raise CliError("nothing to change: give at least one option (see --help)")
    with Api(target(ctx)) as api:
        updated = api.patch(f"/agents/{segment(api.agent_id(agent))}", _webhook(api, body))
    if as_json:
        print_json(updated)
        return
    console.print(f"Updated agent [bold]{updated['id']}[/] ({escape(updated['name'])})")


@app.command("rm")
@cli_errors
def remove(ctx: typer.Context, agent: AgentRef) -> None:
    """Delete an agent (its recorded calls are kept)."""
    with Api(target(ctx)) as api:
        agent_id = api.agent_id(agent)
        api.delete(f"/agents/{segment(agent_id)}")
    console.print(f"Deleted agent {agent_id}")


def _details(agent: dict) -> list[tuple[str, Cell]]:
    return [
        ("id", agent["id"]),
        ("name", agent["name"]),
        ("description", agent.get("description")),
        ("agent server", agent.get("self_hosted_deployment_url")),
        ("system prompt", agent.get("system_prompt")),
        ("introduction", agent.get("introduction")),
        ("metadata", compact(agent.get("metadata") or {}, None)),
        ("webhook", agent.get("webhook_id")),
        ("recording", "on" if agent.get("recording_enabled", True) else "off"),
        ("speech to text", agent.get("stt_provider") or "platform default"),
        ("text to speech", agent.get("tts_provider") or "platform default"),
        ("voice", agent.get("tts_voice")),
        ("language", agent.get("tts_language")),
        ("prometheus metrics", ", ".join(agent.get("prometheus_metrics") or []) or None),
        ("created (UTC)", when(agent.get("created_at"))),
        ("updated (UTC)", when(agent.get("updated_at"))),
    ]
