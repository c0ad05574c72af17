"""``/agents/alerts``: alert rules, their history and sampled values, and a test send
(docs/alerts.md). The rule's fields are checked by ``domain.alerts.parse_rule``, whose
problems name the field; what only the platform knows (agents, deployments, evaluation
metrics, webhooks) is checked here."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from openline import ids
from openline.api._params import Text, UtcTime
from openline.api.deps import PlatformDep, authenticated
from openline.api.errors import ApiError, not_found
from openline.api.webhooks import checked_url
from openline.domain.alerts import Rule, RuleProblem, parse_rule
from openline.domain.notifications import EMAIL, MAILTO, SLACK
from openline.domain.time import utcnow
from openline.platform import Platform
from openline.store.alerts import NameTaken
from openline.store.pagination import PageRequest

router = APIRouter(prefix="/agents/alerts", dependencies=[Depends(authenticated)], tags=["alerts"])

DEFAULT_SAMPLES_SPAN = timedelta(hours=24)


class Scope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent_id: Text | None = Field(default=None, max_length=64)
    deployment_id: Text | None = Field(default=None, max_length=64)
    metadata: dict[Text, Text] = Field(default_factory=dict)


class Target(BaseModel):
    """Exactly one of: an endpoint, a Slack incoming webhook url, an email address."""

    model_config = ConfigDict(extra="forbid")
    webhook_id: Text | None = Field(default=None, max_length=64)
    slack_url: Text | None = Field(default=None, max_length=2048)
    email: Text | None = Field(default=None, max_length=320)

    @model_validator(mode="after")
    def _exactly_one(self) -> Target:
        if sum(value is not None for value in (self.webhook_id, self.slack_url, self.email)) != 1:
            raise ValueError("a target is one of webhook_id, slack_url or email")
        return self


class RuleFields(BaseModel):
    """A rule's definition; every field is optional on PATCH."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["threshold", "objective"] | None = None
    scope: Scope | None = None
    measure: dict[Text, Any] | None = Field(
        default=None,
        description='e.g. {"type": "latency", "latency": "response", "quantile": "p95"}',
    )
    window: Text | int | None = Field(default=None, description="e.g. 15m, 6h, 7d, or seconds")
    comparison: Literal[">", ">=", "<", "<="] | None = None
    threshold: float | None = None
    resolve_threshold: float | None = None
    min_calls: int | None = Field(default=None, ge=0, le=1_000_000)
    fire_after: int | None = Field(default=None, ge=1, le=1000)
    resolve_after: int | None = Field(default=None, ge=1, le=1000)
    objective: dict[Text, Any] | None = Field(
        default=None,
        description='e.g. {"latency": "response", "target_s": 1.2, "ratio": 0.95, "period": "30d"}',
    )
    targets: list[Target] | None = Field(default=None, max_length=20)
    enabled: bool | None = None


class AlertCreate(RuleFields):
    name: Text = Field(min_length=1, max_length=200)


class AlertUpdate(RuleFields):
    name: Text | None = Field(default=None, min_length=1, max_length=200)


_OWN_FIELDS = {"name", "targets", "enabled"}


def _rule(ol: Platform, given: dict[str, Any]) -> Rule:
    try:
        rule = parse_rule(given)
    except RuleProblem as problem:
        raise ApiError(422, str(problem)) from None
    scope = rule.scope
    if scope.agent_id and ol.agents.get(scope.agent_id) is None:
        raise ApiError(422, f"scope.agent_id: no agent with id {scope.agent_id!r}")
    if scope.deployment_id and ol.deployment_repo.get(scope.deployment_id) is None:
        raise ApiError(422, f"scope.deployment_id: no deployment with id {scope.deployment_id!r}")
    if rule.measure is not None and rule.measure.type == "pass_rate":
        name = rule.measure.param("metric")
        if ol.metrics.find(name) is None:
            raise ApiError(422, f"measure.metric: no evaluation metric named {name!r}")
    return rule


def _targets(ol: Platform, given: list[Target]) -> list[str]:
    """Webhook ids; a Slack url or an email address becomes (or reuses) an endpoint."""
    found = []
    for at, target in enumerate(given):
        if target.webhook_id is not None:
            if ol.webhooks.get(target.webhook_id) is None:
                raise ApiError(422, f"targets[{at}].webhook_id: no webhook {target.webhook_id!r}")
            found.append(target.webhook_id)
            continue
        format, url = (
            (SLACK, target.slack_url) if target.slack_url else (EMAIL, MAILTO + str(target.email))
        )
        try:
            checked_url(ol, url, format)
        except ApiError as refused:
            raise ApiError(422, f"targets[{at}]: {refused}") from None
        endpoint = ol.webhooks.find(url, format)
        if endpoint is None:
            name = f"alerts ({format})"
            endpoint = ol.webhooks.create(url, ids.new_secret("whsec_"), name, format)
        found.append(endpoint["id"])
    return list(dict.fromkeys(found))


