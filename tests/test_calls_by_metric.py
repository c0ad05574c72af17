"""``GET /agents/calls`` by a metric's value, over real calls on both databases."""

from __future__ import annotations

import httpx
import pytest

from tests.test_analytics_api import HEADERS, crashed_call, scored_call


def listed(base_url: str, **params) -> set[str]:
    reply = httpx.get(f"{base_url}/agents/calls", headers=HEADERS, params=params | {"limit": 100})
    assert reply.status_code == 200, reply.text
    return {call["id"] for call in reply.json()["data"]}


async def test_calls_by_a_metric_value_range_or_value(server, agent_id):
    base = server.base_url
    one, two, three = [await scored_call(base, agent_id, n, "spring") for n in (1, 2, 3)]
    crashed = await crashed_call(base, agent_id)
    assert listed(base, metric="score") == {one, two, three}
    assert listed(base, metric="score", metric_min=2) == {two, three}
    assert listed(base, metric="score", metric_min=1, metric_max=3) == {one, two}
    assert listed(base, metric="score", metric_max=1) == set()
    assert listed(base, metric="system_call_success", metric_value="false") == {crashed}
    assert listed(base, agent_id=agent_id, metric="system_call_success", metric_value="true") == {
        one,
        two,
        three,
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [({"metric_min": 1}, "need metric"), ({"metric": "score", "metric_max": "inf"}, "metric_max")],
)
def test_bad_metric_filters_are_refused(server, params, message):
    reply = httpx.get(f"{server.base_url}/agents/calls", headers=HEADERS, params=params)
    assert reply.status_code == 422
    assert message in reply.text
