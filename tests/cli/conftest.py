"""Fixtures for CLI tests: the `openline` command run in-process against a real server."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result
from typer.testing import CliRunner

from openline.cli import app

Invoke = Callable[..., Result]


@pytest.fixture
def cli(server, tmp_path) -> Invoke:
    """``cli("calls", "ls", input=..., env=...)``: run ``openline`` against ``server``."""
    runner = CliRunner()
    base_env = {
        "OPENLINE_URL": server.base_url,
        "OPENLINE_API_KEY": server.api_key,
        "OPENLINE_DATA_DIR": str(tmp_path / "cli-data"),  # never the developer's .openline
    }

    def invoke(*args: str, input: str | None = None, env: dict | None = None) -> Result:
        return runner.invoke(
            app, list(args), input=input, env=base_env | (env or {}), catch_exceptions=False
        )

    return invoke
