"""Fleet analytics in Chromium: the overview and an agent's dashboard over real calls
(totals, bars, and each bar's link landing on exactly the calls it counts), two
deployments compared over calls written with known numbers (and their evaluations' pass
rates), and bad input answered on the page."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from openline.domain.analytics import AnalyticsFilter
from openline.domain.calls import LogEvent, LogMetric, Role, Turn
from openline.domain.time import utcnow
from openline.store import schema
from openline.store.facts import TABLE_OF, to_row
from openline.store.rollups import queue_tallies
from tests.console.conftest import signed_in_client
from tests.console.support import screenshot, text_call, wait_for
from tests.store.test_rollups import store_results

SCORES = (1, 2, 2, 4)


def tallied(server, agent_id: str, count: int) -> None:
    """Wait for the keeper: a call is tallied a few seconds after it ends."""
    ol = server.platform
    end = utcnow() + timedelta(minutes=1)

    def counted() -> bool:
        series = ol.analytics.series(
            end - timedelta(hours=2), end, "hour", AnalyticsFilter(agent_id)
        )
        return sum(t.calls for bucket in series for t in bucket.groups.values()) >= count

    wait_for(counted, timeout=40, what=f"{count} calls of {agent_id} tallied")


@pytest.fixture(scope="module")
def scored(console_server, agent_url):
    """Four scored calls the agent hangs up and one that crashes, of agent "Scorer"; one
    more call of agent "Chatter"."""
    with console_server.client() as http:
        scorer = http.post(
            "/agents", json={"name": "Scorer", "self_hosted_deployment_url": agent_url}
        ).json()
        chatter = http.post(
            "/agents", json={"name": "Chatter", "self_hosted_deployment_url": agent_url}
        ).json()
    ws, key = console_server.ws_url, console_server.api_key
    by_score: dict[int, list[str]] = {}
    for score in SCORES:
        with text_call(ws, scorer["id"], key) as call:
            call.next("agent_text")
            call.say(f"score {score}")
            call.say("tool Q1")
            call.say("bye")
            call.closed()
        by_score.setdefault(score, []).append(call.call_id)
    with text_call(ws, scorer["id"], key) as crashed:
        crashed.next("agent_text")
        crashed.say("crash")
        crashed.closed()
    with text_call(ws, chatter["id"], key) as chat:
        chat.next("agent_text")
        chat.say("bye")
        chat.closed()
    tallied(console_server, scorer["id"], 5)
    tallied(console_server, chatter["id"], 1)
    return {
        "agent": scorer["id"],
        "other": chatter["id"],
        "by_score": by_score,
        "crashed": crashed.call_id,
    }


def listed_calls(page: Page) -> set[str]:
    expect(page.get_by_role("heading", name="Calls")).to_be_visible()
    return set(page.locator("table.calls tbody tr td:first-child").all_inner_texts())


def chart(page: Page, key: str):
    return page.locator(f"#{key} svg.chart")


def test_fleet_overview_on_the_home_page(console: Page, scored):
    console.goto("/console/")
    expect(console.get_by_role("heading", name="Fleet overview")).to_be_visible()
    tiles = console.locator("dl.tiles")
    expect(tiles.locator("div", has_text="Calls").first.locator("dd")).to_have_text("6")
    expect(tiles.locator("div", has_text="Failed").locator("dd")).to_have_text("1")
    rows = console.locator("table.by-agent tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Scorer")
    expect(rows.first.locator("td.num").first).to_have_text("5")
    expect(rows.nth(1)).to_contain_text("Chatter")
    screenshot(console, "30-fleet-overview")
    rows.first.get_by_role("link", name="Scorer").click()
    console.wait_for_url(f"**/console/agents/{scored['agent']}/analytics?range=24h")


def test_agent_dashboard_totals_bars_and_links(console: Page, scored, console_server):
    agent = scored["agent"]
    console.goto(f"/console/agents/{agent}")
    console.get_by_role("link", name="Analytics").click()
    console.wait_for_url(f"**/console/agents/{agent}/analytics")
    console.get_by_role("button", name="Last hour").click()
    console.wait_for_url("**range=1h**")
    expect(console.get_by_role("button", name="Last hour")).to_have_attribute(
        "aria-pressed", "true"
    )
    tiles = console.locator("dl.tiles")
    expect(tiles.locator("div", has_text="Calls").first.locator("dd")).to_have_text("5")
    expect(tiles.locator("div", has_text="Completed").locator("dd")).to_have_text("4")
    expect(tiles.locator("div", has_text="Failed").locator("dd")).to_have_text("1")
    totals = console.locator("section.totals")
    expect(totals.locator("tr", has_text="Ended by agent_hangup")).to_contain_text("4")
    expect(totals.locator("tr", has_text="lookup_order")).to_contain_text("4 (0)")

    # The bars, counted from the calls themselves: one per minute and status of a call.
    ol = console_server.platform
    calls = [ol.calls.get(c) for ids in scored["by_score"].values() for c in ids]
    calls.append(ol.calls.get(scored["crashed"]))
    minutes = Counter(
        (c["start_time"].replace(second=0, microsecond=0), c["status"]) for c in calls
    )
    expect(chart(console, "calls").locator("rect.bar")).to_have_count(len(minutes))
    expect(chart(console, "end-reasons").locator("rect.bar")).to_have_count(2)
    facts = ol.calls.facts([c["id"] for c in calls], (LogEvent,))
    events = {
        (c["start_time"].replace(second=0, microsecond=0), fact.event)
        for c in calls
        for fact in facts[c["id"]]
    }
    expect(chart(console, "events").locator("rect.bar")).to_have_count(len(events))
    # score 1, 2, 2, 4: bins [1, 1.5), [2, 2.5) and [4, 4.5) hold values
    expect(chart(console, "metric-score").locator("rect.bar")).to_have_count(3)
    expect(chart(console, "metric-system_call_success-values").locator("rect.bar")).to_have_count(2)
    expect(chart(console, "latency").locator("circle.point")).to_have_count(
        3 * len({minute for minute, _ in minutes})
    )
    screenshot(console, "31-agent-analytics")

    # Each bar lands on exactly the calls it counts.
    chart(console, "metric-score").get_by_role(
        "link", name="2 values of score from 2 to below 2.5"
    ).click()
    assert listed_calls(console) == set(scored["by_score"][2])
    expect(console.get_by_label("Metric", exact=True)).to_have_value("score")
    expect(console.get_by_label("value from")).to_have_value("2.0")
    screenshot(console, "32-calls-by-metric-range")
    console.go_back()
    chart(console, "calls").locator("a", has=console.locator("rect.failed")).click()
    assert listed_calls(console) == {scored["crashed"]}
    console.go_back()
    chart(console, "end-reasons").get_by_role("link", name=re.compile("agent_hangup")).click()
    assert listed_calls(console) == {c for ids in scored["by_score"].values() for c in ids}
    console.go_back()
    chart(console, "metric-system_call_success-values").get_by_role(
        "link", name=re.compile("false")
    ).click()
    assert listed_calls(console) == {scored["crashed"]}
    console.go_back()
    scored_links = chart(console, "events").locator("a", has=console.locator("rect.s0"))
    found: set[str] = set()
    for i in range(scored_links.count()):  # every bucket's bar of the commonest event
        scored_links.nth(i).click()
        found |= listed_calls(console)
        console.go_back()
    assert found == {c for ids in scored["by_score"].values() for c in ids}


def store_call(
    engine, call_id: str, agent_id: str, deployment: str, failed: bool, latency: float, score: int
) -> None:
    """A call with known numbers, written straight into the database and queued for its tally."""
    start = utcnow() - timedelta(minutes=5)
    row = {
        "id": call_id,
        "agent_id": agent_id,
        "agent_name": "Deployer",
        "deployment_id": deployment,
        "status": "failed" if failed else "completed",
        "start_time": start,
        "end_time": start + timedelta(seconds=30),
        "end_reason": "error" if failed else "agent_hangup",
        "rev": 10,
    }
    facts = [
        Turn(call_id, 1, 1, 0.5, Role.USER, "hello", end_timestamp=1.0),
        Turn(call_id, 2, 2, 1.0 + latency, Role.ASSISTANT, "hi", end_timestamp=2.0),
        LogMetric(call_id, 3, 3, 2.1, "score", score),
        LogEvent(call_id, 4, 4, 2.2, "scored", level="info"),
    ]
    with engine.begin() as connection:
        connection.execute(schema.calls.insert(), [row])
        for fact in facts:
            connection.execute(TABLE_OF[type(fact)].insert(), [to_row(fact)])
        queue_tallies(connection, [call_id], start)


def test_comparison_marks_the_worse_deployment(console: Page, console_server):
    ol = console_server.platform
    agent = ol.agents.create(name="Deployer")["id"]
    for n in range(10):  # A: no failures, 200 ms; B: 4 failures in 10, 500 ms
        store_call(ol.engine, f"call_cmp_a{n}", agent, "dep_cmp_a", False, 0.2, 5)
        store_call(ol.engine, f"call_cmp_b{n}", agent, "dep_cmp_b", n < 4, 0.5, 5)
    tallied(console_server, agent, 20)
    console.goto(f"/console/agents/{agent}/compare?range=1h")
    expect(console.get_by_label("A (baseline)")).to_have_value("dep_cmp_a")  # older first
    expect(console.get_by_label("B (compared with A)")).to_have_value("dep_cmp_b")
    rows = console.locator("table.compare tbody tr:not(.group)")
    failure = rows.filter(has_text="failure rate")
    expect(failure).to_have_class(re.compile("worse"))
    expect(failure.locator("td")).to_have_text(["0.0%", "40.0%", "new", "▲ worse"])
    latency = rows.filter(has_text="response p50")
    expect(latency).to_have_class(re.compile("worse"))
    expect(latency.locator("td").nth(0)).to_have_text("200 ms")
    expect(latency.locator("td").nth(1)).to_have_text("500 ms")
    calls = rows.filter(has_text="count").first
    expect(calls.locator("td")).to_have_text(["10", "10", "+0%", ""])
    expect(rows.filter(has_text="score mean").locator("td").nth(3)).to_have_text("")
    expect(console.locator(".verdict")).to_contain_text("worse in B")
    screenshot(console, "33-compare-deployments")

    # Swapped, B is the better one: nothing about failures is marked.
    console.get_by_label("A (baseline)").select_option("dep_cmp_b")
    console.get_by_label("B (compared with A)").select_option("dep_cmp_a")
    console.get_by_role("button", name="Compare").click()
    console.wait_for_url("**a=dep_cmp_b**")
    expect(rows.filter(has_text="failure rate")).not_to_have_class(re.compile("worse"))
    expect(console.locator(".verdict")).to_have_text(re.compile("Nothing is worse in B"))


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/console/?range=2w", 400, "Unknown range '2w'"),
        (
            "/console/?start=2026-05-02T10:00&end=2026-05-01T10:00",
            400,
            "The start must be before the end.",
        ),
        ("/console/?start=tomorrow", 400, "is not a date and time"),
        ("/console/?start=0001-01-01T00:00", 400, "is out of range"),
        ("/console/?start=2000-01-01T00:00&end=2026-01-01T00:00", 400, "too long"),
        ("/console/agents/agent_nobody/analytics", 404, "There is no agent with id agent_nobody."),
        ("/console/agents/agent_nobody/compare", 404, "There is no agent with id agent_nobody."),
    ],
)
def test_bad_input_is_answered_on_the_page(console_server, path, status, message):
    with signed_in_client(console_server) as (client, _):
        reply = client.get(path)
    assert reply.status_code == status
    assert message in reply.text.replace("&#39;", "'")


def test_bad_range_and_unknown_deployment_in_the_browser(console: Page, scored):
    agent = scored["agent"]
    console.goto(f"/console/agents/{agent}/analytics?start=2026-05-02T10:00&end=2026-05-01T10:00")
    expect(console.get_by_role("alert")).to_have_text("The start must be before the end.")
    expect(console.locator("svg.chart")).to_have_count(0)
    screenshot(console, "34-analytics-bad-range")
    console.goto(f"/console/agents/{agent}/compare?a=dep_x&b=dep_y")
    expect(console.get_by_role("alert")).to_have_text("This agent has no deployment 'dep_x'.")
    console.goto(f"/console/agents/{agent}/compare")
    expect(console.get_by_role("alert")).to_have_text(
        "Comparing needs two deployments with calls in this range."
    )


def test_evaluations_panel_and_pass_rates_compared(console: Page, console_server):
    """Two deployments' calls with known results: A passes all four, B one of three with
    a verdict (and one error)."""
    ol = console_server.platform
    agent = ol.agents.create(name="Judged")["id"]
    verdicts = {"a": ("pass",) * 4, "b": ("pass", "fail", "fail", "error")}
    for side, results in verdicts.items():
        for n, verdict in enumerate(results):
            call_id = f"call_ev_{side}{n}"
            store_results(ol.engine, call_id, scored_high=verdict)
            store_call(ol.engine, call_id, agent, f"dep_ev_{side}", False, 0.2, 5)
    tallied(console_server, agent, 8)

    console.goto(f"/console/agents/{agent}/analytics?range=1h")
    overall = chart(console, "evaluations")
    expect(overall.locator("rect.bar.completed")).to_have_count(1)
    expect(overall.locator("rect.bar.failed")).to_have_count(1)
    expect(overall.locator("text.value")).to_have_text(["71%"])  # 5 of 7
    expect(console.locator("#evaluations ul.legend")).to_have_text(re.compile("passed 5.*failed 2"))
    by_deployment = chart(console, "evaluation-scored-high")
    expect(by_deployment.locator("text.label")).to_have_text(["dep_ev_a", "dep_ev_b"])
    expect(by_deployment.locator("text.value")).to_have_text(["100%", "33%"])
    totals = console.locator("section.totals")
    expect(totals.locator("tr", has_text="scored-high")).to_contain_text("71.4% · 1 errored")
    rows = console.locator("table.evaluations tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td")).to_have_text(
        ["scored-high", "dep_ev_a", "4", "4", "0", "0", "100.0%"]
    )
    expect(rows.nth(1).locator("td")).to_have_text(
        ["scored-high", "dep_ev_b", "4", "1", "2", "1", "33.3%"]
    )
    screenshot(console, "35-agent-analytics-evaluations")
    by_deployment.get_by_role("link", name=re.compile("failed of 3")).click()
    assert listed_calls(console) == {f"call_ev_b{n}" for n in range(4)}
    console.go_back()
    rows.nth(0).get_by_role("link", name="dep_ev_a").click()
    assert listed_calls(console) == {f"call_ev_a{n}" for n in range(4)}

    console.goto(f"/console/agents/{agent}/compare?range=1h&a=dep_ev_a&b=dep_ev_b")
    compared = console.locator("table.compare tbody tr:not(.group)")
    rate = compared.filter(has_text="scored-high pass rate")
    expect(rate).to_have_class(re.compile("worse"))
    expect(rate.locator("td")).to_have_text(["100.0%", "33.3%", "-67 pts", "▲ worse"])
    expect(console.locator("table.compare tr.group", has_text="evaluations")).to_have_count(1)
    expect(console.locator(".verdict")).to_contain_text("a pass rate more than 10 points down")
    screenshot(console, "36-compare-pass-rates")

    console.goto("/console/?range=1h")  # the fleet's: by agent
    expect(console.get_by_role("heading", name="Evaluations by agent")).to_be_visible()
    judged = console.locator("table.evaluations tbody tr", has_text="Judged")
    expect(judged.locator("td")).to_have_text(
        ["scored-high", "Judged", "8", "5", "2", "1", "71.4%"]
    )
