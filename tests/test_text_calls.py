"""Text calls end to end: client → openline → a real agent process, facts read back by REST."""

from __future__ import annotations

from tests.support.calls import TextCall, first_text


async def test_text_call_records_turns_tools_events_and_metrics(server, agent_id):
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    assert call.ack["event"] == "ack" and call.ack["call_id"].startswith("call_")
    assert await call.reply() == f"Hello from {agent_id}"
    await call.say("hello there")
    assert await call.reply() == "You said: hello there"
    await call.say("tool A123")
    assert await call.reply() == "Order A123 has shipped."
    await call.say("bye")
    assert await call.reply() == "Goodbye!"
    code, reason = await call.closed()
    assert (code, reason) == (1000, "call ended by agent, reason: agent_ended")

    with server.client() as http:
        body = http.get(f"/agents/calls/{call.call_id}").json()
    assert body["status"] == "completed"
    assert body["end_reason"] == "agent_hangup"
    assert body["agent_end_reason"] == "agent_ended"
    assert body["telephony_params"]["from"] == "websocket"
    assert body["telephony_params"]["to"] == agent_id
    roles = [
        (entry["role"], entry["text"]) for entry in body["transcript"] if entry["role"] != "system"
    ]
    assert roles == [
        ("assistant", f"Hello from {agent_id}"),
        ("user", "hello there"),
        ("assistant", "You said: hello there"),
        ("user", "tool A123"),
        ("assistant", "Order A123 has shipped."),
        ("user", "bye"),
        ("assistant", "Goodbye!"),
    ]
    turns = [entry for entry in body["transcript"] if entry["role"] != "system"]
    timestamps = [entry["start_timestamp"] for entry in turns]
    assert timestamps == sorted(timestamps)
    assert all(entry["end_timestamp"] >= entry["start_timestamp"] for entry in turns)
    assert turns[0]["end_reason"] == "tts_completed"
    # a text answer's latency: the caller's line → the agent's first text, all the agent's
    assert "latency" not in turns[0]
    for line, answer in zip(turns[1::2], turns[2::2], strict=True):
        assert answer["latency"] == round(first_text(answer) - line["start_timestamp"], 3)
        assert answer["latency_parts"] == {
            "endpointing": None,
            "stt": None,
            "agent": answer["latency"],
            "tts": None,
            "playout": None,
        }
    assert turns[-1]["end_reason"] == "call_ended"
    (tool,) = turns[4]["tool_calls"]
    assert tool["id"].startswith("tool_call_")  # the agent sent none; clients want a string
    assert tool | {"id": None} == {
        "id": None,
        "name": "lookup_order",
        "arguments": {"order_id": "A123"},
        "result": "shipped",
    }
    system = [entry for entry in body["transcript"] if entry["role"] == "system"]
    events = [entry["log_event"] for entry in system if "log_event" in entry]
    assert events[0]["event"] == "order_processed"
    assert events[0]["metadata"]["metadata"] == {"status": "shipped", "order_id": "A123"}
    metrics = {
        entry["log_metric"]["name"]: entry["log_metric"]["value"]
        for entry in system
        if "log_metric" in entry
    }
    assert metrics == {"orders_looked_up": 1, "system_call_success": True}
    # Events sit between the user turn that caused them and the end of the call.
    index_of = {id(entry): i for i, entry in enumerate(body["transcript"])}
    user_tool_turn = turns[3]
    assert index_of[id(user_tool_turn)] < index_of[id(system[0])]
