"""``openline deploy``, ``openline deployments``, and (registered from here) ``openline env``
and ``openline logs``.

``openline deploy DIR --test SCENARIOS`` is the deploy gate (docs/testing.md): the new
deployment is held (running, not live), the scenarios run against it, the result is
recorded on it, and it is promoted only if every scenario passed."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from openline.cli import _deploy_env, _deploy_logs
from openline.cli._client import AgentRef, Api, Target, segment, target
from openline.cli._errors import CliError, cli_errors, report
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
from openline.cli.test_cmd import (
    EXIT_BAD_INPUT,
    Jobs,
    Junit,
    ReplyTimeout,
    Timeout,
    print_outcomes,
    run_scenarios,
    write_junit,
)
from openline.deploy.archive import pack
from openline.deploy.states import SETTLED
from openline.scenarios.run import Options
from openline.scenarios.spec import Scenario, SpecError, load_path

MAX_ARCHIVE_BYTES = 50 << 20  # the server's default cap (OPENLINE_DEPLOY_MAX_ARCHIVE_BYTES)
STATUS_STYLES = {
    "queued": "yellow",
    "building": "yellow",
    "deployed": "green",
    "held": "yellow",
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
    test: Annotated[
        Path | None,
        typer.Option(
            "--test",
            help="Scenarios (a file or folder) the new deployment must pass before it "
            "goes live; else the live one stays.",
            show_default=False,
        ),
    ] = None,
    jobs: Jobs = 4,
    junit_path: Junit = None,
    timeout: Timeout = 60.0,
    reply_timeout: ReplyTimeout = 15.0,
) -> None:
    """Upload an agent directory, build it, and make it the agent's live deployment
    (with --test, only once its scenarios pass)."""
    scenarios = _scenarios(test) if test is not None else None
    if scenarios is not None and detach:
        raise CliError("--test waits for the deployment to run its scenarios: drop --detach")
    if not directory.is_dir():
        raise CliError(f"{directory} is not a directory")
    if not (directory / "main.py").is_file():
        raise CliError(f"{directory} has no main.py (the entry point, run with PORT set)")
    try:
        archive = pack(directory, MAX_ARCHIVE_BYTES)
    except (ValueError, OSError) as error:
        raise CliError(str(error)) from None
    where = target(ctx)
    params = {k: v for k, v in {"git_commit_hash": _git_commit(directory)}.items() if v}
    if scenarios is not None:
        params["hold"] = "true"  # not live until its scenarios pass
    with Api(where) as api:
        agent_id = api.agent_id(agent)
        row = api.request(
            "POST",
            f"/agents/{segment(agent_id)}/deployments",
            content=archive,
            headers={"Content-Type": "application/gzip"},
            params=params,
        )
    if not as_json:
        err_console.print(f"Uploaded {_size(len(archive))} → {row['id']} (agent {agent_id})")
    if detach:
        _report(row, as_json, follow_with=f"openline logs {row['id']} -f")
        return
    final = watch(where, row, as_json)
    if scenarios is not None and final["status"] == "held":
        options = Options(final["id"], reply_timeout, timeout)
        final = _gate(where, final, scenarios, options, jobs, junit_path, as_json)
    _report(final, as_json)
    if final["status"] != "deployed" or not final["is_live"]:
        raise typer.Exit(1)


def _scenarios(path: Path) -> list[Scenario]:
    """The gate's scenarios, read before anything is uploaded (bad ones: exit code 2)."""
    try:
        return load_path(path)
    except SpecError as error:
        report(str(error))
        raise typer.Exit(EXIT_BAD_INPUT) from None


def _gate(
    where: Target,
    held: dict,
    scenarios: list[Scenario],
    options: Options,
    jobs: int,
    junit_path: Path | None,
    as_json: bool,
) -> dict:
    """Run the scenarios against the held deployment and record what they found; promote
    it if every one passed. Returns the deployment as it is then."""
    plan = [(scenario, held["agent_id"]) for scenario in scenarios]
    run_id, outcomes = run_scenarios(where, plan, options, jobs)
    print_outcomes(where, outcomes, run_id, err_console if as_json else console)
    if junit_path is not None:
        write_junit(junit_path, outcomes, run_id, where)
    results = {"run_id": run_id, "scenarios": [outcome.json() for outcome in outcomes]}
    with Api(where) as api:
        row = api.post(f"/agents/deployments/{segment(held['id'])}/test_run", results)
    if row["status"] != "held":  # refused
        err_console.print(f"{row['id']} did not pass: the agent's live deployment is unchanged.")
        return row
    return _promote(where, row["id"], as_json)


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
    elif status == "held":
        console.print(f"{row['id']} is held: it runs, but takes only the calls that ask for it")
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
    final = _promote(target(ctx), deployment, as_json, detach)
    _report(final, as_json)
    if detach:
        return
    if not (final["status"] == "deployed" and final["is_live"]) or final.get("deployment_error"):
        raise typer.Exit(1)


def _promote(where: Target, deployment: str, as_json: bool, detach: bool = False) -> dict:
    """Make the deployment live, following its log until it is (unless ``detach``)."""
    with Api(where) as api:
        path = f"/agents/deployments/{segment(deployment)}"
        seen = api.get(f"{path}/logs", tail=True, limit=1)["data"]  # show only what follows
        row = api.request("POST", f"{path}/promote")
    if detach or (row["is_live"] and row["status"] == "deployed"):
        return row
    return watch(where, row, as_json, after=seen[-1]["seq"] if seen else 0)


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
