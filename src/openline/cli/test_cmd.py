"""``openline test PATH``: run scenario files as real calls and check what was recorded
(docs/testing.md). Exit code 0: every scenario passed; 1: one failed or could not run;
2: nothing ran (a malformed file, an unknown agent or deployment, no server)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from openline.cli._client import Api, Target, segment, target
from openline.cli._errors import CliError, report
from openline.cli._output import console, err_console, list_table
from openline.scenarios import junit
from openline.scenarios.run import Options, Outcome, call_url, new_run_id, run_all
from openline.scenarios.spec import Scenario, SpecError, load_path

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

Plan = list[tuple[Scenario, str]]  # each scenario and the id of the agent it calls

Jobs = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Scenarios run at once.")]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0,
        help="Seconds to wait, after each call, for its analysis (the metric results).",
    ),
]
ReplyTimeout = Annotated[
    float,
    typer.Option(
        min=0.1,
        help="Seconds an agent may do nothing before an answer without response_end counts "
        "as done (and before it greets).",
    ),
]
Junit = Annotated[
    Path | None, typer.Option("--junit", help="Write a JUnit XML report here.", show_default=False)
]


def run_tests(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="A scenario file, or a folder of *.yaml / *.yml files.")
    ],
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent",
            "-a",
            help="Agent id or exact name to call (default: each scenario's `agent`).",
            show_default=False,
        ),
    ] = None,
    deployment: Annotated[
        str | None,
        typer.Option(
            help="Call this deployment (dep_…) of the agent, live or not, instead of the live one.",
            show_default=False,
        ),
    ] = None,
    jobs: Jobs = 4,
    junit_path: Junit = None,
    timeout: Timeout = 60.0,
    reply_timeout: ReplyTimeout = 15.0,
) -> None:
    """Run scenarios: each one a real call, checked against what openline recorded.

    Exit code 0: every scenario passed; 1: one failed or could not run; 2: nothing ran.
    """
    where = target(ctx)
    try:
        scenarios = load_path(path)
        with Api(where) as api:
            plan = plan_calls(api, scenarios, agent, deployment)
    except (SpecError, CliError) as error:
        report(str(error))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    options = Options(deployment, reply_timeout, timeout)
    run_id, outcomes = run_scenarios(where, plan, options, jobs)
    print_outcomes(where, outcomes, run_id)
    if junit_path is not None:
        write_junit(junit_path, outcomes, run_id, where)
    if not all(outcome.passed for outcome in outcomes):
        raise typer.Exit(EXIT_FAILED)


def plan_calls(
    api: Api, scenarios: list[Scenario], agent: str | None, deployment: str | None
) -> Plan:
    """Which agent each scenario calls: the deployment's, else ``agent``, else its own
    ``agent``. Raises CliError naming the scenario when one cannot be found."""
    if deployment is not None:
        row = api.get(f"/agents/deployments/{segment(deployment)}")
        if agent is not None and api.agent(agent)["id"] != row["agent_id"]:
            raise CliError(f"deployment {deployment} is not {agent}'s: it is {row['agent_id']}'s")
        return [(scenario, row["agent_id"]) for scenario in scenarios]
    found: dict[str, str] = {}
    plan = []
    for scenario in scenarios:
        ref = agent or scenario.agent
        where = "" if agent else f"{scenario.file}: scenario {scenario.name!r}: "
        if ref is None:
            raise CliError(
                f"{scenario.file}: scenario {scenario.name!r} names no agent: "
                "give it `agent:` or pass --agent"
            )
        if ref not in found:
            try:
                found[ref] = api.agent(ref)["id"]
            except CliError as error:
                raise CliError(f"{where}{error}") from None
        plan.append((scenario, found[ref]))
    return plan


def run_scenarios(
    where: Target, plan: Plan, options: Options, jobs: int
) -> tuple[str, list[Outcome]]:
    """Run the plan, saying how far it got; returns the run's id and the outcomes."""
    run_id = new_run_id()
    finished = 0
    status = err_console.status(f"Running {len(plan)} scenarios…", spinner="dots")

    def on_done(_: Outcome) -> None:
        nonlocal finished
        finished += 1
        status.update(f"Running {len(plan)} scenarios… {finished} done")

    with status:
        outcomes = asyncio.run(run_all(where, plan, run_id, options, jobs, on_done))
    return run_id, outcomes


def write_junit(path: Path, outcomes: list[Outcome], run_id: str, where: Target) -> None:
    try:
        junit.write(path, outcomes, run_id, where)
    except OSError as error:
        report(f"cannot write {path}: {error.strerror or error}")
        raise typer.Exit(EXIT_FAILED) from None
    err_console.print(f"JUnit report: {path}")


def print_outcomes(
    where: Target, outcomes: list[Outcome], run_id: str, out: Console = console
) -> None:
    """The summary table, what each failed scenario found, then one line of totals."""
    rows = [
        (
            outcome.scenario.name,
            _result(outcome),
            str(len(outcome.problems)),
            _link(where, outcome.call_id),
        )
        for outcome in outcomes
    ]
    out.print(list_table(("SCENARIO", "RESULT", "FAILURES", "CALL"), rows))
    for outcome in outcomes:
        if not outcome.passed:
            out.print()
            heading = f"✗ {outcome.scenario.name} ({outcome.scenario.file})"
            out.print(Text(heading, style="bold red"))
            for problem in outcome.problems:
                out.print(Text(f"  - {problem}"))
    passed = sum(outcome.passed for outcome in outcomes)
    failed = len(outcomes) - passed
    style = "bold red" if failed else "bold green"
    out.print()
    out.print(Text(f"{passed} passed, {failed} failed (test run {run_id})", style=style))


def _result(outcome: Outcome) -> Text:
    if outcome.passed:
        return Text("pass", style="green")
    return Text("ERROR" if outcome.error else "FAIL", style="bold red")


def _link(where: Target, call_id: str | None) -> Text | None:
    if call_id is None:
        return None
    url = call_url(where, call_id)
    return Text(url, style=f"link {url}")
