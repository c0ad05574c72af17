"""``GET /agents/analytics``: calls, latency, metrics, events and evaluation pass rates
across calls (docs/analytics.md), read from the rollups, never from the facts."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from openline.api._params import Text, UtcTime
from openline.api.deps import PlatformDep, authenticated
from openline.api.errors import ApiError
from openline.domain.analytics import MAX_BUCKETS, AnalyticsFilter, GroupBy, default_grain, report
from openline.domain.buckets import STEP, Grain
from openline.domain.time import utcnow

router = APIRouter(
    prefix="/agents/analytics", dependencies=[Depends(authenticated)], tags=["analytics"]
)

DEFAULT_SPAN = timedelta(hours=24)


# -- the reply's shape, for the OpenAPI document ------------------------------------------


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallCounts(_Shape):
    count: int
    completed: int
    failed: int
    end_reasons: dict[str, int]


class Duration(_Shape):
    sum: float
    mean: float | None
    p50: float | None
    p95: float | None


class TurnCounts(_Shape):
    count: int
    interrupted: int


class ToolCounts(_Shape):
    count: int
    errors: int


class Latency(_Shape):
    count: int
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None


class NumericMetric(_Shape):
    count: int
    mean: float | None
    min: float | None
    max: float | None
    p50: float | None
    p95: float | None


class ValueMetric(_Shape):
    count: int
    values: dict[str, int]  # the 20 most frequent, the rest as "other"


class EventCounts(_Shape):
    count: int
    levels: dict[str, int]


class Evaluation(_Shape):
    """One evaluation metric's final results over the calls (docs/evaluations.md)."""

    judged: int  # every final result: passed + failed + errored + without a verdict
    passed: int
    failed: int  # completed, passed false
    errored: int  # status failed (no judge, timeout, unparseable answer, …)
    pass_rate: float | None  # passed / (passed + failed); null when both are 0


class Interruptions(_Shape):
    by_caller: int  # agent turns the caller cut off
    by_agent: int  # agent turns begun while the caller was speaking


class ConversationStat(_Shape):
    count: int
    mean: float | None
    p50: float | None
    p95: float | None


class Conversation(_Shape):
    """The calls' conversation stats (docs/api.md, a call's ``conversation``)."""

    interruptions: Interruptions
    overlaps: int
    caller_talk_s: ConversationStat
    agent_talk_s: ConversationStat
    overlap_s: ConversationStat
    longest_silence_s: ConversationStat
    time_to_first_agent_audio_s: ConversationStat


class Totals(_Shape):
    """``T``: what analytics counts of a set of calls (quantiles within 1 %)."""

    calls: CallCounts
    duration_s: Duration
    turns: TurnCounts
    tool_calls: dict[str, ToolCounts]
    latency_s: dict[str, Latency]  # response, tts_ttfb, stt_ttfb
    metrics: dict[str, NumericMetric | ValueMetric]
    events: dict[str, EventCounts]
    evaluations: dict[str, Evaluation]  # per evaluation metric name
    conversation: Conversation


class SeriesEntry(Totals):
    start: str
    end: str


class GroupEntry(Totals):
    model_config = ConfigDict(extra="allow")  # plus deployment_id or agent_id


class Filters(_Shape):
    agent_id: str | None
    deployment_id: str | None
    metadata: dict[str, str]
    include_test_runs: bool


class AnalyticsReport(_Shape):
    start: str
    end: str
    bucket: Grain
    group_by: GroupBy | None
    filters: Filters
    totals: Totals
    series: list[SeriesEntry]
    groups: list[GroupEntry]


# -- the route --------------------------------------------------------------------------


# The reply is built as plain JSON (a large series is cheaper so); the model documents it
# and the tests hold the reply to it.
@router.get(
    "",
    response_model=None,
    responses={200: {"model": AnalyticsReport, "description": "Totals, series and groups"}},
)
async def analytics(
    ol: PlatformDep,
    start: UtcTime | None = None,
    end: UtcTime | None = None,
    agent_id: Text | None = None,
    deployment_id: Text | None = None,
    metadata: Annotated[list[Text] | None, Query(description="key:value, repeatable")] = None,
    group_by: GroupBy | None = None,
    bucket: Grain | None = None,
    include_test_runs: Annotated[
        bool,
        Query(
            description="Count test runs' calls (metadata.test_run) too; "
            "a metadata filter on test_run includes them anyway"
        ),
    ] = False,
) -> dict:
    end = end or utcnow()
    start = start or end - DEFAULT_SPAN
    if start >= end:
        raise ApiError(422, "start must be before end")
    grain = bucket or default_grain(start, end)
    if (end - start) / STEP[grain] > MAX_BUCKETS:
        raise ApiError(
            422,
            f"{grain} buckets over this range are more than {MAX_BUCKETS}: use a coarser bucket",
        )
    pairs = tuple(_pair(text) for text in metadata or ())
    where = AnalyticsFilter(agent_id, deployment_id, pairs, include_test_runs)

    def answer() -> dict:  # reading and merging the tallies: a thread's job
        series = ol.analytics.series(start, end, grain, where, group_by)
        return report(start, end, grain, where, group_by, series)

    return await asyncio.to_thread(answer)


def _pair(text: str) -> tuple[str, str]:
    key, colon, value = text.partition(":")
    if not colon or not key:
        raise ApiError(422, f"metadata: {text!r} is not key:value")
    return key, value
