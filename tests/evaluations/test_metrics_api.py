"""The metrics API on real servers and real calls, on both databases: metrics made,
listed and attached; offline rule metrics judged after each call; results listed,
filtered, paged and exported as CSV."""

from __future__ import annotations

import csv
import io

import httpx

from tests.conftest import TEST_KEY
from tests.evaluations.support import analysed
from tests.support.calls import TextCall

HEADERS = {"Authorization": f"Bearer {TEST_KEY}"}

RULES = {
    "looked-up.order": {
        "type": "tool_called",
        "name": "lookup_order",
        "arguments": {"order_id": "K1"},
    },
    "said_shipped": {"type": "transcript", "role": "assistant", "pattern": r"has shipped"},
    "scored_high": {"type": "metric", "name": "score", "op": ">=", "value": 5},
    "agent-hung-up": {"type": "end_reason", "in": ["agent_hangup"]},
    "processed": {"type": "event", "name": "order_processed"},
}


def api(server) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers=HEADERS, timeout=30)


def make_metric(http: httpx.Client, name: str, rule: dict | None = None) -> dict:
    body = {"name": name, "prompt": f"Is {name} true of the call?"} | (
        {"rule": rule} if rule else {}
    )
    created = http.post("/agents/metrics", json=body)
    assert created.status_code == 201, created.text
    return created.json()


async def scored_call(server, agent_id: str, score: int, order: str) -> str:
    call = await TextCall.open(server.ws_url, agent_id, TEST_KEY)
    await call.reply()
    await call.say(f"score {score}")
    await call.reply()
    await call.say(f"tool {order}")
    await call.reply()
    await call.say("bye")
    await call.closed()
    return call.call_id


def results(http: httpx.Client, **params) -> dict:
    found = http.get("/agents/metrics/results", params=params)
    assert found.status_code == 200, found.text
    return found.json()


def test_metrics_are_made_listed_and_validated(server):
    with api(server) as http:
        made = make_metric(http, "confirmed.time_v2", None)
        assert set(made) == {"id", "name", "display_name", "prompt", "created_at"}
        assert made["id"].startswith("metric_") and made["display_name"] is None
        assert http.get(f"/agents/metrics/{made['id']}").json() == made

        duplicate = http.post("/agents/metrics", json={"name": made["name"], "prompt": "again"})
        assert duplicate.status_code == 409 and "exists already" in duplicate.text

        for name in ("Has Caps", "with space", "", "x" * 201, "emoji🙂"):
            refused = http.post("/agents/metrics", json={"name": name, "prompt": "p"})
            assert refused.status_code == 422, name
            assert "metric name" in refused.text, refused.text
        for rule, says in (
            ({"type": "vibes"}, "type"),
            (
                {"type": "transcript", "role": "assistant", "pattern": "(unclosed"},
                "regular expression",
            ),
            ({"type": "metric", "name": "score", "op": "~", "value": 1}, "op"),
            ({"type": "end_reason", "in": ["lunch_break"]}, "in"),
            ({"type": "event", "name": "x", "surprise": 1}, "surprise"),
            ({"type": "event", "name": "x", "metadata": {"k": "a\u0000"}}, "NUL"),
        ):
            refused = http.post("/agents/metrics", json={"name": "r", "prompt": "p", "rule": rule})
            assert refused.status_code == 422 and says in refused.text, refused.text
        assert http.get("/agents/metrics/metric_nope").status_code == 404

        names = [make_metric(http, f"page-{index}")["name"] for index in range(4)]
        first = http.get("/agents/metrics", params={"limit": 3}).json()
        assert [m["name"] for m in first["data"]] == names[::-1][:3] and first["has_more"]
        rest = http.get(
            "/agents/metrics", params={"limit": 3, "starting_after": first["next_page"]}
        ).json()
        assert [m["name"] for m in rest["data"]] == [names[0], made["name"]]
        assert not rest["has_more"] and rest["next_page"] is None


def test_attaching_needs_a_real_agent_and_metric(server, agent_id):
    with api(server) as http:
        metric = make_metric(http, "attached", RULES["processed"])
        assert metric["rule"] == RULES["processed"]
        path = f"/agents/{agent_id}/metrics/{metric['id']}"
        assert http.post(path).status_code == 204
        assert http.post(path).status_code == 204  # attaching again changes nothing
        attached = http.get(f"/agents/{agent_id}/metrics").json()["data"]
        assert [m["id"] for m in attached] == [metric["id"]]
        assert http.post(f"/agents/agent_nope/metrics/{metric['id']}").status_code == 404
        assert http.post(f"/agents/{agent_id}/metrics/metric_nope").status_code == 404
        assert http.delete(path).status_code == 204
        assert http.delete(path).status_code == 404
        assert http.get(f"/agents/{agent_id}/metrics").json()["data"] == []


