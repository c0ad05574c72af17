"""Every event of a call reaches a real receiver once, in order, with the contract's fields."""

from __future__ import annotations

from sqlalchemy import select

from openline.domain.webhook_events import ENVELOPE_KEYS
from openline.store.db import make_engine
from openline.store.schema import webhook_deliveries as d
from tests.support.calls import TextCall, first_text
from tests.webhooks.helpers import SECRET, STANDARD, hook_agent, standard_call, wait_for

CARD = "4242-QUOKKA-VELVET"


async def test_call_lifecycle_events_arrive_once_in_order(server, agent_url, receiver):
    webhook, agent = hook_agent(server, receiver.url, agent_url)
    assert webhook["secret"] == SECRET  # shown on create, and only then
    with server.client() as http:
        assert "secret" not in http.get(f"/agents/webhooks/{webhook['id']}").json()
    call_id = await standard_call(server, agent["id"])

    events = receiver.receiver
    await wait_for(lambda: any(e["type"] == "post_call_analysis" for e in events.of_call(call_id)))
    got = events.of_call(call_id)
    assert [e["type"] for e in got] == STANDARD
    for event in got:
        assert set(event) >= {"type", "call_id", "agent_id", "webhook_id", "timestamp"}
        assert event["agent_id"] == agent["id"] and event["webhook_id"] == webhook["id"]
        assert event["timestamp"].endswith("Z")
    started = got[0]["call"]
    assert started["status"] == "started" and "end_time" not in started
    turns = [e["turn"] for e in got if e["type"] == "call_turn"]
    assert [(t["role"], t["text"]) for t in turns] == [
        ("assistant", f"Hello from {agent['id']}"),
        ("user", "tool K1"),
        ("assistant", "Order K1 has shipped."),
        ("user", "bye"),
        ("assistant", "Goodbye!"),
    ]
    assert turns[2]["tool_calls"][0]["name"] == "lookup_order"
    # an answer's wait for the agent rides on its call_turn; the greeting answers nobody
    assert "latency" not in turns[0]
    for line, answer in ((turns[1], turns[2]), (turns[3], turns[4])):
        # to the millisecond: a scripted answer over loopback can come in less
        assert answer["latency"] == answer["latency_parts"]["agent"] >= 0
        assert answer["latency"] == round(first_text(answer) - line["end_timestamp"], 3)
    assert all(t["end_timestamp"] >= t["start_timestamp"] for t in turns)
    completed = got[6]
    assert completed["call"]["status"] == "completed"
    assert completed["call"]["end_reason"] == completed["end_reason"] == "agent_hangup"
    assert completed["body"] == completed["call"]["transcript"]
    assert len(completed["call"]["transcript"]) >= 5
    summary = got[7]["analysis"]["summary"]
    assert "tool K1" in summary and "lookup_order" in summary
    with server.client() as http:
        assert http.get(f"/agents/calls/{call_id}").json()["summary"] == summary
    assert len(events.seen_ids) == len(set(events.seen_ids))  # nothing sent twice
    assert events.refused == []


async def test_failed_call_sends_call_failed(server, agent_url, receiver):
    _, agent = hook_agent(server, receiver.url, agent_url)
    call = await TextCall.open(server.ws_url, agent["id"], server.api_key)
    await call.reply()
    await call.say("crash")
    await call.closed()
    await wait_for(lambda: len(receiver.receiver.of_call(call.call_id)) >= 5)
    got = receiver.receiver.of_call(call.call_id)
    failed = next(e for e in got if e["type"] == "call_failed")
    assert failed["call"]["status"] == "failed" and failed["end_reason"] == "error"
    assert "closed unexpectedly" in failed["call"]["error_message"]
    assert [e["type"] for e in got][-1] == "post_call_analysis"


async def test_redaction_scrubs_stored_webhook_payloads(server, agent_url, receiver):
    _, agent = hook_agent(server, receiver.url, agent_url)
    call = await TextCall.open(server.ws_url, agent["id"], server.api_key)
    await call.reply()
    await call.say(f"my card is {CARD}")
    await call.reply()
    await call.say("bye")
    await call.closed()
    await wait_for(
        lambda: any(
            e["type"] == "post_call_analysis" for e in receiver.receiver.of_call(call.call_id)
        )
    )
    with server.client() as http:
        assert http.delete(f"/agents/calls/{call.call_id}").status_code == 200
    engine = make_engine(server.settings.sqlalchemy_url)
    with engine.connect() as connection:
        payloads = (
            connection.execute(select(d.c.payload).where(d.c.call_id == call.call_id))
            .scalars()
            .all()
        )
    engine.dispose()
    assert len(payloads) >= 6
    # Only the envelope is left; its timestamp's microseconds could hold any digits, hence
    # a secret made of letters.
    assert [p for p in payloads if set(p) != {*ENVELOPE_KEYS, "redacted"}] == []
    assert [p for p in payloads if p["redacted"] is not True or CARD in str(p)] == []
