"""An endpoint that keeps failing, or answers 410 Gone, is disabled with a visible reason;
what it missed is held, and re-enabling it delivers all of it, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS
from tests.support.servers import RunningServer, openline_server
from tests.webhooks.conftest import backend_settings
from tests.webhooks.helpers import (
    FAST,
    all_arrived,
    calls_at_once,
    check_delivered_once_in_order,
    delivery_log,
    hook_agent,
    standard_call,
    wait_for,
    webhook_state,
)


@pytest.fixture(scope="module", params=BACKENDS)
def touchy_server(request, tmp_path_factory) -> Iterator[RunningServer]:
    """Disables an endpoint after 3 failed attempts in a row."""
    data_dir = tmp_path_factory.mktemp(f"touchy-{request.param}")
    with (
        backend_settings(
            request.param, data_dir, webhook_disable_after_failures=3, **FAST
        ) as settings,
        openline_server(settings) as running,
    ):
        yield running


async def quiet(receiver, settle_s: float = 0.3, watch_s: float = 0.8) -> int:
    """Once attempts already under way are done, nothing more arrives; returns the count."""
    await asyncio.sleep(settle_s)
    count = len(receiver.seen_ids)
    await asyncio.sleep(watch_s)
    assert len(receiver.seen_ids) == count, "attempts went on while the endpoint was disabled"
    return count


def enable(server, webhook_id: str) -> dict:
    with server.client() as http:
        reply = http.patch(f"/agents/webhooks/{webhook_id}", json={"enabled": True})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_a_failure_streak_disables_and_enabling_resumes(touchy_server, agent_url, receiver):
    receiver.receiver.fail_with = 500
    webhook, agent = hook_agent(touchy_server, receiver.url, agent_url)
    call_ids = await calls_at_once(touchy_server, agent["id"], 2)
    await wait_for(lambda: not webhook_state(touchy_server, webhook["id"])["enabled"])
    state = webhook_state(touchy_server, webhook["id"])
    assert state["disabled_reason"].startswith("disabled after ")
    assert state["disabled_reason"].endswith(" failed attempts in a row; last: HTTP 500")
    assert state["disabled_at"] and state["failure_streak"] >= 3
    await quiet(receiver.receiver)
    await wait_for(
        lambda: len(delivery_log(touchy_server, webhook["id"])) == 16, what="both calls analyzed"
    )
    held = delivery_log(touchy_server, webhook["id"])
    assert {d["status"] for d in held} == {"pending"}  # held, not given up

    receiver.receiver.fail_with = None
    enabled = enable(touchy_server, webhook["id"])
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None
    assert enabled["failure_streak"] == 0
    await all_arrived(touchy_server, receiver.receiver, webhook["id"], call_ids)
    check_delivered_once_in_order(touchy_server, receiver.receiver, webhook["id"], call_ids)


async def test_410_gone_disables_at_once_and_enabling_resumes(touchy_server, agent_url, receiver):
    receiver.receiver.script = [{"status": 410, "body": "gone for good"}]
    webhook, agent = hook_agent(touchy_server, receiver.url, agent_url)
    call_id = await standard_call(touchy_server, agent["id"])
    await wait_for(lambda: not webhook_state(touchy_server, webhook["id"])["enabled"])
    state = webhook_state(touchy_server, webhook["id"])
    assert state["disabled_reason"] == "the endpoint answered 410 Gone"
    assert await quiet(receiver.receiver) == 1  # the first event, answered 410; then nothing
    first = delivery_log(touchy_server, webhook["id"], call_id)[-1]
    assert first["event_type"] == "call_started" and first["status"] == "pending"
    (gone,) = first["attempts"]
    assert gone["status_code"] == 410 and gone["error"] == "410 Gone"
    assert gone["response_excerpt"] == "gone for good"

    enable(touchy_server, webhook["id"])
    await all_arrived(touchy_server, receiver.receiver, webhook["id"], [call_id])
    check_delivered_once_in_order(touchy_server, receiver.receiver, webhook["id"], [call_id])
