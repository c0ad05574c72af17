"""User errors: one clear line on stderr, exit code 1, no traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.markup import escape


class CliError(Exception):
    """A failure to report in one line, without a traceback (exit code 1)."""


F = TypeVar("F", bound=Callable[..., Any])


def report(message: str) -> None:
    from openline.cli._output import err_console

    err_console.print(f"[bold red]Error:[/] {escape(message)}")


def cli_errors(command: F) -> F:
    """Turn :class:`CliError` into ``Error: …`` on stderr and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CliError as error:
            report(str(error))
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]
