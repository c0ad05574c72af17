"""The store queries behind the console's pages, on SQLite and PostgreSQL (no browser)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from openline import ids
from openline.console import views
from openline.console.routes import _calls
from openline.domain.calls import TRANSCRIPT_KINDS, LogEvent, LogMetric, Role, ToolCall, Turn
from openline.store import schema
from openline.store.calls import CallFilter
from openline.store.facts import TABLE_OF, to_row
from openline.store.pagination import PageRequest
from tests.console.conftest import signed_in_client
from tests.support.timeline_call import seed_call

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_call(platform, agent_id: str, minute: int, status: str = "completed", facts=()):
    at = START + timedelta(minutes=minute)
    call_id = ids.new_id(ids.CALL, int(at.timestamp() * 1000))
    platform.calls.create(
        {
            "id": call_id,
            "agent_id": agent_id,
            "agent_name": "Q",
            "deployment_id": "dep_q" if minute == 3 else None,
            "status": status,
            "start_time": at,
            "end_time": None if status == "started" else at + timedelta(seconds=20),
            "end_reason": {"completed": "client_hangup", "failed": "error"}.get(status),
            "rev": 0,
        }
    )
    rows = [fact(call_id, seq) for seq, fact in enumerate(facts, start=1)]
    with platform.engine.begin() as connection:
        for row in rows:
            connection.execute(TABLE_OF[type(row)].insert(), to_row(row))
    return call_id


def test_search_stats_and_transcript_rows(server):
    ol = server.platform
    agent = ol.agents.create(name="Q")["id"]
    other = ol.agents.create(name="R")["id"]
    said = make_call(
        ol,
        agent,
        1,
        facts=[
            lambda c, s: Turn(c, s, s, 0.5, Role.USER, "Where is 50% of ORDER_7?"),
            lambda c, s: Turn(c, s, s, 1.0, Role.ASSISTANT, "Shipped <today>", 1.2),
            lambda c, s: ToolCall(c, s, s, 1.1, "lookup", {"id": "7", "n": [1, 2]}, None, 2, "ok"),
            lambda c, s: LogEvent(c, s, s, 0.9, "order_processed", {"k": "é"}, "info", "done"),
            lambda c, s: LogMetric(c, s, s, 1.3, "score", "high"),
            lambda c, s: LogMetric(c, s, s, 1.4, "latency", {"p50": 12.5}),
        ],
    )
    failed = make_call(ol, agent, 2, "failed")
    on_dep = make_call(ol, other, 3)
    live = make_call(ol, other, 4, "started")

    def found(**where) -> list[str]:
        page = ol.calls.list(CallFilter(**where), PageRequest(10))
        return [row["id"] for row in page.rows]

    assert found() == [live, on_dep, failed, said]  # newest first
    assert found(text="order_7") == [said]  # case-insensitive
    assert found(text="50%") == [said] and found(text="5_%") == []  # LIKE characters literal
    assert found(name="order_processed") == [said] and found(name="latency") == [said]
    assert found(name="order") == []  # exact names
    assert found(status="failed") == [failed] and found(end_reason="error") == [failed]
    assert found(agent_id=other) == [live, on_dep] and found(deployment_id="dep_q") == [on_dep]
    assert found(started_after=START + timedelta(minutes=3)) == [live, on_dep]
    assert found(started_before=START + timedelta(minutes=2)) == [said]
    page = _calls(ol, CallFilter(), PageRequest(2))
    assert page.has_more and [row["turn_count"] for row in page.rows] == [0, 0]
    assert _calls(ol, CallFilter(agent_id=agent), PageRequest(5)).rows[-1]["turn_count"] == 2
    assert ol.calls.turn_counts([said, failed]) == {said: 2}

    stats = ol.calls.agent_stats()
    assert stats[agent]["calls"] == 2 and stats[agent]["live"] == 0
    assert stats[other]["calls"] == 2 and stats[other]["live"] == 1
    assert stats[other]["last_call"] == START + timedelta(minutes=4)

    call, facts = ol.calls.with_facts(said, TRANSCRIPT_KINDS)
    assert call["id"] == said and max(fact.rev for fact in facts) == 6
    shown = views.entries(facts)
    assert [entry.key for entry in shown] == [
        "turn-1", "event-4", "turn-2", "metric-5", "metric-6",
    ]  # fmt: skip
    html = "".join(entry.html for entry in shown)
    assert "Shipped &lt;today&gt;" in html and '"id": "7"' in html  # JSON, either database
    assert 'class="value">high<' in html and '"p50": 12.5' in html and "é" in html
    _, changed = ol.calls.with_facts(said, TRANSCRIPT_KINDS, since_rev=4)
    assert [(type(fact), fact.seq) for fact in changed] == [(LogMetric, 5), (LogMetric, 6)]
    redrawn = ol.calls.turns_with_tools(said, {2})
    assert [(type(fact), fact.seq) for fact in redrawn] == [(Turn, 2), (ToolCall, 3)]
    assert ol.calls.turns_with_tools(said, set()) == []
    assert ol.calls.with_facts("call_missing") == (None, [])


def test_pages_render_on_this_database(server):
    ol = server.platform
    agent = ol.agents.create(name="Pages", self_hosted_deployment_url="http://127.0.0.1:9")["id"]
    call_id = make_call(
        ol,
        agent,
        5,
        facts=[lambda c, s: LogEvent(c, s, s, 0.2, "evt", {"a": 1}, None, None)],
    )
    with signed_in_client(server) as (client, _):
        for path in (
            "/console/agents",
            f"/console/agents/{agent}",
            "/console/calls?q=x&name=evt&status=completed",
            f"/console/calls/{call_id}",
            f"/console/calls/{call_id}?tab=logs&level=error",
            f"/console/calls/{call_id}/live?since_rev=-1&final=1",
            "/console/playground",
        ):
            reply = client.get(path)
            assert reply.status_code == 200, (path, reply.text[:500])
        assert re.search(r'id="event-1"', client.get(f"/console/calls/{call_id}").text)
        assert client.get("/console/calls/call_nope").status_code == 404
        assert client.get("/console/agents/agent_nope").status_code == 404


def test_a_live_update_sends_the_webhook_markers_only_when_they_changed(server):
    seeded = seed_call(server.platform, seconds=130.0, recorded=False)  # three deliveries
    first, *_ = seeded.deliveries
    url = f"/console/calls/{seeded.call_id}/live"
    with signed_in_client(server) as (client, _):
        markers = client.get(url).json()
        assert sorted(m["id"] for m in markers["timeline"]["webhook"]) == sorted(
            d["id"] for d in seeded.deliveries
        )
        digest = markers["webhooks_digest"]
        again = client.get(url, params={"webhooks": digest}).json()
        assert again["timeline"]["webhook"] == [] and again["webhooks_digest"] == digest
        assert again["timeline"]["turn"]  # the rest as before
        assert again["webhooks_pending"] is False  # all delivered: nothing to ask again for
        with server.platform.engine.begin() as connection:
            d = schema.webhook_deliveries
            connection.execute(
                d.update()
                .where(d.c.id == first["id"])
                .values(status="pending", last_status_code=500)
            )
        retried = client.get(url, params={"webhooks": digest}).json()
        assert retried["webhooks_pending"] is True  # a retry to come: the page asks again
        with server.platform.engine.begin() as connection:
            connection.execute(
                d.update()
                .where(d.c.id == first["id"])
                .values(status="failed", last_status_code=500)
            )
        changed = client.get(url, params={"webhooks": retried["webhooks_digest"]}).json()
    assert changed["webhooks_pending"] is False
    assert changed["webhooks_digest"] not in (digest, retried["webhooks_digest"])
    labels = {m["id"]: m["label"] for m in changed["timeline"]["webhook"]}
    assert labels[first["id"]] == "call_started: failed (HTTP 500)"
    assert len(labels) == len(seeded.deliveries)
