"""``openline alerts``: alert rules over the fleet's calls, their state, their history and
test notifications (docs/alerts.md)."""

from __future__ import annotations

import contextlib
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from openline.cli._alert_options import (
    Above,
    Agent,
    Aggregate,
    AtLeast,
    AtMost,
    Below,
    Deployment,
    Email,
    EndReasons,
    Event,
    FireAfter,
    Latency,
    MeasureOptions,
    MeasureType,
    Metadata,
    Metric,
    MinCalls,
    Objective,
    ObjectiveOptions,
    PerCall,
    Period,
    Quantile,
    Ratio,
    ResolveAfter,
    ResolveThreshold,
    ScopeOptions,
    Slack,
    Webhooks,
    Window,
    comparison,
    rule_fields,
    targets,
)
from openline.cli._client import Api, named, segment, target
from openline.cli._errors import CliError, cli_errors
from openline.cli._output import (
    Cell,
    JsonFlag,
    compact,
    console,
    err_console,
    list_table,
    print_fields,
    print_json,
    print_list,
    when,
)
from openline.cli.stats import number, percent

app = typer.Typer(
    name="alerts",
    help="Alert rules over the fleet's calls (a failure rate, no calls, slow answers, a metric, "
    "a pass rate, a latency objective): create, list, change, remove; their history and "
    "test notifications.",
    no_args_is_help=True,
)

RULE_PREFIX = "alert_"
PAGE_MAX = 100  # the API's largest page

RuleRef = Annotated[
    str,
    typer.Argument(metavar="RULE", help="Alert id (alert_…) or exact name.", show_default=False),
]


class State(StrEnum):
    ok = "ok"
    firing = "firing"
    resolved = "resolved"


_STATE_STYLES = {"ok": "green", "resolved": "green", "firing": "bold red"}


def _path(rule_id: str, *rest: str) -> str:
    return "/".join(["/agents/alerts", segment(rule_id), *rest])


def rule(api: Api, ref: str) -> dict:
    """A rule by id, else by its exact name (a name may itself start with ``alert_``)."""
    if ref.startswith(RULE_PREFIX):
        with contextlib.suppress(CliError):  # not an id: perhaps a name
            return api.get(_path(ref))
    return named("alert", api.get("/agents/alerts")["data"], "name", ref)


# -- commands ------------------------------------------------------------------------------


