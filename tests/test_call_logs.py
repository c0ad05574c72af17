"""Per-call log lines: recorded from the agent's code, filtered, searched, paged, tailed."""

from __future__ import annotations

import asyncio

from tests.support.calls import TextCall


async def test_call_logs_filter_search_and_page(server, agent_id):
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    await call.say("logs 3")
    assert await call.reply() == "logged lines"
    await call.hang_up()
    await asyncio.sleep(0.2)
    url = f"/agents/calls/{call.call_id}/logs"
    with server.client() as http:
        everything = http.get(url, params={"limit": 1000}).json()
        assert len(everything["data"]) == 15 and not everything["has_more"]
        first = everything["data"][0]
        assert (first["level"], first["logger"], first["message"]) == (
            "debug",
            "agent.code",
            "line 0 at debug 100%_done",
        )
        assert 0 <= first["timestamp"] < 60
        warnings_up = http.get(url, params={"level": "warning", "limit": 1000}).json()["data"]
        assert {line["level"] for line in warnings_up} == {"warning", "error"}
        assert all(
            line["exc_text"] == "Traceback: boom"
            for line in warnings_up
            if line["level"] == "error"
        )
        found = http.get(url, params={"q": "LINE 1"}).json()["data"]
        assert [line["message"] for line in found] == [
            "line 1 at info 100%_done",
            "line 10 at debug 100%_done",
            "line 11 at info 100%_done",
            "line 12 at warning 100%_done",
            "line 13 at error 100%_done",
            "line 14 at info 100%_done",
        ]
        assert http.get(url, params={"q": "1%"}).json()["data"] == []  # % and _ are literal
        page = http.get(url, params={"limit": 4}).json()
        assert page["has_more"] and page["next_page"] == page["data"][-1]["seq"]
        rest = http.get(url, params={"after": page["next_page"], "limit": 1000}).json()
        assert len(page["data"]) + len(rest["data"]) == 15
        assert http.get(url, params={"level": "loud"}).status_code == 422
        assert http.get("/agents/calls/call_missing/logs").status_code == 404
        tail = http.get(f"/agents/calls/{call.call_id}/stream", params={"kinds": "log"}).text
    assert tail.count('"kind": "log"') == 15 and '"kind": "turn"' not in tail
