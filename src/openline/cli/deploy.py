"""``openline deploy``, ``openline deployments``, and (registered from here) ``openline env``
and ``openline logs``."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from openline.cli import _deploy_env, _deploy_logs
from openline.cli._client import AgentRef, Api, Target, segment, target
from openline.cli._errors import CliError, cli_errors
from openline.cli._output import (
    JsonFlag,
    console,
    duration,
    err_console,
    print_fields,
    print_json,
    print_list,
    when,
)
from openline.deploy.archive import pack
from openline.deploy.states import SETTLED

MAX_ARCHIVE_BYTES = 50 << 20  # the server's default cap (OPENLINE_DEPLOY_MAX_ARCHIVE_BYTES)
STATUS_STYLES = {
    "queued": "yellow",
    "building": "yellow",
    "deployed": "green",
    "build_error": "bold red",
    "deploy_error": "bold red",
    "inactive": "dim",
    "skipped": "dim",
}

deployments = typer.Typer(
    name="deployments",
    help="List deployments and make one live (roll back or forward).",
    no_args_is_help=True,
)

Detach = Annotated[
    bool, typer.Option("--detach", "-d", help="Return at once instead of following the build.")
]


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)
    app.add_typer(deployments, name="deployments")
    app.add_typer(_deploy_env.app, name="env")
    app.command("logs")(_deploy_logs.logs)


@cli_errors
def deploy(
    ctx: typer.Context,
    agent: Annotated[
        str,
        typer.Option("--agent", "-a", help="Agent id (agent_…) or exact name.", show_default=False),
    ],
    directory: Annotated[
        Path,
        typer.Argument(
            help="The agent directory: main.py, and pyproject.toml or requirements.txt."
        ),
    ] = Path("."),
    detach: Detach = False,
    as_json: JsonFlag = False,
) -> None:
    """Upload an agent directory, build it, and make it the agent's live deployment."""
    if not directory.is_dir():
        raise CliError(f"{directory} is not a directory")
    if not (directory / "main.py").is_file():
        raise CliError(f"{directory} has no main.py (the entry point, run with PORT set)")
    try:
        archive = pack(directory, MAX_ARCHIVE_BYTES)
    except (ValueError, OSError) as error:
        raise CliError(str(error)) from None
    where = target(ctx)
    with Api(where) as api:
        agent_id = api.agent_id(agent)
        row = api.request(
            "POST",
            f"/agents/{segment(agent_id)}/deployments",
            content=archive,
            headers={"Content-Type": "application/gzip"},
            params={k: v for k, v in {"git_commit_hash": _git_commit(directory)}.items() if v},
        )
    if not as_json:
        err_console.print(f"Uploaded {_size(len(archive))} → {row['id']} (agent {agent_id})")
    if detach:
        _report(row, as_json, follow_with=f"openline logs {row['id']} -f")
        return
    final = watch(where, row, as_json)
    _report(final, as_json)
    if final["status"] != "deployed":
        raise typer.Exit(1)


def watch(where: Target, row: dict, as_json: bool, after: int = 0) -> dict:
    """Print the deployment's log (past line ``after``) while it builds and starts;
    returns the deployment once this attempt has settled."""
    shown = row
    phase = err_console.status(_phase(row), spinner="dots")
    with phase:
        try:
            for event in _deploy_logs.follow(where, row["id"], {"after": after}):
                if event.event == "log" and not as_json:
                    console.print(_deploy_logs.log_text(event.data), markup=False)
                elif event.event in ("deployment", "end"):
                    shown = event.data
                    phase.update(_phase(shown))
                    if shown["status"] in SETTLED:
                        break
        except KeyboardInterrupt:
            err_console.print(
                f"Stopped watching; {row['id']} goes on. Follow it: openline logs {row['id']} -f"
            )
            raise typer.Exit(130) from None
    return shown


def _phase(row: dict) -> str:
    status = row["status"]
    if status == "queued":
        return f"{row['id']}: queued"
    if status == "building" and not row.get("build_completed_at"):
        return f"{row['id']}: building the virtualenv"
    if status == "building":
        return f"{row['id']}: starting and health-checking"
    return f"{row['id']}: {status}"


