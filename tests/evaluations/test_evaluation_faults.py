"""Evaluations under real faults: ``kill -9`` of the openline process judging a call
(the judgement resumes after a restart, stored once), and two openline processes on one
PostgreSQL judging the same calls (each (call, metric) pair asked of the judge once)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import BACKENDS, TEST_KEY, pg_schema
from tests.evaluations.support import HEADERS, analysed, attach_metric, order_call, results_of
from tests.support.crashes import Openline
from tests.support.fake_llm import FakeLlm, is_judging, serve_llm

QUESTION = "Did the agent confirm the order shipped?"
VERDICT = json.dumps({"value": True, "reason": "It said so."})
FAST_LEASES = {"OPENLINE_PROCESS_HEARTBEAT_S": "0.3", "OPENLINE_PROCESS_LEASE_TTL_S": "2"}


@pytest.fixture(params=BACKENDS)
def database_env(request) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {}
        return
    with pg_schema() as url:
        yield {"OPENLINE_DATABASE_URL": url}


def judged_env(llm_url: str, judge_timeout_s: float) -> dict[str, str]:
    return {
        "OPENLINE_API_KEY": TEST_KEY,
        "OPENLINE_ANALYSIS_LLM_BASE_URL": llm_url,
        "OPENLINE_JUDGE_TIMEOUT_S": str(judge_timeout_s),
        "OPENLINE_ANALYSIS_RETRY_S": "0.3",
    } | FAST_LEASES


def make_agent(base_url: str, agent_url: str) -> str:
    body = {"name": "judged", "self_hosted_deployment_url": agent_url}
    made = httpx.post(f"{base_url}/agents", headers=HEADERS, json=body)
    assert made.status_code == 201, made.text
    return made.json()["id"]


async def test_kill_9_mid_judgement_resumes_after_restart(database_env, tmp_path, agent_url):
    judging: list[dict] = []
    first_asked = threading.Event()

    async def answer(body: dict) -> str:
        if not is_judging(body):
            return "A summary."
        judging.append(body)
        if len(judging) == 1:  # the process asking is killed while it waits
            first_asked.set()
            await asyncio.sleep(5)
        return VERDICT

    with serve_llm(FakeLlm(answer)) as llm_url:
        server = Openline(tmp_path / "data", judged_env(llm_url, 2) | database_env).start()
        try:
            agent_id = make_agent(server.base_url, agent_url)
            attach_metric(server.base_url, agent_id, "confirmed", QUESTION)
            call_id = await order_call(server.ws_url, agent_id, "K1")
            assert await asyncio.to_thread(first_asked.wait, 30), "the judge was never asked"
            server.kill()
            server.start()  # the same data and database, a new process
            await analysed(server.base_url, call_id)
            results = httpx.get(
                f"{server.base_url}/agents/metrics/results",
                headers=HEADERS,
                params={"call_id": call_id},
            ).json()["data"]
        finally:
            server.stop()
    assert len(judging) == 2  # once by the killed process, once after the restart
    assert [(r["metricName"], r["status"], r["passed"]) for r in results] == [
        ("confirmed", "completed", True)
    ]


CALLS = 8
METRICS = {f"check-{index}": f"Question {index}: did it go well?" for index in range(3)}


async def test_two_processes_judge_each_pair_exactly_once(pg_url, tmp_path, agent_url):
    asked: Counter[tuple[str, str]] = Counter()

    async def answer(body: dict) -> str:
        if not is_judging(body):
            return "A summary."
        question = body["messages"][1]["content"]
        order = re.search(r"user: tool (\w+)", question)
        metric = re.search(r"Evaluation question: (Question \d)", question)
        assert order and metric
        asked[(order.group(1), metric.group(1))] += 1
        # Judging outlasts the sweeps' interval: the other process finds the call due
        # while it is being judged.
        await asyncio.sleep(0.5)
        return VERDICT

    env = judged_env("", 5) | {"OPENLINE_DATABASE_URL": pg_url}
    with serve_llm(FakeLlm(answer)) as llm_url:
        env["OPENLINE_ANALYSIS_LLM_BASE_URL"] = llm_url
        first = Openline(tmp_path / "a", env).start()
        second = Openline(tmp_path / "b", env).start()
        try:
            agent_id = make_agent(first.base_url, agent_url)
            for name, question in METRICS.items():
                attach_metric(first.base_url, agent_id, name, question)
            servers = [first, second]
            call_ids = await asyncio.gather(
                *(
                    order_call(servers[index % 2].ws_url, agent_id, f"K{index}")
                    for index in range(CALLS)
                )
            )
            await asyncio.gather(*(analysed(second.base_url, call_id) for call_id in call_ids))
            results = {call_id: results_of(first.base_url, call_id) for call_id in call_ids}
            exported = httpx.get(
                f"{first.base_url}/agents/metrics/results/export",
                headers=HEADERS,
                params={"agent_id": agent_id},
            ).text
        finally:
            first.stop()
            second.stop()
    questions = [f"Question {index}" for index in range(len(METRICS))]
    assert asked == Counter({(f"K{i}", q): 1 for i in range(CALLS) for q in questions})
    for call_id in call_ids:
        assert {n: (r["status"], r["passed"]) for n, r in results[call_id].items()} == {
            name: ("completed", True) for name in METRICS
        }
    assert len(exported.strip().splitlines()) == 1 + CALLS * len(
        METRICS
    )  # header + one row per pair
