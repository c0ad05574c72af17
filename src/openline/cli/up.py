"""``openline up``: the whole platform in one process, on embedded SQLite by default."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from openline.cli._errors import CliError, cli_errors


@cli_errors
def up(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8700,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the database, keys and recordings live.")
    ] = None,
    example: Annotated[
        bool, typer.Option(help="Start and register the example agents from examples/.")
    ] = True,
) -> None:
    """Start openline: API, call protocol, live tails, and the example agents."""
    # Imported here so that every other command starts without loading the server.
    import gc
    import os

    import uvicorn
    from pydantic import ValidationError

    from openline.api.access_log import uvicorn_log_config
    from openline.api.app import create_app
    from openline.api.serving import uvicorn_config
    from openline.cli._client import save_url
    from openline.config import Settings
    from openline.telemetry.otlp import TelemetryConfigError
    from openline.telemetry.otlp import check as check_telemetry

    overrides: dict[str, Any] = {"host": host, "port": port, "start_example_agent": example}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        settings = Settings(**overrides)
    except ValidationError as refused:
        raise CliError(f"the settings were refused: {_problems(refused)}") from None
    try:
        check_telemetry(os.environ)
    except TelemetryConfigError as refused:
        raise CliError(f"the telemetry settings were refused: {refused}") from None
    app = create_app(settings)
    save_url(settings.data_dir, host, port)  # so `openline agents ls` finds this server
    # Everything imported so far lives as long as the process: keep it out of the
    # collector's sweeps, which otherwise stall calls for 0.1-0.5 s at a time.
    gc.collect()
    gc.freeze()
    typer.echo(f"openline: console at http://{host}:{port}/console", err=True)
    config = uvicorn_config(app, settings, log_level="info", log_config=uvicorn_log_config())
    uvicorn.Server(config).run()


def _problems(refused) -> str:
    """Each refused setting by its environment variable's name, values left out (several
    are secrets)."""
    return "; ".join(
        f"OPENLINE_{'_'.join(map(str, problem['loc'])).upper()}: {problem['msg']}"
        for problem in refused.errors()
    )
