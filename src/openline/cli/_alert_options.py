"""The options of ``openline alerts create`` and ``update``, and the rule fields they make
(docs/alerts.md).

The CLI names the fields; the server checks them: an unknown measure, a window out of
range or a parameter its measure does not take comes back as the server's 422 message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

import typer

from openline.cli._client import Api
from openline.cli._errors import CliError
from openline.cli.webhooks import webhook_id
from openline.domain.tally import LATENCIES

# -- scope ---------------------------------------------------------------------------------

Agent = Annotated[
    str | None,
    typer.Option(
        "--agent",
        metavar="AGENT",
        help="Only this agent's calls: id or exact name.",
        show_default=False,
    ),
]
Deployment = Annotated[
    str | None,
    typer.Option(
        "--deployment",
        metavar="DEP",
        help="Only this deployment's calls (dep_…).",
        show_default=False,
    ),
]
Metadata = Annotated[
    list[str] | None,
    typer.Option(
        "--metadata",
        metavar="KEY:VALUE",
        help="Only calls whose metadata has key:value (repeatable; all must match).",
        show_default=False,
    ),
]

# -- what is measured ------------------------------------------------------------------------

MeasureType = Annotated[
    str | None,
    typer.Option(
        "--measure",
        metavar="TYPE",
        help="What to measure: failure_rate, call_count, end_reason_share, latency, metric, "
        "event_count or pass_rate.",
        show_default=False,
    ),
]
EndReasons = Annotated[
    list[str] | None,
    typer.Option(
        "--end-reason",
        metavar="REASON",
        help="end_reason_share: an end reason to count, e.g. error (repeatable).",
        show_default=False,
    ),
]
Latency = Annotated[
    str | None,
    typer.Option(
        "--latency",
        metavar="|".join(LATENCIES),
        help="latency: which latency.",
        show_default=False,
    ),
]
Quantile = Annotated[
    str | None,
    typer.Option(
        "--quantile",
        metavar="p50|p90|p95|p99",
        help="latency: which quantile (default p95).",
        show_default=False,
    ),
]
Metric = Annotated[
    str | None,
    typer.Option(
        "--metric",
        metavar="NAME",
        help="metric: a log_metric name; pass_rate: an evaluation metric's name.",
        show_default=False,
    ),
]
Aggregate = Annotated[
    str | None,
    typer.Option(
        "--aggregate",
        metavar="mean|min|max|p50|p95|count",
        help="metric: which aggregate of its values (default mean).",
        show_default=False,
    ),
]
Event = Annotated[
    str | None,
    typer.Option(
        "--event", metavar="NAME", help="event_count: a log_event name.", show_default=False
    ),
]
PerCall = Annotated[
    bool | None,
    typer.Option(
        "--per-call/--per-window",
        help="event_count: events ÷ calls, or all the window's events (the default).",
        show_default=False,
    ),
]

# -- when it breaches --------------------------------------------------------------------------


_BREACH = "Breach when the value is {} X."
Above = Annotated[
    float | None,
    typer.Option("--above", metavar="X", help=_BREACH.format(">"), show_default=False),
]
Below = Annotated[
    float | None,
    typer.Option("--below", metavar="X", help=_BREACH.format("<"), show_default=False),
]
AtLeast = Annotated[
    float | None,
    typer.Option("--at-least", metavar="X", help=_BREACH.format(">="), show_default=False),
]
AtMost = Annotated[
    float | None,
    typer.Option("--at-most", metavar="X", help=_BREACH.format("<="), show_default=False),
]
COMPARISONS = (("--above", ">"), ("--below", "<"), ("--at-least", ">="), ("--at-most", "<="))

Window = Annotated[
    str | None,
    typer.Option(
        "--window",
        metavar="DURATION",
        help="How far back: 90s, 15m, 6h, 7d (1 minute to 31 days; default 15m).",
        show_default=False,
    ),
]
MinCalls = Annotated[
    int | None,
    typer.Option(
        "--min-calls",
        metavar="N",
        help="Calls the window must hold before it can fire (default 5; call_count "
        "ignores it; an objective's short window).",
        show_default=False,
    ),
]
ResolveThreshold = Annotated[
    float | None,
    typer.Option(
        "--resolve-threshold",
        metavar="X",
        help="A firing rule is clear only past X (default: the threshold).",
        show_default=False,
    ),
]
FireAfter = Annotated[
    int | None,
    typer.Option(
        "--fire-after",
        metavar="N",
        help="Breaching evaluations in a row before it fires (default 1).",
        show_default=False,
    ),
]
ResolveAfter = Annotated[
    int | None,
    typer.Option(
        "--resolve-after",
        metavar="N",
        help="Clear evaluations in a row before it resolves (default 2).",
        show_default=False,
    ),
]

# -- objectives ----------------------------------------------------------------------------

Objective = Annotated[
    str | None,
    typer.Option(
        "--objective",
        metavar="LATENCY:TARGET_S",
        help="A latency objective instead of a threshold: turns' latency of one kind ("
        f"{', '.join(LATENCIES)}) within TARGET_S seconds, e.g. response:1.2.",
        show_default=False,
    ),
]
Ratio = Annotated[
    float | None,
    typer.Option(
        "--ratio",
        metavar="SHARE",
        help="The objective's share of turns that must be fast enough (default 0.95).",
        show_default=False,
    ),
]
Period = Annotated[
    str | None,
    typer.Option(
        "--period",
        metavar="DURATION",
        help="The objective's period, e.g. 7d (default 30d).",
        show_default=False,
    ),
]

# -- targets -------------------------------------------------------------------------------

Webhooks = Annotated[
    list[str] | None,
    typer.Option(
        "--webhook",
        metavar="WH",
        help="Notify this webhook endpoint: id or exact name (repeatable).",
        show_default=False,
    ),
]
Slack = Annotated[
    list[str] | None,
    typer.Option(
        "--slack",
        metavar="URL",
        help="Notify this Slack incoming webhook (repeatable).",
        show_default=False,
    ),
]
Email = Annotated[
    list[str] | None,
    typer.Option(
        "--email",
        metavar="ADDR",
        help="Email this address (repeatable; the server needs OPENLINE_SMTP_HOST).",
        show_default=False,
    ),
]


# -- the fields they make ----------------------------------------------------------------------


@dataclass(frozen=True)
class ScopeOptions:
    """``--agent``, ``--deployment``, ``--metadata``: ``""`` clears one on update."""

    agent: str | None
    deployment: str | None
    metadata: list[str] | None

    def scope(self, api: Api, current: dict[str, Any]) -> dict[str, Any] | None:
        """``current`` with what was given changed, or None when nothing was."""
        if self.agent is None and self.deployment is None and self.metadata is None:
            return None
        scope = dict(current)
        if self.agent is not None:
            scope["agent_id"] = api.agent_id(self.agent) if self.agent else None
        if self.deployment is not None:
            scope["deployment_id"] = self.deployment or None
        if self.metadata is not None:
            scope["metadata"] = metadata_filter(self.metadata)
        return scope


def metadata_filter(pairs: list[str]) -> dict[str, str]:
    """``["team:support"]`` as ``{"team": "support"}`` (an empty pair is left out)."""
    found: dict[str, str] = {}
    for pair in filter(None, pairs):
        key, colon, value = pair.partition(":")
        if not colon or not key:
            raise CliError(f"--metadata must be KEY:VALUE, like team:support, not {pair!r}")
        found[key] = value
    return found


@dataclass(frozen=True)
class MeasureOptions:
    """``--measure TYPE`` and its parameters, named as the API names them."""

    type: str | None
    end_reasons: list[str] | None
    latency: str | None
    quantile: str | None
    metric: str | None
    aggregate: str | None
    event: str | None
    per_call: bool | None

    def measure(self, current: dict[str, Any] | None) -> dict[str, Any] | None:
        """The measure the options make of ``current`` (another type starts afresh), or
        None when none was given."""
        params = {key: value for key, value in asdict(self).items() if value is not None}
        kind = params.pop("type", None)
        if kind is None and not params:
            return None
        base = dict(current or {})
        if kind is not None and kind != base.get("type"):
            base = {"type": kind}
        if "type" not in base:
            raise CliError("give --measure TYPE with its parameters")
        return base | params


def comparison(
    above: float | None, below: float | None, at_least: float | None, at_most: float | None
) -> tuple[str, float] | None:
    """The one comparison given (``(">", 0.2)`` for ``--above 0.2``), or None."""
    given = [
        (option, sign, value)
        for (option, sign), value in zip(
            COMPARISONS, (above, below, at_least, at_most), strict=True
        )
        if value is not None
    ]
    if len(given) > 1:
        raise CliError(f"give one comparison, not {' and '.join(option for option, *_ in given)}")
    return (given[0][1], given[0][2]) if given else None


@dataclass(frozen=True)
class ObjectiveOptions:
    """``--objective LATENCY:TARGET_S``, ``--ratio``, ``--period``."""

    objective: str | None
    ratio: float | None
    period: str | None

    def given(self) -> bool:
        return any(value is not None for value in asdict(self).values())

    def fields(self, current: dict[str, Any] | None) -> dict[str, Any] | None:
        """``current`` objective with what was given changed, or None when nothing was."""
        if not self.given():
            return None
        found = {
            key: value
            for key, value in (current or {}).items()
            if key in ("latency", "target_s", "ratio", "period")
        }
        if self.objective is not None:
            found |= latency_target(self.objective)
        if self.ratio is not None:
            found["ratio"] = self.ratio
        if self.period is not None:
            found["period"] = self.period
        return found


def latency_target(text: str) -> dict[str, Any]:
    """``response:1.2`` as ``{"latency": "response", "target_s": 1.2}`` (``1.2`` alone: the
    response latency)."""
    latency, _, target = text.rpartition(":")
    try:
        seconds = float(target)
    except ValueError:
        raise CliError(
            f"--objective must be LATENCY:TARGET_S, like response:1.2, not {text!r}"
        ) from None
    return {"latency": latency or "response", "target_s": seconds}


def targets(
    api: Api, webhooks: list[str] | None, slack: list[str] | None, email: list[str] | None
) -> list[dict[str, str]] | None:
    """The targets given (webhooks by id or name), or None when none was."""
    if webhooks is None and slack is None and email is None:
        return None
    return (
        [{"webhook_id": webhook_id(api, ref)} for ref in webhooks or ()]
        + [{"slack_url": url} for url in slack or ()]
        + [{"email": address} for address in email or ()]
    )


def rule_fields(
    api: Api,
    current: dict[str, Any],
    scope: ScopeOptions,
    measure: MeasureOptions,
    compared: tuple[str, float] | None,
    objective: ObjectiveOptions,
    **given: Any,
) -> dict[str, Any]:
    """The rule fields the options give (``current``'s scope, measure and objective
    changed where they say), without those not given."""
    fields = given | {
        "scope": scope.scope(api, current.get("scope") or {}),
        "measure": measure.measure(current.get("measure")),
        "objective": objective.fields(current.get("objective")),
    }
    if compared is not None:
        fields["comparison"], fields["threshold"] = compared
    return {key: value for key, value in fields.items() if value is not None}
