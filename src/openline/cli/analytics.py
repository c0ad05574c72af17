"""``openline analytics rebuild``: remake fleet analytics from the recorded calls, run beside
the server on its database (the settings ``openline up`` reads), safe while it runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from openline.cli._errors import CliError, cli_errors
from openline.cli._output import console, err_console

app = typer.Typer(
    name="analytics",
    help="Fleet analytics kept by the server (read them with `openline stats`).",
    no_args_is_help=True,
)


@app.command("rebuild")
@cli_errors
def rebuild(
    data_dir: Annotated[
        Path | None,
        typer.Option(help="The server's data dir, where its SQLite database lives."),
    ] = None,
) -> None:
    """Remake every call's tally from its facts and every rollup from the tallies.

    Runs on the server's database, from the same settings as `openline up`
    (OPENLINE_DATABASE_URL, else the SQLite file in --data-dir / OPENLINE_DATA_DIR). Safe
    while openline runs: its keepers wait for the rebuild, then tally the calls that ended
    meanwhile.
    """
    # Imported here so that every other command starts without loading the store.
    from pydantic import ValidationError
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from openline.cli.up import _problems
    from openline.config import Settings
    from openline.store.db import make_engine, migrate
    from openline.store.rollups import RollupKeeper

    overrides: dict[str, Any] = {} if data_dir is None else {"data_dir": data_dir}
    try:
        settings = Settings(**overrides)
    except ValidationError as refused:
        raise CliError(f"the settings were refused: {_problems(refused)}") from None
    url = make_url(settings.sqlalchemy_url)
    # An engine would create an empty SQLite file: a wrong directory must say so instead.
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        raise CliError(
            f"no openline database at {url.database}: run this where `openline up` runs, "
            "or point --data-dir / OPENLINE_DATA_DIR / OPENLINE_DATABASE_URL at its data"
        )
    engine = make_engine(settings.sqlalchemy_url)
    try:
        migrate(engine)
        started = time.monotonic()
        with _progress() as progress:
            task = progress.add_task("Tallying calls", total=None)

            def advance(done: int, total: int) -> None:
                step = "Rolling up minutes, hours and days" if done >= total else "Tallying calls"
                progress.update(task, completed=done, total=total, description=step)

            calls = RollupKeeper(engine).rebuild(progress=advance)
        took = time.monotonic() - started
    except OperationalError as error:
        raise CliError(f"the database failed: {str(error.orig).strip().splitlines()[0]}") from None
    finally:
        engine.dispose()
    noun = "call" if calls == 1 else "calls"
    console.print(f"Rebuilt fleet analytics from {calls} {noun} in {took:.1f} s.")


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=not err_console.is_terminal,
    )
