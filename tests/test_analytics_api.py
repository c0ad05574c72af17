"""``GET /agents/analytics`` on real servers and real calls, on both databases, and across
two openline processes sharing one PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from openline.api.analytics import AnalyticsReport
from tests.conftest import TEST_KEY
from tests.support.calls import TextCall
from tests.test_scale_out import two_processes

HEADERS = {"Authorization": f"Bearer {TEST_KEY}"}


async def scored_call(base_url: str, agent_id: str, score: int, campaign: str) -> str:
    """A call that logs ``score``, looks an order up and is hung up by the agent."""
    call = await TextCall.open(
        "ws" + base_url[4:], agent_id, TEST_KEY, metadata={"campaign": campaign}
    )
    await call.reply()  # the greeting
    await call.say(f"score {score}")
    await call.reply()
    await call.say("tool Q1")
    await call.reply()
    await call.say("bye")
    await call.closed()
    return call.call_id


async def crashed_call(base_url: str, agent_id: str) -> str:
    call = await TextCall.open("ws" + base_url[4:], agent_id, TEST_KEY)
    await call.reply()
    await call.say("crash")
    await call.closed()
    return call.call_id


def analytics(base_url: str, **params) -> dict:
    reply = httpx.get(f"{base_url}/agents/analytics", headers=HEADERS, params=params, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def wait_for_calls(base_url: str, count: int, **params) -> dict:
    """Tallies are made once a call's last facts are in (a few seconds after its end)."""
    deadline = time.monotonic() + 30
    while True:
        found = analytics(base_url, **params)
        if found["totals"]["calls"]["count"] >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


async def test_analytics_count_real_calls_exactly(server, agent_id):
    base = server.base_url
    for score in (1, 2, 3, 4):
        await scored_call(base, agent_id, score, "spring" if score % 2 else "autumn")
    await crashed_call(base, agent_id)
    found = wait_for_calls(base, 5, agent_id=agent_id)
    AnalyticsReport.model_validate(found)  # the documented shape, exactly
    totals = found["totals"]
    assert totals["calls"] == {
        "count": 5,
        "completed": 4,
        "failed": 1,
        "end_reasons": {"agent_hangup": 4, "error": 1},
    }
    assert totals["metrics"]["score"] == {
        "count": 4, "mean": 2.5, "min": 1.0, "max": 4.0, "p50": pytest.approx(2, rel=0.01),
        "p95": pytest.approx(4, rel=0.01),
    }  # fmt: skip
    assert totals["metrics"]["system_call_success"]["values"] == {"true": 4, "false": 1}
    assert totals["events"]["scored"] == {"count": 4, "levels": {"info": 4}}
    assert totals["events"]["order_processed"]["count"] == 4
    assert totals["tool_calls"]["lookup_order"]["count"] == 4
    # every line the caller typed was answered: score, tool, bye (x4) and crash's none
    assert totals["latency_s"]["response"]["count"] >= 12
    assert totals["duration_s"]["sum"] > 0
    assert found["filters"] == {
        "agent_id": agent_id, "deployment_id": None, "metadata": {}, "include_test_runs": False,
    }  # fmt: skip
    assert sum(entry["calls"]["count"] for entry in found["series"]) == 5

    spring = analytics(base, agent_id=agent_id, metadata="campaign:spring")
    assert spring["totals"]["calls"]["count"] == 2
    assert spring["totals"]["metrics"]["score"]["mean"] == 2.0
    grouped = analytics(base, group_by="agent_id", bucket="minute")
    assert grouped["groups"][0]["agent_id"] == agent_id
    assert grouped["groups"][0]["calls"]["count"] == 5
    assert analytics(base, agent_id="agent_nobody")["totals"]["calls"]["count"] == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"bucket": "week"}, "bucket"),
        ({"group_by": "status"}, "group_by"),
        ({"metadata": "nocolon"}, "key:value"),
        ({"start": "2026-12-02T10:00:00Z", "end": "2026-12-01T10:00:00Z"}, "before end"),
        ({"start": "2026-01-01T00:00Z", "end": "2026-12-01T00:00Z", "bucket": "minute"}, "coarser"),
        ({"start": "yesterday"}, "start"),
    ],
)  # fmt: skip
def test_bad_analytics_queries_are_refused_with_a_clear_message(server, params, message):
    reply = httpx.get(f"{server.base_url}/agents/analytics", headers=HEADERS, params=params)
    assert reply.status_code == 422
    assert message in reply.json()["error"]["message"]


def test_the_openapi_document_describes_the_reply(server):
    document = httpx.get(f"{server.base_url}/openapi.json").json()
    operation = document["paths"]["/agents/analytics"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AnalyticsReport"
    }
    totals = document["components"]["schemas"]["Totals"]["properties"]
    assert set(totals) == {
        "calls", "duration_s", "turns", "tool_calls", "latency_s", "metrics", "events",
        "evaluations", "conversation",
    }  # fmt: skip


async def test_two_processes_on_one_postgresql_count_each_call_once(pg_url, agent_url, tmp_path):
    with two_processes(pg_url, tmp_path, agent_url) as (server_a, server_b, agent_id):
        calls = [
            scored_call(base, agent_id, score, "x")
            for score in range(1, 9)
            for base in ((server_a, server_b)[score % 2],)
        ]
        await asyncio.gather(*calls)
        from_a = wait_for_calls(server_a, 8, agent_id=agent_id)
        from_b = analytics(server_b, agent_id=agent_id)
        for found in (from_a, from_b):
            assert found["totals"]["calls"]["count"] == 8
            score = found["totals"]["metrics"]["score"]
            assert (score["count"], score["min"], score["max"], score["mean"]) == (8, 1, 8, 4.5)