@app.command("create")
@cli_errors
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="A unique name.", show_default=False)],
    agent: Agent = None,
    deployment: Deployment = None,
    metadata: Metadata = None,
    measure: MeasureType = None,
    end_reason: EndReasons = None,
    latency: Latency = None,
    quantile: Quantile = None,
    metric: Metric = None,
    aggregate: Aggregate = None,
    event: Event = None,
    per_call: PerCall = None,
    above: Above = None,
    below: Below = None,
    at_least: AtLeast = None,
    at_most: AtMost = None,
    window: Window = None,
    min_calls: MinCalls = None,
    resolve_threshold: ResolveThreshold = None,
    fire_after: FireAfter = None,
    resolve_after: ResolveAfter = None,
    objective: Objective = None,
    ratio: Ratio = None,
    period: Period = None,
    webhook: Webhooks = None,
    slack: Slack = None,
    email: Email = None,
    disabled: Annotated[
        bool, typer.Option("--disabled", help="Create it off: not evaluated until enabled.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create an alert rule and the targets it notifies.

    A threshold rule: --measure TYPE compared by one of --above, --below, --at-least,
    --at-most over a --window. An objective: --objective LATENCY:TARGET_S, --ratio, --period.
    """
    goal = ObjectiveOptions(objective, ratio, period)
    measured = MeasureOptions(
        measure, end_reason, latency, quantile, metric, aggregate, event, per_call
    )
    compared = comparison(above, below, at_least, at_most)
    if goal.objective is None and goal.given():
        raise CliError("--ratio and --period go with --objective LATENCY:TARGET_S")
    if goal.objective is None and (measure is None or compared is None):
        raise CliError(
            "give --measure TYPE and one of --above, --below, --at-least, --at-most "
            "(or a latency --objective LATENCY:TARGET_S)"
        )
    body: dict[str, Any] = {"name": name, "kind": "objective" if goal.objective else "threshold"}
    with Api(target(ctx)) as api:
        body |= rule_fields(
            api,
            {},
            ScopeOptions(agent, deployment, metadata),
            measured,
            compared,
            goal,
            window=window,
            min_calls=min_calls,
            resolve_threshold=resolve_threshold,
            fire_after=fire_after,
            resolve_after=resolve_after,
            targets=targets(api, webhook, slack, email),
        )
        if disabled:
            body["enabled"] = False
        made = api.post("/agents/alerts", body)
    if as_json:
        print_json(made)
        return
    console.print(
        f"Created alert [bold]{made['id']}[/] {escape(made['name'])}: {escape(made['description'])}"
    )
    _print_targets(made)
    if not made.get("enabled", True):
        console.print(f"Disabled: turn it on with openline alerts update {made['id']} --enable")


def _print_targets(found: dict) -> None:
    if not found.get("targets"):
        console.print(
            "No targets: it changes state without notifying anyone (add some: openline "
            f"alerts update {found['id']} --webhook WH, --slack URL or --email ADDR)"
        )
        return
    console.print("Notifies:")
    for line in _target_lines(found):
        console.print(f"  {escape(line)}")


def _target_lines(found: dict) -> list[str]:
    """``slack https://hooks… (agent_webhook_…)`` a target."""
    return [
        f"{target['format']} {target['url']} ({target['webhook_id']})"
        if target.get("format")
        else f"{target['webhook_id']} (its endpoint was deleted: not notified)"
        for target in found.get("targets") or []
    ]


@app.command("ls")
@cli_errors
def list_rules(
    ctx: typer.Context,
    state: Annotated[
        State | None, typer.Option(help="Only the rules in this state.", show_default=False)
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List rules: their state, last value against the threshold, window, scope, calls."""
    with Api(target(ctx)) as api:
        found = api.get("/agents/alerts", state=state.value if state else None)["data"]
        names = _agent_names(api) if _any_agent(found) else {}
    print_list(
        found,
        ("ID", "NAME", "STATE", "VALUE", "WINDOW", "SCOPE", "CALLS", "EVALUATED (UTC)"),
        lambda row: (
            row["id"],
            row["name"],
            state_text(row),
            reading(row),
            window_text(row),
            scope_text(row.get("scope") or {}, names),
            _count(row.get("calls")),
            when(row.get("evaluated_at")),
        ),
        empty=f"No {state.value} alerts."
        if state
        else "No alerts yet. Create one: openline "
        "alerts create NAME --measure failure_rate --above 0.2",
        as_json=as_json,
    )


def _agent_names(api: Api) -> dict[str, str]:
    return {agent["id"]: agent["name"] for agent in api.get("/agents")["summaries"]}


def _any_agent(rules: list[dict]) -> bool:
    return any((row.get("scope") or {}).get("agent_id") for row in rules)


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def state_text(found: dict) -> Text:
    """``firing`` in red, ``ok`` and ``resolved`` in green; ``(disabled)`` after it."""
    state = found.get("state") or "?"
    text = Text(state, style=_STATE_STYLES.get(state, ""))
    if not found.get("enabled", True):
        text.append(" (disabled)", style="dim")
    return text


def reading(found: dict) -> str:
    """The last value against the threshold, ``0.6 > 0.2``; an objective's burn rate."""
    value = number(found.get("value"))
    if found.get("kind") == "objective":
        return f"burn rate {value}, budget left {percent(found.get('budget_left'))}"
    return f"{value} {found.get('comparison')} {number(found.get('threshold'))}"


def window_text(found: dict) -> str:
    goal = found.get("objective")
    if goal:
        return f"{goal.get('period')} objective"
    return found.get("window") or "-"


def scope_text(scope: dict, names: dict[str, str]) -> str:
    """``agent Support bot, deployment dep_…, team:support``, or ``all agents``."""
    parts = []
    if scope.get("agent_id"):
        parts.append(f"agent {names.get(scope['agent_id'], scope['agent_id'])}")
    if scope.get("deployment_id"):
        parts.append(f"deployment {scope['deployment_id']}")
    parts += [f"{key}:{value}" for key, value in (scope.get("metadata") or {}).items()]
    return ", ".join(parts) or "all agents"


@app.command("get")
@cli_errors
def get(ctx: typer.Context, ref: RuleRef, as_json: JsonFlag = False) -> None:
    """Show one rule: every field, its state, the budget left of an objective, its targets."""
    with Api(target(ctx)) as api:
        found = rule(api, ref)
        names = _agent_names(api) if _any_agent([found]) else {}
    print_fields(found, lambda row: _details(row, names), as_json=as_json)


def _details(found: dict, names: dict[str, str]) -> list[tuple[str, Cell]]:
    fields: list[tuple[str, Cell]] = [
        ("id", found["id"]),
        ("name", found["name"]),
        ("kind", found.get("kind")),
        ("description", found.get("description")),
        ("enabled", "yes" if found.get("enabled", True) else "no"),
        ("state", state_text(found)),
        ("since (UTC)", when(found.get("state_since"))),
        ("value", reading(found)),
        ("calls", _count(found.get("calls"))),
        ("evaluated (UTC)", when(found.get("evaluated_at"))),
        ("scope", scope_text(found.get("scope") or {}, names)),
    ]
    if found.get("objective"):
        fields += [
            ("objective", compact(found["objective"], None)),
            ("budget left", percent(found.get("budget_left"))),
        ]
    else:
        fields += [
            ("measure", compact(found.get("measure"), None)),
            ("window", window_text(found)),
            ("threshold", f"{found.get('comparison')} {number(found.get('threshold'))}"),
            ("resolve threshold", number(found.get("resolve_threshold"))),
        ]
    fields += [
        ("min calls", _count(found.get("min_calls"))),
        ("fire after", _count(found.get("fire_after"))),
        ("resolve after", _count(found.get("resolve_after"))),
        ("targets", "\n".join(_target_lines(found)) or None),
        ("created (UTC)", when(found.get("created_at"))),
        ("updated (UTC)", when(found.get("updated_at"))),
    ]
    return fields


@app.command("update")
@cli_errors
def update(
    ctx: typer.Context,
    ref: RuleRef,
    name: Annotated[str | None, typer.Option(help="A new name.", show_default=False)] = None,
    agent: Agent = None,
    deployment: Deployment = None,
    metadata: Metadata = None,
    measure: MeasureType = None,
    end_reason: EndReasons = None,
    latency: Latency = None,
    quantile: Quantile = None,
    metric: Metric = None,
    aggregate: Aggregate = None,
    event: Event = None,
    per_call: PerCall = None,
    threshold: Annotated[
        float | None,
        typer.Option(metavar="X", help="A new threshold, same comparison.", show_default=False),
    ] = None,
    above: Above = None,
    below: Below = None,
    at_least: AtLeast = None,
    at_most: AtMost = None,
    window: Window = None,
    min_calls: MinCalls = None,
    resolve_threshold: ResolveThreshold = None,
    fire_after: FireAfter = None,
    resolve_after: ResolveAfter = None,
    objective: Objective = None,
    ratio: Ratio = None,
    period: Period = None,
    webhook: Webhooks = None,
    slack: Slack = None,
    email: Email = None,
    no_targets: Annotated[bool, typer.Option("--no-targets", help="Remove every target.")] = False,
    enabled: Annotated[
        bool | None,
        typer.Option(
            "--enable/--disable",
            help="Evaluate it again, or stop (its state is kept).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a rule: only the options given change; its state is kept.

    Targets given replace its targets (--no-targets removes them); a scope option given as
    "" clears it (--agent "").
    """
    compared = comparison(above, below, at_least, at_most)
    if threshold is not None and compared is not None:
        raise CliError("give --threshold or a comparison (--above, …), not both")
    if no_targets and (webhook or slack or email):
        raise CliError("give --no-targets or targets, not both")
    with Api(target(ctx)) as api:
        found = rule(api, ref)
        body = rule_fields(
            api,
            found,
            ScopeOptions(agent, deployment, metadata),
            MeasureOptions(
                measure, end_reason, latency, quantile, metric, aggregate, event, per_call
            ),
            compared,
            ObjectiveOptions(objective, ratio, period),
            name=name,
            threshold=threshold,
            window=window,
            min_calls=min_calls,
            resolve_threshold=resolve_threshold,
            fire_after=fire_after,
            resolve_after=resolve_after,
            targets=[] if no_targets else targets(api, webhook, slack, email),
            enabled=enabled,
        )
        if not body:
            raise CliError("nothing to change: give at least one option (see --help)")
        updated = api.patch(_path(found["id"]), body)
    if as_json:
        print_json(updated)
        return
    line = Text(f"Updated alert {updated['id']} {updated['name']}: {updated['description']} (")
    console.print(line.append_text(state_text(updated)).append(")"))
    _print_targets(updated)


@app.command("rm")
@cli_errors
def remove(ctx: typer.Context, ref: RuleRef) -> None:
    """Delete a rule and its history."""
    with Api(target(ctx)) as api:
        found = rule(api, ref)
        api.delete(_path(found["id"]))
    console.print(f"Deleted alert {found['id']} {escape(found['name'])} and its history")


@app.command("history")
@cli_errors
def history(
    ctx: typer.Context,
    ref: RuleRef,
    limit: Annotated[int, typer.Option(min=1, max=PAGE_MAX, help="How many, newest first.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """A rule's transitions, newest first: when, from → to, value, threshold, calls."""
    with Api(target(ctx)) as api:
        found = rule(api, ref)
        page = api.get(_path(found["id"], "history"), limit=limit)
    rows = page["data"]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(f"No transitions yet: {found['name']} has been {found.get('state')}.")
        return
    console.print(
        list_table(
            ("AT (UTC)", "FROM → TO", "VALUE", "THRESHOLD", "CALLS", "EXAMPLE CALLS"),
            (
                (
                    when(row.get("at")),
                    _transition(row),
                    number(row.get("value")),
                    number(row.get("threshold")),
                    _count(row.get("calls")),
                    ", ".join(row.get("example_call_ids") or []),
                )
                for row in rows
            ),
        )
    )
    if page.get("has_more"):
        err_console.print(f"[dim]Showing the {limit} newest; --limit shows more.[/]")


def _transition(row: dict) -> Text:
    to_state = row.get("to_state") or "?"
    text = Text(f"{row.get('from_state')} → ")
    return text.append(to_state, _STATE_STYLES.get(to_state, ""))


@app.command("test")
@cli_errors
def test(ctx: typer.Context, ref: RuleRef, as_json: JsonFlag = False) -> None:
    """Queue a sample alert_firing ("test": true) to every target of the rule now."""
    with Api(target(ctx)) as api:
        found = rule(api, ref)
        sent = api.post(_path(found["id"], "test"), {})
    if as_json:
        print_json(sent)
        return
    queued = sent["queued"]
    if not queued:
        console.print(f"Queued nothing: {escape(found['name'])} has no targets.")
        return
    noun = "notification" if queued == 1 else "notifications"
    console.print(f"Queued {queued} test {noun} for {escape(found['name'])}:")
    shown = dict(zip(_webhook_ids(found), _target_lines(found), strict=True))
    for delivery in sent["deliveries"]:
        target_line = shown.get(delivery["webhook_id"], delivery["webhook_id"])
        console.print(f"  {escape(target_line)}: delivery {delivery['delivery_id']}")
    err_console.print("[dim]How they went: openline webhooks deliveries WH[/]")


def _webhook_ids(found: dict) -> list[str]:
    return [target["webhook_id"] for target in found.get("targets") or []]
