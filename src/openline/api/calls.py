"""``/agents/calls``: list, read, redact and live-tail calls (docs/api.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from openline.api import _sse as sse
from openline.api import peaks
from openline.api._blob_response import blob_response
from openline.api._params import Cursor, Text, UtcTime
from openline.api.deps import PlatformDep, authenticated
from openline.api.errors import ApiError, not_found
from openline.domain.calls import (
    FACT_TYPES,
    TRANSCRIPT_KINDS,
    CallStatus,
    EndReason,
    Fact,
    FactKind,
)
from openline.domain.log_levels import LogLevel, at_least
from openline.domain.shapes import call_json, log_record_json, tail_json
from openline.platform import Platform
from openline.store.blobs import recording_key
from openline.store.calls import CallFilter
from openline.store.pagination import PageRequest

router = APIRouter(prefix="/agents/calls", dependencies=[Depends(authenticated)], tags=["calls"])


@router.get("")
def list_calls(
    ol: PlatformDep,
    agent_id: Text | None = None,
    status: CallStatus | None = None,
    end_reason: EndReason | None = None,
    start_time_after: UtcTime | None = None,
    start_time_before: UtcTime | None = None,
    metric: Annotated[Text | None, Query(description="calls that logged this metric")] = None,
    metric_min: Annotated[float | None, Query(allow_inf_nan=False)] = None,
    metric_max: Annotated[float | None, Query(allow_inf_nan=False)] = None,
    metric_value: Annotated[Text | None, Query(description="a non-numeric value")] = None,
    expand: Annotated[list[Literal["transcript"]] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    starting_after: Text | None = None,
    ending_before: Text | None = None,
) -> dict:
    if starting_after and ending_before:
        raise ApiError(422, "give starting_after or ending_before, not both")
    bounded = (metric_min, metric_max, metric_value) != (None, None, None)
    if bounded and not metric:
        raise ApiError(422, "metric_min, metric_max and metric_value need metric")
    page = ol.calls.list(
        CallFilter(
            agent_id=agent_id,
            status=status and status.value,
            end_reason=end_reason and end_reason.value,
            started_after=start_time_after,
            started_before=start_time_before,
            metric=metric,
            metric_min=metric_min,
            metric_max=metric_max,
            metric_value=metric_value,
        ),
        PageRequest(limit=limit, starting_after=starting_after, ending_before=ending_before),
    )
    facts = None
    if expand and "transcript" in expand:
        facts = ol.calls.facts([row["id"] for row in page.rows], TRANSCRIPT_KINDS)
    data = [call_json(row, None if facts is None else facts[row["id"]]) for row in page.rows]
    return {"data": data, "has_more": page.has_more, "next_page": page.next_page}


@router.get("/{call_id}")
def get_call(call_id: Text, ol: PlatformDep) -> dict:
    call, facts = ol.calls.with_facts(call_id, TRANSCRIPT_KINDS)
    if call is None:
        raise not_found("call", call_id)
    return call_json(call, facts)


@router.delete("/{call_id}")
def redact_call(call_id: Text, ol: PlatformDep) -> dict:
    call = ol.calls.get(call_id)
    if call is None:
        raise not_found("call", call_id)
    if call["status"] == CallStatus.STARTED.value:
        raise ApiError(409, "the call is still in progress; redact it once it has ended")
    # The recording goes first: if that fails, the call is left as it was, to try again,
    # rather than marked redacted with its audio still stored.
    try:
        peaks.cache_path(ol, call_id).unlink(missing_ok=True)  # derived: safe to lose first
        ol.blobs.delete(recording_key(call_id))
    except Exception as error:  # noqa: BLE001 - whatever the storage hit, report it
        raise ApiError(
            502, f"could not delete the recording ({error}); nothing was redacted, try again"
        ) from None
    redacted = ol.calls.redact(call_id)
    assert redacted is not None  # calls are never deleted: it is the one found above
    return call_json(redacted, [])


_WAV = {"content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}}}


@router.get(
    "/{call_id}/audio",
    response_class=Response,
    responses={200: _WAV, 206: _WAV | {"description": "The requested byte range"}},
)
def call_audio(call_id: Text, request: Request, ol: PlatformDep) -> Response:
    """The call's recording: a stereo WAV (caller left, agent right); ``Range`` supported."""
    call = ol.calls.get(call_id)
    if call is None:
        raise not_found("call", call_id)
    # While the call runs its file grows under the reader; it is served once complete.
    if call["status"] == CallStatus.STARTED.value:
        raise ApiError(404, f"call {call_id!r} is in progress: its recording is ready when it ends")
    found = blob_response(ol.blobs, recording_key(call_id), request, "audio/wav", f"{call_id}.wav")
    if found is None:
        raise ApiError(404, f"call {call_id!r} has no recording")
    return found