def _alert(ol: Platform, rule_id: str) -> dict:
    found = ol.alerts.get(rule_id)
    if found is None:
        raise not_found("alert", rule_id)
    return found


@router.post("", status_code=201)
def create_alert(body: AlertCreate, ol: PlatformDep) -> dict:
    given = body.model_dump(exclude_none=True, exclude=_OWN_FIELDS)
    rule = _rule(ol, given)
    targets = _targets(ol, body.targets or [])
    try:
        return ol.alerts.create(body.name, rule, targets, body.enabled is not False)
    except NameTaken:
        raise ApiError(409, f"name: an alert named {body.name!r} exists") from None


@router.get("")
def list_alerts(ol: PlatformDep, state: Literal["ok", "firing", "resolved"] | None = None) -> dict:
    return {"data": ol.alerts.list(state), "has_more": False, "next_page": None}


@router.get("/{rule_id}")
def get_alert(rule_id: Text, ol: PlatformDep) -> dict:
    return _alert(ol, rule_id)


@router.patch("/{rule_id}")
def update_alert(rule_id: Text, body: AlertUpdate, ol: PlatformDep) -> dict:
    current = _alert(ol, rule_id)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    changed: dict[str, Any] = {key: changes[key] for key in ("name", "enabled") if key in changes}
    definition = {key: value for key, value in changes.items() if key not in _OWN_FIELDS}
    if definition:
        changed["rule"] = _rule(ol, _merged(current, definition))
    if body.targets is not None:
        changed["targets"] = _targets(ol, body.targets)
    try:
        updated = ol.alerts.update(rule_id, **changed)
    except NameTaken:
        raise ApiError(409, f"name: an alert named {body.name!r} exists") from None
    if updated is None:
        raise not_found("alert", rule_id)
    return updated


def _merged(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The rule's definition with ``changes`` over it. A resolve threshold that only
    followed the threshold (the default) follows the new one."""
    kind = changes.get("kind", current["kind"])
    names = ["scope", "min_calls", "fire_after", "resolve_after"]
    if kind == current["kind"]:
        names += ["objective"] if kind == "objective" else [
            "measure", "window", "comparison", "threshold", "resolve_threshold"
        ]  # fmt: skip
    merged = {name: current[name] for name in names} | {"kind": kind}
    if "threshold" in changes and "resolve_threshold" not in changes:
        if current["resolve_threshold"] == current["threshold"]:
            merged.pop("resolve_threshold", None)
    return merged | changes


@router.delete("/{rule_id}", status_code=204)
def delete_alert(rule_id: Text, ol: PlatformDep) -> Response:
    if not ol.alerts.delete(rule_id):
        raise not_found("alert", rule_id)
    return Response(status_code=204)


@router.get("/{rule_id}/history")
def alert_history(
    rule_id: Text,
    ol: PlatformDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    starting_after: Text | None = None,
    ending_before: Text | None = None,
) -> dict:
    """The rule's transitions, newest first."""
    _alert(ol, rule_id)
    page = ol.alerts.history(rule_id, PageRequest(limit, starting_after, ending_before))
    return {"data": page.rows, "has_more": page.has_more, "next_page": page.next_page}


@router.get("/{rule_id}/samples")
def alert_samples(
    rule_id: Text, ol: PlatformDep, start: UtcTime | None = None, end: UtcTime | None = None
) -> dict:
    """The rule's evaluated values, oldest first (default: the last 24 hours)."""
    _alert(ol, rule_id)
    end = end or utcnow()
    start = start or end - DEFAULT_SAMPLES_SPAN
    if start >= end:
        raise ApiError(422, "start must be before end")
    return {"data": ol.alerts.samples(rule_id, start, end)}


@router.post("/{rule_id}/test")
async def test_alert(rule_id: Text, ol: PlatformDep) -> dict:
    """Queue a sample ``alert_firing`` (``"test": true``) to every target now."""
    queued = await asyncio.to_thread(ol.alert_evaluator.send_test, rule_id)
    if queued is None:
        raise not_found("alert", rule_id)
    deliveries = [{"webhook_id": row["webhook_id"], "delivery_id": row["id"]} for row in queued]
    return {"queued": len(deliveries), "deliveries": deliveries}
