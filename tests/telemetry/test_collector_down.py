"""A collector that is not there, or goes away mid-run, costs calls nothing: they are
recorded whole, and what could not be sent is dropped, counted and logged."""

from __future__ import annotations

import logging
import time

import pytest

from tests.support.calls import TextCall, ended
from tests.support.otlp import http_receiver, whole_trace
from tests.support.scrape import scrape, value
from tests.support.servers import free_port, openline_server

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


async def a_call(server, agent_id: str) -> dict:
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    await call.say("tool 42")
    assert await call.reply() == "Order 42 has shipped."
    await call.hang_up()
    record = await ended(server, call.call_id)
    assert record["status"] == "completed" and len(record["transcript"]) >= 4
    return record


def dropped(server, signal: str, timeout: float = 20.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = value(scrape(server), "openline_telemetry_dropped_total", signal=signal) or 0
        if count:
            return count
        time.sleep(0.1)
    raise AssertionError(f"no {signal} counted as dropped")


@SQLITE
async def test_calls_go_on_when_no_collector_listens(settings, agent_url, monkeypatch, caplog):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "50")
    caplog.set_level(logging.WARNING, logger="openline.telemetry.otlp")
    with openline_server(settings) as server:
        agent_id = server.create_agent("Scripted", self_hosted_deployment_url=agent_url)
        record = await a_call(server, agent_id)
        assert record["trace_id"]  # traced, though nothing could take the trace
        assert dropped(server, "traces") >= 5  # the call, its turns, its response, the tool
        assert any("dropped" in r.getMessage() for r in caplog.records)


@SQLITE
async def test_a_collector_going_away_mid_run(settings, agent_url, monkeypatch):
    with http_receiver() as receiver:
        receiver.send_here(monkeypatch)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
        with openline_server(settings) as server:
            agent_id = server.create_agent("Scripted", self_hosted_deployment_url=agent_url)
            first = await a_call(server, agent_id)
            whole_trace(receiver.received, first["trace_id"])
            receiver.stop()
            await a_call(server, agent_id)
            assert dropped(server, "traces") >= 5
            assert not receiver.received.trace((await a_call(server, agent_id))["trace_id"])
