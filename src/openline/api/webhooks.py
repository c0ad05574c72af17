"""``/agents/webhooks``: webhook configs, their delivery log, redelivery and a test send."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from openline import ids
from openline.api._params import Text, UtcTime
from openline.api.deps import PlatformDep, authenticated
from openline.api.errors import ApiError, not_found
from openline.domain import webhook_health
from openline.domain.notifications import EMAIL, JSON, email_address
from openline.domain.time import rfc3339, utcnow
from openline.domain.webhook_events import CALL_COMPLETED, call_event
from openline.platform import Platform
from openline.store.delivery_queue import Claimed, Outcome
from openline.store.pagination import PageRequest
from openline.webhooks.targets import TargetRefused, check_url

router = APIRouter(
    prefix="/agents/webhooks", dependencies=[Depends(authenticated)], tags=["webhooks"]
)


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Text = Field(min_length=1, max_length=2048)
    secret: Text | None = Field(default=None, min_length=8, max_length=512)
    display_name: Text | None = Field(default=None, max_length=200)
    format: Literal["json", "slack", "email"] = Field(
        default="json",
        description="openline's extension: json (signed JSON events), slack (a Slack "
        "incoming webhook's {text}) or email (url mailto:address, sent over SMTP)",
    )


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Text | None = Field(default=None, min_length=1, max_length=2048)
    secret: Text | None = Field(default=None, min_length=8, max_length=512)
    display_name: Text | None = Field(default=None, max_length=200)
    enabled: bool | None = None


class RedeliverFailed(BaseModel):
    since: UtcTime | None = None


def webhook_json(webhook: dict, with_secret: bool = False) -> dict[str, Any]:
    state = webhook["state"]
    shown = {
        "id": webhook["id"],
        "url": webhook["url"],
        "format": webhook["format"],
        "display_name": webhook["display_name"],
        "enabled": webhook["disabled_at"] is None,
        "disabled_at": rfc3339(webhook["disabled_at"]),
        "disabled_reason": webhook["disabled_reason"],
        "state": state,
        "failure_streak": webhook["failure_streak"],
        "failing_since": rfc3339(webhook["failing_since"]),
        "next_probe_at": rfc3339(webhook["paused_until"])
        if state == webhook_health.PAUSED
        else None,
        "backlog": {
            "pending": webhook["pending"],
            "oldest_pending_at": rfc3339(webhook["oldest_pending_at"]),
        },
        "created_at": rfc3339(webhook["created_at"]),
        "updated_at": rfc3339(webhook["updated_at"]),
    }
    return shown | {"secret": webhook["secret"]} if with_secret else shown


def delivery_json(delivery: dict, attempts: list[dict]) -> dict[str, Any]:
    return {
        "id": delivery["id"],
        "webhook_id": delivery["webhook_id"],
        "call_id": delivery["call_id"],
        "event_type": delivery["event_type"],
        "status": delivery["status"],
        "attempts": [
            {
                "attempt": a["attempt"],
                "at": rfc3339(a["at"]),
                "status_code": a["status_code"],
                "duration_ms": a["duration_ms"],
                "response_excerpt": a["response_excerpt"],
                "error": a["error"],
            }
            for a in attempts
        ],
        "next_attempt_at": rfc3339(delivery["next_attempt_at"]),
        "created_at": rfc3339(delivery["created_at"]),
        "delivered_at": rfc3339(delivery["delivered_at"]),
        "last_status_code": delivery["last_status_code"],
        "last_error": delivery["last_error"],
    }


def checked_url(ol: Platform, url: str, format: str = JSON) -> str:
    """The url, if openline may send to it in this format; else a 422 saying why."""
    if format == EMAIL:
        if email_address(url) is None:
            raise ApiError(422, "url: an email endpoint's url is mailto:address")
        return url
    try:
        check_url(url, ol.target_policy)
    except TargetRefused as refused:
        raise ApiError(422, f"url: {refused}") from None
    return url


def _webhook(ol: Platform, webhook_id: str) -> dict:
    webhook = ol.webhooks.get(webhook_id)
    if webhook is None:
        raise not_found("webhook", webhook_id)
    return webhook


@router.post("", status_code=201)
def create_webhook(body: WebhookCreate, ol: PlatformDep) -> dict:
    """The secret is shown here, once; a generated one when none is given."""
    secret = body.secret or ids.new_secret("whsec_")
    url = checked_url(ol, body.url, body.format)
    webhook = ol.webhooks.create(url, secret, body.display_name, body.format)
    return webhook_json(webhook, with_secret=True)


@router.get("")
def list_webhooks(ol: PlatformDep) -> dict:
    data = [webhook_json(webhook) for webhook in ol.webhooks.list()]
    return {"data": data, "has_more": False, "next_page": None}


@router.get("/{webhook_id}")
def get_webhook(webhook_id: Text, ol: PlatformDep) -> dict:
    return webhook_json(_webhook(ol, webhook_id))


@router.patch("/{webhook_id}")
def update_webhook(webhook_id: Text, body: WebhookUpdate, ol: PlatformDep) -> dict:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "url" in changes:
        checked_url(ol, changes["url"], _webhook(ol, webhook_id)["format"])
    webhook = ol.webhooks.update(webhook_id, **changes)
    if webhook is None:
        raise not_found("webhook", webhook_id)
    if changes.get("enabled"):
        ol.dispatcher.wake()  # for what was held
    return webhook_json(webhook)


@router.delete("/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: Text, ol: PlatformDep) -> Response:
    if not ol.webhooks.delete(webhook_id):
        raise not_found("webhook", webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries")
def list_deliveries(
    webhook_id: Text,
    ol: PlatformDep,
    call_id: Text | None = None,
    failed: bool = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    starting_after: Text | None = None,
    ending_before: Text | None = None,
) -> dict:
    """Every delivery and each of its attempts, newest first."""
    _webhook(ol, webhook_id)
    page = ol.delivery_log.deliveries(
        webhook_id, PageRequest(limit, starting_after, ending_before), call_id, failed
    )
    attempts = ol.delivery_log.attempts([row["id"] for row in page.rows])
    data = [delivery_json(row, attempts[row["id"]]) for row in page.rows]
    return {"data": data, "has_more": page.has_more, "next_page": page.next_page}


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver")
def redeliver_one(webhook_id: Text, delivery_id: Text, ol: PlatformDep) -> dict:
    _webhook(ol, webhook_id)
    if ol.delivery_log.delivery(delivery_id) is None:
        raise not_found("delivery", delivery_id)
    if not ol.delivery_queue.redeliver(webhook_id, delivery_id=delivery_id):
        raise ApiError(409, "the delivery is already pending")
    ol.dispatcher.wake()
    return {"queued": 1}


@router.post("/{webhook_id}/redeliver")
def redeliver_failed(webhook_id: Text, body: RedeliverFailed, ol: PlatformDep) -> dict:
    """Queue every failed delivery (that failed at or after ``since``, if given) again."""
    _webhook(ol, webhook_id)
    queued = ol.delivery_queue.redeliver(webhook_id, failed_since=body.since)
    ol.dispatcher.wake()
    return {"queued": queued}


@router.post("/{webhook_id}/test")
async def send_test_event(webhook_id: Text, ol: PlatformDep) -> dict:
    """Send a sample ``call_completed`` now and report the status code and timing.

    Never what the endpoint answered: on demand, with the answer shown, a test send would
    read whatever service the URL points at. The delivery log keeps no body of it either.
    """
    webhook = await asyncio.to_thread(_webhook, ol, webhook_id)
    now = utcnow()
    sample_call: dict[str, Any] = {
        "id": "call_test",
        "agent_id": "agent_test",
        "agent_name": "Test Agent",
        "status": "completed",
        "start_time": rfc3339(now - timedelta(seconds=12)),
        "end_time": rfc3339(now),
        "end_reason": "client_hangup",
        "telephony_params": {
            "from": "websocket",
            "to": "agent_test",
            "connection_type": "websocket",
        },
        "transcript": [],
    }
    row = await asyncio.to_thread(
        ol.delivery_queue.enqueue,
        webhook_id,
        0,  # the only delivery of its (sample) call
        call_event(CALL_COMPLETED, sample_call, webhook_id),
        now + timedelta(minutes=5),  # claimed: this request sends it, not the dispatcher
    )
    claimed = Claimed(
        row["id"],
        webhook_id,
        "call_test",
        webhook["url"],
        webhook["secret"],
        row["payload"],
        0,
        format=webhook["format"],
    )
    outcome = _status_and_timing(await ol.dispatcher.attempt(claimed))
    await asyncio.to_thread(ol.delivery_queue.record, claimed, outcome)
    delivery = await asyncio.to_thread(ol.delivery_log.delivery, row["id"])
    assert delivery is not None  # recorded just now
    attempts = await asyncio.to_thread(ol.delivery_log.attempts, [row["id"]])
    return delivery_json(delivery, attempts[row["id"]])


def _status_and_timing(outcome: Outcome) -> Outcome:
    """The attempt without what the endpoint sent, tried once only (no retries).

    Transport errors can quote the reply (h11: "illegal status line: bytearray(b'-ERR …')"),
    so they keep only their name; openline's own reasons and "HTTP 500" stay whole."""
    error = outcome.error
    if error is not None and not error.startswith(("target refused:", "timed out", "HTTP ")):
        error = error.split(":", 1)[0]
    return replace(outcome, response_excerpt=None, error=error, retry_in_s=None)