def _report(row: dict, as_json: bool, follow_with: str | None = None) -> None:
    if as_json:
        print_json(row)
        return
    status = row["status"]
    if status == "deployed" and row["is_live"] and row.get("deployment_error"):  # restart failed
        err_console.print(f"[bold red]Error:[/] {row['id']}: {escape(row['deployment_error'])}")
    elif status == "deployed" and row["is_live"]:
        console.print(f"[green]✓[/] {row['id']} is live: new calls to {row['agent_id']} go to it")
    elif status in ("build_error", "deploy_error"):
        reason = row.get("build_error") or row.get("deployment_error") or "see the logs"
        err_console.print(
            f"[bold red]Error:[/] {row['id']} {status.replace('_', ' ')}: {escape(reason)}"
        )
    else:
        console.print(f"{row['id']}: {status}")
    if follow_with:
        console.print(f"Follow it: {follow_with}")


# -- openline deployments ------------------------------------------------------------------------


@deployments.command("ls")
@cli_errors
def ls(
    ctx: typer.Context,
    agent: AgentRef,
    as_json: JsonFlag = False,
) -> None:
    """List an agent's deployments, newest first."""
    with Api(target(ctx)) as api:
        rows = api.get(f"/agents/{segment(api.agent_id(agent))}/deployments")
    print_list(
        rows,
        ("ID", "STATUS", "LIVE", "CREATED (UTC)", "BUILD", "COMMIT", "ERROR"),
        lambda row: (
            row["id"],
            _status(row),
            "●" if row["is_live"] else "",
            when(row["created_at"]),
            duration(row["build_started_at"], row["build_completed_at"]),
            (row.get("git_commit_hash") or "")[:10],
            _short(row.get("build_error") or row.get("deployment_error") or ""),
        ),
        empty="(no deployments: create one with `openline deploy DIR --agent AGENT`)",
        as_json=as_json,
    )


@deployments.command("get")
@cli_errors
def get(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="Deployment id (dep_…).")],
    as_json: JsonFlag = False,
) -> None:
    """Show one deployment (its build log is in `openline logs DEP --stream build`)."""
    with Api(target(ctx)) as api:
        row = api.get(f"/agents/deployments/{segment(deployment)}")
    print_fields(row, _fields, as_json=as_json)


@deployments.command("promote")
@cli_errors
def promote(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="Deployment id (dep_…) to make live.")],
    detach: Detach = False,
    as_json: JsonFlag = False,
) -> None:
    """Make a deployment the agent's live one again (roll back or forward); the live one
    is restarted with the agent's current env vars."""
    where = target(ctx)
    with Api(where) as api:
        path = f"/agents/deployments/{segment(deployment)}"
        seen = api.get(f"{path}/logs", tail=True, limit=1)["data"]  # show only what follows
        row = api.request("POST", f"{path}/promote")
    if detach or (row["is_live"] and row["status"] == "deployed"):
        _report(row, as_json)
        return
    final = watch(where, row, as_json, after=seen[-1]["seq"] if seen else 0)
    _report(final, as_json)
    if not (final["status"] == "deployed" and final["is_live"]) or final.get("deployment_error"):
        raise typer.Exit(1)


# -- helpers ---------------------------------------------------------------------------------------


def _fields(row: dict) -> list[tuple[str, Any]]:
    fields: list[tuple[str, Any]] = [
        ("deployment", row["id"]),
        ("agent", row["agent_id"]),
        ("status", _status(row)),
        ("live", "yes" if row["is_live"] else "no"),
        ("created (UTC)", when(row["created_at"])),
        ("build", duration(row["build_started_at"], row["build_completed_at"])),
        ("started (UTC)", when(row["deployment_started_at"])),
        ("healthy (UTC)", when(row["deployment_completed_at"])),
        ("restarts", str(row.get("restarts", 0))),
        ("commit", row.get("git_commit_hash") or "-"),
        ("source", row["source_code_file_id"]),
    ]
    for name in ("build_error", "deployment_error"):
        if row.get(name):
            fields.append((name.replace("_", " "), Text(row[name], style="red")))
    return fields


def _status(row: dict) -> Text:
    return Text(row["status"], style=STATUS_STYLES.get(row["status"], ""))


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _size(size: int) -> str:
    return f"{size / 1024:.1f} KiB" if size < 1 << 20 else f"{size / (1 << 20):.1f} MiB"


def _git_commit(directory: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) <= 64 else None
