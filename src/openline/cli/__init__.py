"""The ``openline`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openline.cli import (
    _client,
    agents,
    alerts,
    analytics,
    calls,
    chat,
    deploy,
    stats,
    up,
    webhooks,
)
from openline.cli.init_cmd import init_project
from openline.cli.metrics import app as metrics_app
from openline.cli.test_cmd import run_tests

app = typer.Typer(
    name="openline",
    help="Run voice agents and monitor every deployment and every call.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.callback()(_client.global_options)
app.command()(up.up)
app.add_typer(agents.app, name="agents")
app.add_typer(calls.app, name="calls")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(alerts.app, name="alerts")
app.command("chat")(chat.chat)
app.command("stats")(stats.stats)
app.add_typer(analytics.app, name="analytics")
app.add_typer(metrics_app, name="metrics")
app.command("test")(run_tests)
deploy.register(app)  # deploy, deployments, env, logs


@app.command("init")
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")] = Path("."),
    name: Annotated[str | None, typer.Option(help="Project name (default: the folder's).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
) -> None:
    """Create a new agent project: main.py, pyproject.toml, README.md, a test and a scenario."""
    try:
        written = init_project(directory, name=name, force=force)
    except FileExistsError as error:
        typer.echo(f"Error: {error} (use --force to overwrite)", err=True)
        raise typer.Exit(1) from None
    for path in written:
        typer.echo(f"created {path}")
    typer.echo(f"Run it: cd {directory} && PORT=8123 python main.py")


def main() -> None:
    app()
