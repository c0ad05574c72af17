"""Cartesia's official `cartesia` client makes a metric, attaches it, and after a real
call lists its result (judged by an OpenAI-compatible endpoint on loopback) and exports
the results as CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
from pathlib import Path

import pytest

from tests.evaluations.support import analysed, order_call
from tests.support.fake_llm import FakeLlm, is_judging, serve_llm
from tests.support.servers import openline_server

HERE = Path(__file__).parent
pytestmark = pytest.mark.interop


def official(python: Path, server, *args: str) -> dict:
    script = [str(python), str(HERE / "official_metrics.py"), server.base_url, server.api_key]
    done = subprocess.run([*script, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def answer(body: dict) -> str:
    if not is_judging(body):
        return "The caller asked after order K1, which had shipped."
    return json.dumps(
        {"value": True, "reason": "It said the order shipped.", "result": {"order": "K1"}}
    )


async def test_official_client_makes_metrics_and_reads_their_results(
    settings, agent_url, interop_python
):
    with serve_llm(FakeLlm(answer)) as llm_url:
        judged = settings.model_copy(update={"analysis_llm_base_url": llm_url})
        with openline_server(judged) as server:
            agent_id = server.create_agent("Judged", self_hosted_deployment_url=agent_url)
            made = await asyncio.to_thread(official, interop_python, server, "setup", agent_id)
            metric = made["metric"]
            assert metric["name"] == "confirmed_shipping"
            assert metric["display_name"] == "Confirmed shipping"
            assert metric["id"].startswith("metric_")

            call_id = await order_call(server.ws_url, agent_id, "K1")
            call = await analysed(server.base_url, call_id)
            seen = await asyncio.to_thread(
                official, interop_python, server, "results", call_id, metric["id"], agent_id
            )
            with server.client() as http:
                attached = http.get(f"/agents/{agent_id}/metrics").json()["data"]

    (result,) = seen["results"]
    assert (result["call_id"], result["agent_id"], result["metric_id"]) == (
        call_id,
        agent_id,
        metric["id"],
    )
    assert (result["metric_name"], result["status"], result["result"]) == (
        "confirmed_shipping",
        "completed",
        "true",
    )
    assert result["value"] is True and result["json_result"] == {"order": "K1"}
    assert result["summary"] == call["summary"]
    assert seen["retrieved"] == metric
    assert metric["id"] in seen["listed"]
    rows = list(csv.DictReader(io.StringIO(seen["export"])))
    assert [(r["callId"], r["metricName"], r["passed"]) for r in rows] == [
        (call_id, "confirmed_shipping", "true")
    ]
    assert attached == []  # the client's remove_from_agent detached it
