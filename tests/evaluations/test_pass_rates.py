"""Pass rates in the fleet analytics, on real servers and real calls, on both databases:
rule metrics attached and judged after each call, their final results counted per metric
and per deployment by ``GET /agents/analytics``; test runs' calls left out unless asked
for."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from openline.api.analytics import AnalyticsReport
from tests.deploy.conftest import UV_CACHE
from tests.deploy.support import deploy
from tests.evaluations.support import analysed
from tests.evaluations.test_metrics_api import api, make_metric
from tests.support.calls import TextCall
from tests.support.waiting import wait_until

SCORED_HIGH = {"type": "metric", "name": "score", "op": ">=", "value": 5}
SCORER = Path(__file__).parent / "agents" / "scorer"


def attach(http: httpx.Client, agent_id: str, name: str, rule: dict | None) -> None:
    """A metric judged after each of the agent's calls (by ``rule``; without one, by the
    LLM judge, which these servers do not have: every result fails)."""
    metric = make_metric(http, name, rule)
    assert http.post(f"/agents/{agent_id}/metrics/{metric['id']}").status_code == 204


async def scored_call(server, agent_id: str, score: int, **start) -> str:
    call = await TextCall.open(server.ws_url, agent_id, server.api_key, **start)
    await call.reply()  # the greeting
    await call.say(f"score {score}")
    await call.reply()
    await call.say("bye")
    await call.closed()
    return call.call_id


def analytics(http: httpx.Client, **params) -> dict:
    reply = http.get("/agents/analytics", params=params)
    assert reply.status_code == 200, reply.text
    AnalyticsReport.model_validate(reply.json())  # the documented shape, exactly
    return reply.json()


def counted(http: httpx.Client, judged: int, **params) -> dict:
    """The report once ``judged`` results of ``scored-high`` are counted: a call's results
    join its tally when its analysis is done, a moment after the call."""

    def ready() -> dict | bool:
        found = analytics(http, **params)
        shown = found["totals"]["evaluations"].get("scored-high", {})
        return shown.get("judged") == judged and found

    return wait_until(ready, within=40, every=0.2)


def rate(passed: int, failed: int, errored: int = 0) -> dict:
    judged = passed + failed
    return {
        "judged": judged + errored,
        "passed": passed,
        "failed": failed,
        "errored": errored,
        "pass_rate": round(passed / judged, 6) if judged else None,
    }


async def test_pass_rates_of_real_calls_and_test_runs_left_out(server, agent_id):
    with api(server) as http:
        attach(http, agent_id, "scored-high", SCORED_HIGH)
        attach(http, agent_id, "asked-the-judge", None)
        calls = [await scored_call(server, agent_id, score) for score in (2, 5, 7, 9)]
        test_run = {"metadata": {"test_run": "r1", "scenario": "low"}}
        calls += [await scored_call(server, agent_id, score, **test_run) for score in (1, 3)]
        for call_id in calls:
            await analysed(server.base_url, call_id)

        found = counted(http, 4, agent_id=agent_id, group_by="deployment_id")
        assert found["filters"]["include_test_runs"] is False
        assert found["totals"]["calls"]["count"] == 4
        assert found["totals"]["evaluations"] == {
            "asked-the-judge": rate(0, 0, errored=4),
            "scored-high": rate(3, 1),
        }
        [group] = found["groups"]  # the agent's own server: no deployment
        assert group["deployment_id"] is None
        assert group["evaluations"]["scored-high"] == rate(3, 1)
        by_minute = [entry["evaluations"] for entry in found["series"] if entry["evaluations"]]
        assert sum(e["scored-high"]["passed"] for e in by_minute) == 3

        everything = counted(http, 6, agent_id=agent_id, include_test_runs="true")
        assert everything["filters"]["include_test_runs"] is True
        assert everything["totals"]["calls"]["count"] == 6
        assert everything["totals"]["evaluations"]["scored-high"] == rate(3, 3)
        assert everything["totals"]["metrics"]["score"]["min"] == 1.0
        one_run = analytics(http, agent_id=agent_id, metadata="test_run:r1")
        assert one_run["totals"]["evaluations"]["scored-high"] == rate(0, 2)
        assert analytics(http, agent_id=agent_id)["totals"]["calls"]["count"] == 4


@pytest.fixture
def scorer_dir(tmp_path, monkeypatch):
    """``scorer_dir("v1")``: a copy of the scorer agent that greets with its version; the
    deployment tests' settings (read by the server as it starts)."""
    monkeypatch.setenv("OPENLINE_DEPLOY_UV_CACHE_DIR", str(UV_CACHE))
    monkeypatch.setenv("OPENLINE_DEPLOY_HEALTH_TIMEOUT_S", "45")
    monkeypatch.setenv("OPENLINE_DEPLOY_STOP_TIMEOUT_S", "5")

    def make(version: str) -> Path:
        directory = tmp_path / f"scorer-{version}"
        shutil.copytree(SCORER, directory)
        (directory / "version.txt").write_text(version)
        return directory

    return make


async def test_pass_rates_per_deployment_and_compared(server, scorer_dir):
    agent_id = server.create_agent("Scorer")
    with api(server) as http:
        attach(http, agent_id, "scored-high", SCORED_HIGH)
        first = deploy(server, agent_id, scorer_dir("v1"))
        assert first["status"] == "deployed", first
        calls = [await scored_call(server, agent_id, score) for score in (5, 6, 7, 1)]
        second = deploy(server, agent_id, scorer_dir("v2"))
        assert second["status"] == "deployed", second
        calls += [await scored_call(server, agent_id, score) for score in (8, 2, 3)]
        for call_id in calls:
            await analysed(server.base_url, call_id)

        found = counted(http, 7, agent_id=agent_id, group_by="deployment_id")
        groups = {group["deployment_id"]: group for group in found["groups"]}
        assert set(groups) == {first["id"], second["id"]}
        assert groups[first["id"]]["evaluations"] == {"scored-high": rate(3, 1)}
        assert groups[second["id"]]["evaluations"] == {"scored-high": rate(1, 2)}
        assert found["totals"]["evaluations"] == {"scored-high": rate(4, 3)}
        only_v2 = analytics(http, agent_id=agent_id, deployment_id=second["id"])
        assert only_v2["totals"]["evaluations"] == {"scored-high": rate(1, 2)}
