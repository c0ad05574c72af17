"""The call page's Analysis tab shows the call's metric results, in Chromium, after real
calls of a real agent with rule metrics attached: passing and failing ones with their
reasons, a judge's failure with its reason, and the empty states."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import signed_in_client
from tests.console.support import screenshot, text_call, wait_for


@dataclass
class Judged:
    agent_id: str
    call_id: str  # "Evaluated": rule metrics and an LLM one attached
    plain_call: str  # "Unevaluated": no metrics attached
    metrics: dict[str, dict]


METRICS = {
    "scored-high": {
        "prompt": "Did the caller score at least 5?",
        "display_name": "Scored high",
        "rule": {"type": "metric", "name": "score", "op": ">=", "value": 5},
    },
    "refunded": {
        "prompt": "Was the order refunded?",
        "rule": {"type": "event", "name": "order_refunded"},
    },
    "polite": {"prompt": "Was the agent polite?"},  # the LLM judge: none is configured
}


@pytest.fixture(scope="module")
def judged(console_server, agent_url) -> Iterator[Judged]:
    with console_server.client() as http:
        agent = http.post(
            "/agents", json={"name": "Evaluated", "self_hosted_deployment_url": agent_url}
        ).json()
        other = http.post(
            "/agents", json={"name": "Unevaluated", "self_hosted_deployment_url": agent_url}
        ).json()
        metrics = {}
        for name, fields in METRICS.items():
            made = http.post("/agents/metrics", json={"name": name} | fields)
            assert made.status_code == 201, made.text
            metrics[name] = made.json()
            attached = http.post(f"/agents/{agent['id']}/metrics/{metrics[name]['id']}")
            assert attached.status_code == 204

    ws, key = console_server.ws_url, console_server.api_key
    with text_call(ws, agent["id"], key) as call:
        call.next("agent_text")  # the greeting
        call.say("score 7")
        call.say("tool K1")
        call.say("bye")
        call.closed()
    with text_call(ws, other["id"], key) as plain:
        plain.next("agent_text")
        plain.say("bye")
        plain.closed()
    calls = console_server.platform.calls
    for call_id in (call.call_id, plain.call_id):  # the summary is stored after the results
        wait_for(lambda c=call_id: (calls.get(c) or {}).get("summary"), what="the analysis")
    yield Judged(agent["id"], call.call_id, plain.call_id, metrics)


def test_the_analysis_tab_shows_each_metric_result(console: Page, judged: Judged):
    console.goto(f"/console/calls/{judged.call_id}")
    console.get_by_role("tab", name="Analysis").click()
    section = console.locator("section.evaluations")
    expect(section.get_by_role("heading", name="Evaluations")).to_be_visible()
    rows = section.locator("table.metric-results tbody tr")
    expect(rows).to_have_count(3)
    # By metric name; a metric with a display name shows it, its name beneath.
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.metric)") == [
        "polite",
        "refunded",
        "scored-high",
    ]

    passing = section.locator('tr[data-metric="scored-high"]')
    cells = passing.locator("td")
    expect(cells.nth(0)).to_contain_text("Scored high")
    expect(cells.nth(0).locator("code")).to_have_text("scored-high")
    expect(cells.nth(1)).to_have_text("completed")
    expect(cells.nth(2).locator(".badge-pass")).to_have_text("✓ pass")
    expect(cells.nth(3)).to_have_text("7")
    expect(cells.nth(4)).to_have_text("metric 'score' was 7, >= 5")

    failing = section.locator('tr[data-metric="refunded"]').locator("td")
    expect(failing.nth(0)).to_have_text("refunded")  # no display name: the name alone
    expect(failing.nth(1)).to_have_text("completed")
    expect(failing.nth(2).locator(".badge-fail")).to_have_text("✗ fail")
    expect(failing.nth(2).locator(".badge-pass")).to_have_count(0)
    expect(failing.nth(3)).to_have_text("false")
    expect(failing.nth(4)).to_have_text("event 'order_refunded' never found")

    unjudged = section.locator('tr[data-metric="polite"]').locator("td")
    expect(unjudged.nth(1).locator(".badge-failed")).to_have_text("failed")
    expect(unjudged.nth(2)).to_contain_text("no verdict")  # neither pass nor fail
    expect(unjudged.nth(2).locator(".badge")).to_have_count(0)
    expect(unjudged.nth(3)).to_have_text("—")
    reason = unjudged.nth(4).locator(".error-text")
    expect(reason).to_contain_text("no LLM judge is configured")
    expect(unjudged.nth(4)).not_to_contain_text("judged again")  # final: no judge to retry

    expect(section.locator("[data-evaluations=tally]")).to_have_text("1 of 2 passed")
    # The pass and fail marks differ in colour, not only in their text.
    colours = [
        cells.nth(2).locator(".badge").evaluate("e => getComputedStyle(e).color"),
        failing.nth(2).locator(".badge").evaluate("e => getComputedStyle(e).color"),
    ]
    assert colours[0] != colours[1]
    # Metrics the agent logged are still listed apart from the judged ones.
    expect(console.locator("table.metrics")).to_contain_text("score")
    screenshot(console, "13-call-evaluations")


def test_the_page_without_javascript_has_the_results(console_server, judged: Judged):
    """The server-rendered page (what a live refresh also sends) carries the results."""
    with signed_in_client(console_server) as (client, _):
        html = client.get(f"/console/calls/{judged.call_id}?tab=analysis").text
    assert 'data-metric="scored-high"' in html and "metric &#39;score&#39; was 7, &gt;= 5" in html
    assert "event &#39;order_refunded&#39; never found" in html


def test_empty_states_and_judging_again(console: Page, console_server, judged: Judged):
    console.goto(f"/console/calls/{judged.plain_call}?tab=analysis")
    section = console.locator("section.evaluations")
    expect(section).to_contain_text("No evaluation metrics are attached to this agent")
    expect(section.locator("table")).to_have_count(0)

    # A metric attached after the call was analysed: the tab says so, and judging again
    # judges it.
    with console_server.client() as http:
        agent = http.get(f"/agents/calls/{judged.plain_call}").json()["agent_id"]
        metric = judged.metrics["refunded"]
        assert http.post(f"/agents/{agent}/metrics/{metric['id']}").status_code == 204
    console.reload()
    expect(section).to_contain_text("attached after the call was analysed")
    console.get_by_role("button", name="Run analysis again").click()
    expect(console.get_by_role("status").first).to_contain_text("Analysis finished")
    row = console.locator('section.evaluations tr[data-metric="refunded"]')
    expect(row.locator(".badge-fail")).to_be_visible()
    expect(row).to_contain_text("event 'order_refunded' never found")
