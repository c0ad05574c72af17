"""One trace per call, received by a real OTLP receiver: its span tree, its attributes,
its events and log lines, and the trace id stored on the call."""

from __future__ import annotations

import pytest

from tests.support.calls import TextCall, ended, first_text
from tests.support.otlp import children, offset, whole_trace
from tests.support.servers import openline_server
from tests.webhooks.helpers import hook_agent

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


MS = 0.0011  # the record keeps milliseconds


async def tool_and_logs_call(server, agent_id: str) -> dict:
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()  # the greeting
    await call.say("tool 42")
    assert await call.reply() == "Order 42 has shipped."
    await call.say("logs")
    assert await call.reply() == "logged lines"
    await call.hang_up()
    return await ended(server, call.call_id)


async def test_a_text_call_is_one_trace_of_its_turns_tools_events_and_logs(otlp, traced, agent_id):
    record = await tool_and_logs_call(traced, agent_id)
    trace_id = record["trace_id"]
    assert trace_id and len(trace_id) == 32 and int(trace_id, 16)
    spans = whole_trace(otlp.received, trace_id)

    [root] = [s for s in spans if s.name == "call"]
    assert root.parent_id == ""
    assert root.resource["service.name"] == "openline-under-test"
    assert root.attributes["openline.call.id"] == record["id"]
    assert root.attributes["gen_ai.conversation.id"] == record["id"]
    assert root.attributes["gen_ai.agent.id"] == agent_id
    assert root.attributes["gen_ai.agent.name"] == "Scripted"
    assert root.attributes["openline.call.status"] == "completed"
    assert root.attributes["openline.call.end_reason"] == "client_hangup"
    assert root.attributes["openline.call.connection_type"] == "websocket"
    assert root.attributes["openline.call.duration_s"] == pytest.approx(root.seconds, abs=0.002)

    # A span per turn, in the transcript's order and at its times.
    turns = [e for e in record["transcript"] if e["role"] in ("user", "assistant")]
    turn_spans = [s for s in children(spans, root) if s.name.startswith("turn ")]
    assert [s.name for s in turn_spans] == [f"turn {t['role']}" for t in turns]
    for turn, span in zip(turns, turn_spans, strict=True):
        assert offset(span, root) == pytest.approx(turn["start_timestamp"], abs=0.0011)
        assert span.attributes["openline.turn.text_length"] == len(turn["text"])
        assert span.attributes["openline.turn.interrupted"] is False

    # The tool call, under the agent's turn that made it, with its arguments and result.
    answer = turn_spans[2]
    [tool] = [s for s in children(spans, answer) if s.name.startswith("execute_tool")]
    assert tool.name == "execute_tool lookup_order"
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "lookup_order"
    assert tool.attributes["gen_ai.tool.call.arguments"] == '{"order_id": "42"}'
    assert tool.attributes["gen_ai.tool.call.result"] == "shipped"
    assert tool.status_code != 2
    # The agent's response: from the caller's line to its last text (the turn began
    # with the tool call, before its text).
    [response] = [s for s in children(spans, answer) if s.name == "invoke_agent"]
    asked = turn_spans[1]
    [answer_entry] = [t for t in turns if t["text"] == "Order 42 has shipped."]
    assert response.start_ns == asked.end_ns
    # The turn's latency, as analytics counts it: the caller's line to the agent's first
    # text (which may come after the tool call that opened the turn).
    latency = first_text(answer_entry) - turns[1]["end_timestamp"]
    assert answer_entry["latency"] == pytest.approx(latency, abs=MS)
    assert answer.attributes["openline.turn.response_latency_s"] == pytest.approx(latency, abs=MS)
    assert "openline.turn.response_latency_s" not in turn_spans[0].attributes  # the greeting
    assert offset(response, root) + response.seconds == pytest.approx(
        answer_entry["text_chunks"][-1]["start_timestamp"], abs=0.0011
    )
    assert response.attributes["openline.response.time_to_last_text_s"] == pytest.approx(
        response.seconds, abs=0.0011
    )
    # Its event and metric, as span events of that turn.
    events = {name: attributes for name, _, attributes in answer.events}
    assert events["order_processed"]["openline.event.message"] == "Processed order 42"
    assert events["metric orders_looked_up"]["openline.metric.value"] == 1

    # The agent's log lines, as OTLP logs in the call's trace.
    lines = otlp.received.wait_for(
        lambda r: [line for line in r.logs if line.trace_id == trace_id],
        what="the call's log lines",
    )
    assert [line.body for line in lines] == [
        f"line {n} at {level} 100%_done"
        for n, level in enumerate(["debug", "info", "warning", "error", "info"])
    ]
    assert [line.severity for line in lines] == ["DEBUG", "INFO", "WARNING", "ERROR", "INFO"]
    span_ids = {s.span_id for s in spans}
    assert all(line.span_id in span_ids for line in lines)
    assert lines[3].attributes["exception.stacktrace"] == "Traceback: boom"
    assert all(line.attributes["openline.call.id"] == record["id"] for line in lines)


async def test_webhook_deliveries_are_spans_in_their_calls_trace(otlp, traced, agent_url, receiver):
    _, agent = hook_agent(traced, receiver.url, agent_url)
    call = await TextCall.open(traced.ws_url, agent["id"], traced.api_key)
    await call.reply()
    await call.hang_up()
    record = await ended(traced, call.call_id)
    spans = otlp.received.wait_for(
        lambda r: (
            any(s.name == "webhook call_completed" for s in r.trace(record["trace_id"]))
            and r.trace(record["trace_id"])
        ),
        what="the span of the call_completed delivery",
    )
    [root] = [s for s in spans if s.name == "call"]
    deliveries = {s.name: s for s in spans if s.name.startswith("webhook ")}
    assert {"webhook call_started", "webhook call_completed"} <= set(deliveries)
    for span in deliveries.values():
        assert span.parent_id == root.span_id
        assert span.attributes["http.response.status_code"] == 200
        assert span.attributes["url.full"] == receiver.url
        assert span.attributes["openline.webhook.attempt"] == 1


@SQLITE
async def test_traces_and_logs_go_over_grpc_too(otlp_grpc, settings, agent_url):
    with openline_server(settings) as server:
        agent_id = server.create_agent("Scripted", self_hosted_deployment_url=agent_url)
        record = await tool_and_logs_call(server, agent_id)
        spans = whole_trace(otlp_grpc.received, record["trace_id"])
        assert {"call", "turn user", "turn assistant", "execute_tool lookup_order"} <= {
            s.name for s in spans
        }
        otlp_grpc.received.wait_for(
            lambda r: len([x for x in r.logs if x.trace_id == record["trace_id"]]) == 5,
            what="five log lines",
        )


@SQLITE
async def test_without_an_endpoint_nothing_is_traced(settings, agent_url, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    with openline_server(settings) as server:
        agent_id = server.create_agent("Scripted", self_hosted_deployment_url=agent_url)
        call = await TextCall.open(server.ws_url, agent_id, server.api_key)
        await call.reply()
        await call.hang_up()
        assert (await ended(server, call.call_id))["trace_id"] is None