async def test_rule_metrics_are_judged_after_each_call(server, agent_id):
    with api(server) as http:
        metrics = {name: make_metric(http, name, rule) for name, rule in RULES.items()}
        for metric in metrics.values():
            assert http.post(f"/agents/{agent_id}/metrics/{metric['id']}").status_code == 204
        high = await scored_call(server, agent_id, 7, "K1")
        low = await scored_call(server, agent_id, 2, "Q9")
        call = await analysed(server.base_url, high)
        await analysed(server.base_url, low)

        of_high = {r["metricName"]: r for r in results(http, call_id=high, limit=100)["data"]}
        assert set(of_high) == set(RULES)
        assert all(r["status"] == "completed" and r["passed"] for r in of_high.values()), of_high
        scored = of_high["scored_high"]
        assert (scored["value"], scored["result"]) == (7, "7")
        assert scored["reason"] == "metric 'score' was 7, >= 5"
        assert scored["callId"] == high and scored["agentId"] == agent_id
        assert scored["metricId"] == metrics["scored_high"]["id"]
        assert scored["summary"] == call["summary"] and scored["summary"]
        # The agent sent the call, then its result: one tool call, paired by the ledger.
        assert of_high["looked-up.order"]["jsonResult"] == {"count": 1}

        of_low = {r["metricName"]: r for r in results(http, call_id=low, limit=100)["data"]}
        failing = {name for name, r in of_low.items() if not r["passed"]}
        assert failing == {"scored_high", "looked-up.order"}
        assert of_low["looked-up.order"]["reason"] == (
            "tool 'lookup_order' with {'order_id': 'K1'} never found"
        )

        one_metric = results(http, metric_id=metrics["scored_high"]["id"])["data"]
        assert [r["callId"] for r in one_metric] == [low, high]  # newest first
        assert results(http, agent_id="agent_nope")["data"] == []
        future = results(http, start_date="2999-01-01T00:00:00Z")["data"]
        assert future == []
        paged = results(http, agent_id=agent_id, limit=4)
        assert len(paged["data"]) == 4 and paged["has_more"]
        seen = [r["id"] for r in paged["data"]]
        while paged["has_more"]:
            paged = results(http, agent_id=agent_id, limit=4, starting_after=paged["next_page"])
            seen += [r["id"] for r in paged["data"]]
        assert len(seen) == len(set(seen)) == 2 * len(RULES)

        exported = http.get("/agents/metrics/results/export", params={"agent_id": agent_id})
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [row["id"] for row in rows] == seen
        scored_row = next(
            row for row in rows if row["callId"] == high and row["metricName"] == "scored_high"
        )
        assert (scored_row["passed"], scored_row["value"], scored_row["status"]) == (
            "true",
            "7",
            "completed",
        )


def test_bad_result_queries_are_refused(server):
    with api(server) as http:
        backwards = http.get(
            "/agents/metrics/results",
            params={"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
        )
        assert backwards.status_code == 422 and "start_date is after end_date" in backwards.text
        both = http.get(
            "/agents/metrics/results", params={"starting_after": "a", "ending_before": "b"}
        )
        assert both.status_code == 422
        assert http.get("/agents/metrics/results", params={"limit": 101}).status_code == 422
        assert http.get("/agents/metrics/results", params={"start_date": "soon"}).status_code == 422


async def test_redaction_keeps_whether_metrics_passed_not_what_was_said(server, agent_id):
    with api(server) as http:
        metric = make_metric(http, "said_shipped", RULES["said_shipped"])
        assert http.post(f"/agents/{agent_id}/metrics/{metric['id']}").status_code == 204
        call_id = await scored_call(server, agent_id, 3, "K1")
        await analysed(server.base_url, call_id)
        (before,) = results(http, call_id=call_id)["data"]
        assert before["reason"] and before["jsonResult"]["matches"] == ["Order K1 has shipped."]
        assert http.delete(f"/agents/calls/{call_id}").status_code == 200
        (after,) = results(http, call_id=call_id)["data"]
    assert (after["status"], after["passed"]) == ("completed", True)
    assert (after["reason"], after["jsonResult"], after["value"], after["result"]) == (
        None,
        None,
        None,
        "",
    )
    assert after["summary"] == ""
