"""The REST API: agents, calls listing and pagination, redaction, errors, auth, live tail."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.calls import Tail, TextCall, ended


def test_agent_crud_round_trip(server):
    with server.client() as http:
        created = http.post(
            "/agents", json={"name": "Support", "description": "d", "metadata": {"team": "x"}}
        )
        assert created.status_code == 201
        agent = created.json()
        assert agent["id"].startswith("agent_") and agent["metadata"] == {"team": "x"}
        assert agent["created_at"].endswith("Z")
        assert http.get("/agents").json()["summaries"][0]["id"] == agent["id"]
        patched = http.patch(f"/agents/{agent['id']}", json={"introduction": "Hi!", "name": None})
        assert patched.json()["introduction"] == "Hi!" and patched.json()["name"] == "Support"
        assert http.get(f"/agents/{agent['id']}").json()["introduction"] == "Hi!"
        assert http.delete(f"/agents/{agent['id']}").status_code == 204
        missing = http.get(f"/agents/{agent['id']}")
        assert missing.status_code == 404
        assert missing.json() == {
            "error": {"code": "not_found", "message": f"no agent with id '{agent['id']}'"}
        }


def test_bad_parameters_are_422_with_a_clear_message(server):
    with server.client() as http:
        no_name = http.post("/agents", json={"description": "x"})
        assert no_name.status_code == 422 and "name: Field required" in no_name.text
        bad_url = http.post("/agents", json={"name": "a", "self_hosted_deployment_url": "ftp://x"})
        assert "http:// or https://" in bad_url.json()["error"]["message"]
        unknown = http.post("/agents", json={"name": "a", "colour": "red"})
        assert unknown.status_code == 422 and "colour" in unknown.text
        assert (
            http.post(
                "/agents", content=b"{oops", headers={"content-type": "application/json"}
            ).status_code
            == 422
        )
        limit = http.get("/agents/calls", params={"limit": 0})
        assert limit.status_code == 422 and "limit" in limit.json()["error"]["message"]
        status = http.get("/agents/calls", params={"status": "exploded"})
        assert status.status_code == 422
        assert http.get("/agents/calls/call_nope").status_code == 404
        assert http.delete("/agents/calls/call_nope").json()["error"]["code"] == "not_found"


def test_auth_by_bearer_or_x_api_key_and_version_header(server):
    assert httpx.get(server.base_url + "/agents").status_code == 401
    wrong = httpx.get(server.base_url + "/agents", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
    ok = httpx.get(
        server.base_url + "/agents",
        headers={"X-API-Key": server.api_key, "Cartesia-Version": "2099-01-01"},
    )
    assert ok.status_code == 200


async def _make_calls(server, agent_id: str, count: int) -> list[str]:
    ids = []
    for index in range(count):
        call = await TextCall.open(server.ws_url, agent_id, server.api_key, metadata={"n": index})
        await call.reply()
        await call.say("event" if index % 2 else "bye")
        await call.reply()
        await call.hang_up() if index % 2 else await call.closed()
        ids.append(call.call_id)
    for call_id in ids:
        await ended(server, call_id)
    return ids


async def test_listing_filters_and_cursor_pagination(server, agent_id):
    made = await _make_calls(server, agent_id, 5)
    newest_first = list(reversed(made))
    with server.client() as http:
        page1 = http.get("/agents/calls", params={"agent_id": agent_id, "limit": 2}).json()
        assert [c["id"] for c in page1["data"]] == newest_first[:2]
        assert page1["has_more"] and page1["next_page"] == newest_first[1]
        assert "transcript" not in page1["data"][0]
        page2 = http.get(
            "/agents/calls",
            params={"agent_id": agent_id, "limit": 2, "starting_after": page1["next_page"]},
        ).json()
        assert [c["id"] for c in page2["data"]] == newest_first[2:4]
        back = http.get(
            "/agents/calls",
            params={"agent_id": agent_id, "limit": 2, "ending_before": newest_first[2]},
        ).json()
        assert [c["id"] for c in back["data"]] == newest_first[:2]
        last = http.get(
            "/agents/calls",
            params={"agent_id": agent_id, "limit": 2, "starting_after": newest_first[3]},
        ).json()
        assert [c["id"] for c in last["data"]] == newest_first[4:] and not last["has_more"]
        hung_up = http.get("/agents/calls", params={"end_reason": "agent_hangup"}).json()
        assert {c["id"] for c in hung_up["data"]} == {made[0], made[2], made[4]}
        expanded = http.get("/agents/calls", params={"expand": "transcript", "limit": 1}).json()
        assert expanded["data"][0]["transcript"][0]["role"] == "assistant"
        future = http.get(
            "/agents/calls", params={"start_time_after": "2999-01-01T00:00:00Z"}
        ).json()
        assert future["data"] == []
        other = http.get("/agents/calls", params={"agent_id": "agent_other"}).json()
        assert other == {"data": [], "has_more": False, "next_page": None}


async def test_redaction_wipes_content_and_keeps_the_call(server, agent_id):
    call_id = (await _make_calls(server, agent_id, 2))[1]
    with server.client() as http:
        assert http.get(f"/agents/calls/{call_id}").json()["metadata"] == {"n": 1}
        redacted = http.delete(f"/agents/calls/{call_id}").json()
        assert redacted["redacted_at"] and redacted["transcript"] == []
        again = http.get(f"/agents/calls/{call_id}").json()
        assert again["transcript"] == [] and again["metadata"] == {}
        assert again["status"] == "completed" and again["redacted_at"]


async def test_live_tail_streams_facts_as_they_happen(server, agent_id):
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    tail = Tail(server.base_url, call.call_id, server.headers)
    seen = tail.seen
    await asyncio.sleep(0.3)
    before = len(seen)
    await call.say("tool B7")
    await call.reply()
    await asyncio.sleep(0.3)
    during = [data for event, data in seen[before:] if event == "fact"]
    # each batch of facts is followed by the change it brings the tail up to
    caught_up = [data["rev"] for event, data in seen[before:] if event == "caught_up"]
    assert caught_up and caught_up == sorted(caught_up)
    assert caught_up[-1] == max(fact["rev"] for fact in during)
    assert any(f["kind"] == "tool_call" and f["result"] == "shipped" for f in during)
    assert any(f["kind"] == "log_event" and f["event"] == "order_processed" for f in during)
    await call.say("bye")
    await call.closed()
    assert await tail.finished()
    assert seen[-1][0] == "end" and seen[-1][1]["end_reason"] == "agent_hangup"
    turns = {f["seq"]: f for event, f in seen if event == "fact" and f["kind"] == "turn"}
    assert [t["text"] for t in sorted(turns.values(), key=lambda t: t["seq"])][-1] == "Goodbye!"
    # Each fact's last copy on the tail is its REST JSON (plus kind, seq and rev): a turn
    # as the transcript shows it, its tool calls as facts of their own.
    last = {(f["kind"], f["seq"]): f for event, f in seen if event == "fact"}
    with server.client() as http:
        transcript = http.get(f"/agents/calls/{call.call_id}").json()["transcript"]
    tail_turns = sorted(
        (f for (kind, _), f in last.items() if kind == "turn"),
        key=lambda f: (f["start_timestamp"], f["seq"]),
    )
    assert [
        {k: v for k, v in entry.items() if k != "tool_calls"}
        for entry in transcript
        if entry["role"] != "system"
    ] == [{k: v for k, v in f.items() if k not in ("kind", "seq", "rev")} for f in tail_turns]
    tools = [t for entry in transcript for t in entry.get("tool_calls", ())]
    tail_tools = {f["id"]: f for f in last.values() if f["kind"] == "tool_call"}
    assert tools and all(t == {k: tail_tools[t["id"]][k] for k in t} for t in tools)
    assert all("timestamp" not in f for f in tail_turns)  # the API's names, not the columns'
