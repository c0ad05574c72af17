"""The ``openline`` command."""

from __future__ import annotations

import typer

from openline.cli import up

app = typer.Typer(
    name="openline",
    help="Run voice agents and monitor every deployment and every call.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(up.up)


def main() -> None:
    app()
