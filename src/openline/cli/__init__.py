"""The ``openline`` command."""

from __future__ import annotations

import typer

from openline.cli import _client, agents, calls, chat, up

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
app.command("chat")(chat.chat)


def main() -> None:
    app()
