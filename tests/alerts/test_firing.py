"""A failure-rate rule on a real server with a real agent: crashing calls make it fire at
the first evaluation that sees them, good calls resolve it, and each transition reaches
a webhook receiver, a Slack-compatible one and a real SMTP server, once each."""

from __future__ import annotations

import pytest

from tests.support.calls import TextCall, ended
from tests.support.waiting import eventually

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
RULE = {
    "name": "failing calls",
    "measure": {"type": "failure_rate"},
    "comparison": ">",
    "threshold": 0.5,
    "window": "10m",
    "min_calls": 3,
}


async def crash(server, agent_id: str) -> str:
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    await call.say("crash")
    await call.closed()
    return call.call_id


async def good(server, agent_id: str) -> str:
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    await call.say("hello")
    await call.reply()
    await call.hang_up()
    return call.call_id


def alert(server, rule_id: str) -> dict:
    with server.client() as http:
        return http.get(f"/agents/alerts/{rule_id}").json()


def history(server, rule_id: str) -> list[dict]:
    with server.client() as http:
        return http.get(f"/agents/alerts/{rule_id}/history").json()["data"]


@SQLITE
async def test_crashing_calls_fire_the_rule_and_good_calls_resolve_it(
    alerting, agent_url, receiver, smtp
):
    server, (_, mailbox) = alerting, smtp
    agent_id = server.create_agent("Flaky", self_hosted_deployment_url=agent_url)
    with server.client() as http:
        hook = http.post(
            "/agents/webhooks", json={"url": receiver.url, "secret": receiver.receiver.secret}
        ).json()
        targets = [
            {"webhook_id": hook["id"]},
            {"slack_url": receiver.url.replace("/hooks", "/slack")},
            {"email": "oncall@example.com"},
        ]
        rule = http.post(
            "/agents/alerts", json=RULE | {"scope": {"agent_id": agent_id}, "targets": targets}
        ).json()

    crashed = [await crash(server, agent_id) for _ in range(3)]
    for call_id in crashed:
        assert (await ended(server, call_id))["status"] == "failed"
    fired = await eventually(lambda: alert(server, rule["id"])["state"] == "firing" or None, 15)
    assert fired
    shown = alert(server, rule["id"])
    assert (shown["value"], shown["calls"]) == (1.0, 3)
    [firing] = history(server, rule["id"])
    assert (firing["from_state"], firing["to_state"], firing["value"]) == ("ok", "firing", 1.0)
    assert sorted(firing["example_call_ids"]) == sorted(crashed)
    with server.client() as http:
        samples = http.get(f"/agents/alerts/{rule['id']}/samples").json()["data"]
    # It fired at the first evaluation that saw the three calls, not one later.
    first_seen = next(sample for sample in samples if sample["calls"] >= 3)
    assert first_seen["at"] == firing["at"]

    for _ in range(4):
        await ended(server, await good(server, agent_id))  # 3 failed of 7: 0.43
    await eventually(lambda: alert(server, rule["id"])["state"] == "resolved" or None, 15)
    resolved, _ = history(server, rule["id"])
    assert (resolved["to_state"], resolved["calls"]) == ("resolved", 7)
    assert resolved["value"] == pytest.approx(3 / 7)

    def all_told() -> bool:
        alerts = [e for e in receiver.receiver.events if e["type"].startswith("alert_")]
        return len(alerts) == 2 and len(receiver.receiver.chat) == 2 and len(mailbox.messages) == 2

    await eventually(lambda: all_told() or None, 15)
    told = [e for e in receiver.receiver.events if e["type"].startswith("alert_")]
    assert [e["type"] for e in told] == ["alert_firing", "alert_resolved"]
    body = told[0]["alert"]
    assert (body["rule_id"], body["state"], body["value"], body["threshold"]) == (
        rule["id"], "firing", 1.0, 0.5
    )  # fmt: skip
    assert (body["window"], body["window_s"], body["calls"], body["test"]) == ("10m", 600, 3, False)
    assert body["scope"]["agent_id"] == agent_id and sorted(body["example_call_ids"]) == sorted(
        crashed
    )
    assert body["console_url"] == f"{server.base_url}/console/alerts/{rule['id']}"
    assert told[1]["alert"]["started_at"] == body["started_at"] == firing["at"]
    assert told[1]["alert"]["resolved_at"] == resolved["at"]
    assert receiver.receiver.chat[0]["text"].startswith("🔥 FIRING failing calls")
    assert "failure rate > 0.5 over 10m: now 1 (3 calls" in receiver.receiver.chat[0]["text"]
    assert receiver.receiver.chat[1]["text"].startswith("✅ RESOLVED failing calls")
    subjects = [m["Subject"] for m in mailbox.messages]
    assert subjects == ["[openline] FIRING failing calls", "[openline] RESOLVED failing calls"]
    assert mailbox.messages[0]["X-Envelope-To"] == "oncall@example.com"
    assert body["console_url"] in mailbox.messages[0].get_payload()


@SQLITE
async def test_a_receiver_down_for_the_firing_gets_it_once_it_is_back(alerting, receiver, smtp):
    server, (_, mailbox) = alerting, smtp
    receiver.receiver.fail_with = 503
    mailbox.refuse = True
    with server.client() as http:
        hook = http.post(
            "/agents/webhooks", json={"url": receiver.url, "secret": receiver.receiver.secret}
        ).json()
        always = RULE | {"measure": {"type": "call_count"}, "comparison": ">=", "threshold": 0}
        targets = [{"webhook_id": hook["id"]}, {"email": "oncall@example.com"}]
        rule = http.post("/agents/alerts", json=always | {"targets": targets}).json()
    await eventually(lambda: alert(server, rule["id"])["state"] == "firing" or None, 10)

    def attempts() -> list[dict]:
        with server.client() as http:
            return http.get(f"/agents/webhooks/{hook['id']}/deliveries").json()["data"]

    await eventually(lambda: sum(len(d["attempts"]) for d in attempts()) >= 3 or None, 15)
    assert receiver.receiver.events == [] and mailbox.messages == []
    receiver.receiver.fail_with, mailbox.refuse = None, False
    await eventually(lambda: (receiver.receiver.events and mailbox.messages) or None, 20)
    [delivery] = attempts()
    assert delivery["status"] == "delivered" and len(delivery["attempts"]) >= 3
    assert [e["type"] for e in receiver.receiver.events] == ["alert_firing"]
    assert len(mailbox.messages) == 1
    assert len(history(server, rule["id"])) == 1  # one transition, delivered once
