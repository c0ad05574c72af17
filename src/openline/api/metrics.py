"""Evaluation metrics and their results, in Cartesia's paths and shapes
(docs/evaluations.md): ``/agents/metrics``, ``/agents/{agent_id}/metrics/{metric_id}``,
``/agents/metrics/results`` and its CSV export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from openline.api._params import Text, UtcTime, storable_json
from openline.api.deps import PlatformDep, authenticated
from openline.api.errors import ApiError, not_found
from openline.domain.evaluations import (
    EXPORT_COLUMNS,
    metric_json,
    metric_name_problem,
    result_json,
)
from openline.domain.rules import Rule, result_text, rule_json
from openline.platform import Platform
from openline.store.evaluations import DuplicateName, ResultFilter
from openline.store.pagination import PageRequest

router = APIRouter(prefix="/agents", dependencies=[Depends(authenticated)], tags=["metrics"])


class MetricCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text
    prompt: Text = Field(min_length=1, max_length=20_000)
    display_name: Text | None = Field(default=None, max_length=200)
    rule: Rule | None = Field(
        default=None, description="openline: judge offline by this rule instead of an LLM."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if problem := metric_name_problem(name):
            raise ValueError(problem)
        return name

    @field_validator("rule")
    @classmethod
    def _storable_rule(cls, rule: Rule | None) -> Rule | None:
        if rule is not None:
            storable_json(rule_json(rule))  # a NUL anywhere in it: PostgreSQL cannot store it
        return rule


@router.post("/metrics", status_code=201)
def create_metric(body: MetricCreate, ol: PlatformDep) -> dict:
    rule = None if body.rule is None else rule_json(body.rule)
    try:
        row = ol.metrics.create(body.name, body.prompt, body.display_name, rule)
    except DuplicateName as error:
        raise ApiError(409, str(error), code="duplicate_name") from None
    return metric_json(row)


@router.get("/metrics")
def list_metrics(
    ol: PlatformDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    starting_after: Text | None = None,
) -> dict:
    page = ol.metrics.list(PageRequest(limit=limit, starting_after=starting_after))
    data = [metric_json(row) for row in page.rows]
    return {"data": data, "has_more": page.has_more, "next_page": page.next_page}


def _filter(
    agent_id: Text | None = None,
    call_id: Text | None = None,
    deployment_id: Text | None = None,
    metric_id: Text | None = None,
    start_date: UtcTime | None = None,
    end_date: UtcTime | None = None,
) -> ResultFilter:
    if start_date and end_date and start_date > end_date:
        raise ApiError(422, "start_date is after end_date")
    return ResultFilter(agent_id, call_id, deployment_id, metric_id, start_date, end_date)


ResultQuery = Annotated[ResultFilter, Depends(_filter)]


# Before /metrics/{metric_id}, which would take "results" for an id.
@router.get("/metrics/results")
def list_results(
    ol: PlatformDep,
    where: ResultQuery,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    starting_after: Text | None = None,
    ending_before: Text | None = None,
) -> dict:
    """Judged results, newest first (pending ones are not shown)."""
    if starting_after and ending_before:
        raise ApiError(422, "give starting_after or ending_before, not both")
    page = ol.metric_results.list(
        where, PageRequest(limit=limit, starting_after=starting_after, ending_before=ending_before)
    )
    data = [result_json(row, row["summary"]) for row in page.rows]
    return {"data": data, "has_more": page.has_more, "next_page": page.next_page}


@router.get(
    "/metrics/results/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "the results as CSV"}},
)
def export_results(ol: PlatformDep, where: ResultQuery) -> StreamingResponse:
    """Every matching result as CSV, newest first, streamed as it is read."""
    return StreamingResponse(
        _csv(ol.metric_results.export(where)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="metric-results.csv"'},
    )


@router.get("/metrics/{metric_id}")
def get_metric(metric_id: Text, ol: PlatformDep) -> dict:
    row = ol.metrics.get(metric_id)
    if row is None:
        raise not_found("metric", metric_id)
    return metric_json(row)


@router.get("/{agent_id}/metrics")
def agent_metrics(agent_id: Text, ol: PlatformDep) -> dict:
    """openline: the metrics attached to an agent, by name."""
    _agent(ol, agent_id)
    return {"data": [metric_json(row) for row in ol.metrics.of_agent(agent_id)]}


@router.post("/{agent_id}/metrics/{metric_id}", status_code=204)
def add_to_agent(agent_id: Text, metric_id: Text, ol: PlatformDep) -> Response:
    """Evaluate the metric after each of the agent's calls (from its next analysis on)."""
    _agent(ol, agent_id)
    if ol.metrics.get(metric_id) is None:
        raise not_found("metric", metric_id)
    ol.metrics.attach(agent_id, metric_id)
    return Response(status_code=204)


@router.delete("/{agent_id}/metrics/{metric_id}", status_code=204)
def remove_from_agent(agent_id: Text, metric_id: Text, ol: PlatformDep) -> Response:
    _agent(ol, agent_id)
    if not ol.metrics.detach(agent_id, metric_id):
        raise ApiError(404, f"metric {metric_id} is not attached to agent {agent_id}", "not_found")
    return Response(status_code=204)


def _agent(ol: Platform, agent_id: str) -> None:
    if ol.agents.get(agent_id) is None:
        raise not_found("agent", agent_id)


def _csv(rows: Iterator[dict]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)

    def flush() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    writer.writerow(EXPORT_COLUMNS)
    yield flush()
    for count, row in enumerate(rows, 1):
        shaped = result_json(row, row["summary"])
        writer.writerow([_cell(shaped[name]) for name in EXPORT_COLUMNS])
        if count % 200 == 0:
            yield flush()
    yield flush()


def _cell(value: Any) -> str:
    """A structured result as JSON, any other value as the result's text."""
    return json.dumps(value) if isinstance(value, dict | list) else result_text(value)
