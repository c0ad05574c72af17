"""``openline env``: an agent's environment variables. Values go to the server and are
never printed back (the API returns names only)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from openline.cli._client import AgentRef, Api, segment, target
from openline.cli._errors import CliError, cli_errors
from openline.cli._output import console, print_list, when

app = typer.Typer(
    name="env",
    help="Set, list and remove an agent's environment variables (secrets).",
    no_args_is_help=True,
)

APPLIES = (
    "Processes started from now on get them: redeploy, or promote the live deployment "
    "(`openline deployments promote DEP` restarts it; calls in flight finish first), "
    "to apply them now."
)
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def parse_dotenv(text: str) -> dict[str, str]:
    """``KEY=value`` lines (``export`` and quotes allowed; ``#`` comments skipped)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        match = _LINE.match(raw)
        if match is None:
            raise CliError(f"line {number} is not NAME=value")
        name, value = match.groups()
        quote = value[:1]
        if len(value) >= 2 and quote in ("'", '"') and value.endswith(quote):
            value = value[1:-1]
            if quote == '"':  # double quotes understand \n and \"
                value = value.replace("\\n", "\n").replace('\\"', '"')
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[name] = value
    return values


@app.command("set")
@cli_errors
def set_(
    ctx: typer.Context,
    agent: AgentRef,
    pairs: Annotated[
        list[str] | None,
        typer.Argument(
            help="NAME=value, or NAME alone to type the value without it being shown.",
            show_default=False,
        ),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option("--from", help="Read NAME=value lines from a file such as .env."),
    ] = None,
) -> None:
    """Set environment variables for an agent's deployments."""
    values: dict[str, str] = {}
    if from_file is not None:
        try:
            values |= parse_dotenv(from_file.read_text(encoding="utf-8"))
        except OSError as error:
            raise CliError(f"cannot read {from_file}: {error.strerror}") from None
        except CliError as error:
            raise CliError(f"{from_file}: {error}") from None
    for pair in pairs or []:
        name, has_value, value = pair.partition("=")
        if not has_value:
            value = typer.prompt(f"{name}", hide_input=True)
        values[name] = value
    if not values:
        raise CliError("give NAME=value pairs or --from FILE")
    with Api(target(ctx)) as api:
        agent_id = api.agent_id(agent)
        api.patch(f"/agents/{segment(agent_id)}/env", values)
    console.print(f"Set {', '.join(sorted(values))} on {agent_id}. {APPLIES}")


@app.command("rm")
@cli_errors
def rm(
    ctx: typer.Context,
    agent: AgentRef,
    names: Annotated[list[str], typer.Argument(help="Variable names.", show_default=False)],
) -> None:
    """Remove environment variables from an agent."""
    with Api(target(ctx)) as api:
        agent_id = api.agent_id(agent)
        for name in names:
            api.delete(f"/agents/{segment(agent_id)}/env/{segment(name)}")
    console.print(f"Removed {', '.join(names)} from {agent_id}. {APPLIES}")


@app.command("ls")
@cli_errors
def ls(
    ctx: typer.Context,
    agent: AgentRef,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
) -> None:
    """List the names of an agent's environment variables (never their values)."""
    with Api(target(ctx)) as api:
        body = api.get(f"/agents/{segment(api.agent_id(agent))}/env")
    print_list(
        body["data"],
        ("NAME", "UPDATED (UTC)"),
        lambda row: (row["name"], when(row["updated_at"])),
        empty="(no environment variables)",
        as_json=as_json,
        json_value=body,
    )