@router.post("/{call_id}/analyze")
async def analyze_call(call_id: Text, ol: PlatformDep) -> dict:
    """Run post-call analysis again now; the summary is stored and announced by webhook."""
    if await asyncio.to_thread(ol.calls.get, call_id) is None:
        raise not_found("call", call_id)
    try:
        summary = await ol.analysis.analyze(call_id)
    except Exception as error:  # noqa: BLE001 - whatever the summarizer hit, report it
        raise ApiError(502, f"analysis failed: {error}", code="analysis_failed") from None
    return {"call_id": call_id, "summary": summary}


@router.get("/{call_id}/logs")
def call_logs(
    call_id: Text,
    ol: PlatformDep,
    level: LogLevel | None = None,
    q: Annotated[Text | None, Query(max_length=200)] = None,
    after: Annotated[Cursor, Query(description="seq of the last line already seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    """Log lines from the agent's code during this call, oldest first; ``level`` is a
    minimum severity."""
    if ol.calls.get(call_id) is None:
        raise not_found("call", call_id)
    lines, has_more = ol.calls.logs(call_id, at_least(level), q, after, limit)
    data = [log_record_json(line) for line in lines]
    return {"data": data, "has_more": has_more, "next_page": data[-1]["seq"] if has_more else None}


@router.get(
    "/{call_id}/stream",
    response_class=sse.EventStream,
    responses=sse.documented("fact", "caught_up", "end"),
)
async def tail_call(
    call_id: Text,
    request: Request,
    ol: PlatformDep,
    since_rev: Annotated[Cursor, Query(ge=-1, description="-1: from the start")] = -1,
    kinds: Annotated[list[FactKind] | None, Query()] = None,
) -> sse.EventStream:
    """Server-sent events: every fact of the call as it is recorded (or only facts of
    the given ``kinds``), in its public JSON with ``kind``, ``seq`` and ``rev``
    (``shapes.tail_json``), each batch followed by ``caught_up`` (``{"rev"}``: the facts
    sent so far are the call as of that change), then ``end``."""
    if await asyncio.to_thread(ol.calls.get, call_id) is None:
        raise not_found("call", call_id)
    wanted = tuple(FACT_TYPES[kind] for kind in kinds or FactKind)
    return sse.EventStream(
        _tail(ol, call_id, since_rev, wanted, request),
        headers=sse.HEADERS,
    )


async def _tail(
    ol: Platform, call_id: str, since_rev: int, kinds: tuple[type[Fact], ...], request: Request
) -> AsyncIterator[str]:
    changed = ol.feed.subscribe(call_id)
    try:
        while True:
            changed.clear()
            call, facts = await asyncio.to_thread(ol.calls.with_facts, call_id, kinds, since_rev)
            for fact in facts:  # in seq (creation) order
                since_rev = max(since_rev, fact.rev)
                yield sse.event("fact", tail_json(fact))
            yield sse.event("caught_up", {"rev": since_rev})
            if call is None or call["status"] != CallStatus.STARTED.value:
                yield sse.event("end", call_json(call) if call else {"id": call_id})
                return
            beat = await sse.next_change(changed, request)
            if beat is None:
                return
            if beat:
                yield beat
    finally:
        ol.feed.unsubscribe(call_id, changed)
