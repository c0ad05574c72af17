"""``GET /metrics``: what a call, a webhook outbox and the writer show Prometheus, behind
the API key, with label values that stay bounded."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import pytest

from openline.domain.calls import LogMetric, Role, ToolCall, Turn
from openline.domain.time import utcnow
from openline.telemetry.metrics import LABEL_VALUES_KEPT, OTHER, Metrics
from tests.support.calls import TextCall, ended
from tests.support.scrape import samples, scrape, value
from tests.support.servers import free_port, openline_server
from tests.webhooks.helpers import hook_agent

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


def wait_for_sample(server, name: str, at_least: float = 1, **labels: str) -> dict:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = scrape(server)
        if (value(found, name, **labels) or 0) >= at_least:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{name}{labels} never reached {at_least}: {scrape(server)}")


async def test_a_calls_counts_latencies_and_tools(server, agent_id):
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    assert value(scrape(server), "openline_calls_in_progress", agent_id=agent_id) == 1
    await call.say("tool 42")
    await call.reply()
    await call.hang_up()
    await ended(server, call.call_id)

    found = wait_for_sample(
        server,
        "openline_calls_total",
        agent_id=agent_id,
        status="completed",
        end_reason="client_hangup",
    )
    assert value(found, "openline_calls_in_progress", agent_id=agent_id) == 0
    assert (
        value(
            found, "openline_tool_calls_total", agent_id=agent_id, tool="lookup_order", outcome="ok"
        )
        == 1
    )
    # One answer to the caller (the greeting answers nobody): one response latency.
    assert value(found, "openline_turn_latency_seconds_count", agent_id=agent_id) == 1
    assert (
        value(found, "openline_turns_total", agent_id=agent_id, role="user", interrupted="false")
        == 1
    )
    assert value(found, "openline_call_duration_seconds_count", agent_id=agent_id) == 1
    assert (value(found, "openline_writer_batch_commit_seconds_count") or 0) >= 1
    assert value(found, "openline_writer_queue_depth") is not None
    assert value(found, "openline_webhook_outbox_depth") == 0
    # No label is a call id.
    assert not any(call.call_id in str(labels) for _, labels in found)


async def test_an_agent_exports_the_metrics_it_opts_in_to(server, agent_id):
    with server.client() as http:
        patched = http.patch(
            f"/agents/{agent_id}", json={"prometheus_metrics": ["orders_looked_up"]}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["prometheus_metrics"] == ["orders_looked_up"]
        too_many = http.patch(
            f"/agents/{agent_id}", json={"prometheus_metrics": [f"m{n}" for n in range(21)]}
        )
        assert too_many.status_code == 422
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    await call.say("tool 7")
    await call.reply()
    await call.say("score 3.5")  # a metric it did not opt in to
    await call.reply()
    await call.hang_up()
    found = wait_for_sample(
        server, "openline_agent_metric_count", agent_id=agent_id, metric="orders_looked_up"
    )
    assert (
        value(found, "openline_agent_metric_sum", agent_id=agent_id, metric="orders_looked_up") == 1
    )
    assert value(found, "openline_agent_metric_count", agent_id=agent_id, metric="score") is None


@SQLITE
async def test_the_outbox_depth_and_failed_deliveries_show(server, agent_url):
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    _, agent = hook_agent(server, dead, agent_url)
    call = await TextCall.open(server.ws_url, agent["id"], server.api_key)
    await call.reply()
    await call.hang_up()
    found = wait_for_sample(server, "openline_webhook_deliveries_total", outcome="retrying")
    assert (value(found, "openline_webhook_outbox_depth") or 0) >= 1
    await asyncio.sleep(0.2)
    later = scrape(server)
    assert value(later, "openline_webhook_outbox_oldest_age_seconds") > 0.2


@SQLITE
def test_metrics_need_the_key_unless_made_public(settings, tmp_path):
    with openline_server(settings) as server:
        assert httpx.get(server.base_url + "/metrics").status_code == 401
        wrong = httpx.get(server.base_url + "/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert server.get("/metrics").status_code == 200
    public = settings.model_copy(update={"metrics_public": True, "data_dir": tmp_path / "open"})
    with openline_server(public) as server:
        assert httpx.get(server.base_url + "/metrics").status_code == 200


def test_label_values_chosen_by_agents_are_capped():
    metrics = Metrics()
    now = utcnow()
    call = {
        "agent_id": "agent_x",
        "status": "completed",
        "end_reason": "agent_hangup",
        "start_time": now,
        "end_time": now + timedelta(seconds=3),
    }
    tools = [
        ToolCall("call_1", n, n, 0.1, name=f"tool_{n}", arguments={}, result="ok")
        for n in range(LABEL_VALUES_KEPT + 50)
    ]
    metric_facts = [LogMetric("call_1", 900 + n, 0, 0.2, name=f"m{n}", value=n) for n in range(3)]
    turn = Turn("call_1", 999, 0, 0.0, Role.ASSISTANT, "hi", end_timestamp=1.0)
    metrics.call_started("agent_x")
    metrics.call_ended(call, [turn, *tools, *metric_facts], exported=["m0", "m1"])
    found = samples(metrics.exposition().decode())
    names = {dict(labels)["tool"] for name, labels in found if name == "openline_tool_calls_total"}
    assert len(names) == LABEL_VALUES_KEPT + 1 and OTHER in names
    other = value(found, "openline_tool_calls_total", agent_id="agent_x", tool=OTHER, outcome="ok")
    assert other == 50
    exported = {
        dict(labels)["metric"] for name, labels in found if name == "openline_agent_metric_count"
    }
    assert exported == {"m0", "m1"}
