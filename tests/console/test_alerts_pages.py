"""The alerts pages in Chromium, on a server evaluating its rules every 0.2 s: the list
(states, firing rules first, values against thresholds, scope), the overview's banner
while rules fire (and once one resolves), a rule's page (its chart with the threshold
across it, its transitions with their example calls), its history paged by cursor; and,
without a browser, the chart's geometry and how a value is shown against its threshold."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from openline.config import Settings
from openline.console import alerts as alert_pages
from openline.console._web import templates
from openline.console.charts import HEIGHT, LEFT, PLOT_H, PLOT_W, RIGHT, TOP, WIDTH
from openline.console.time_range import field as input_field
from openline.domain.alerts import parse_rule, rule_json
from openline.domain.time import rfc3339, utcnow
from openline.store.pagination import PageRequest
from tests.conftest import TEST_KEY
from tests.console.support import text_call, wait_for
from tests.support.servers import RunningServer, openline_server

SVG = "{http://www.w3.org/2000/svg}"
ALWAYS = {  # no calls: 0 >= 0 breaches at the first evaluation (scoped to an agent without any)
    "name": "always",
    "measure": {"type": "call_count"},
    "window": "15m",
    "comparison": ">=",
    "threshold": 0,
    "min_calls": 0,
}
NEVER = ALWAYS | {"name": "never", "comparison": "<"}  # a count is never below 0


@pytest.fixture(scope="module")
def console_server(tmp_path_factory) -> Iterator[RunningServer]:
    """This module's server: the conftest's, its alerts evaluated every 0.2 s."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("console-alerts") / "data",
        api_key=TEST_KEY,
        start_example_agent=False,
        alert_interval_s=0.2,
    )
    with openline_server(settings) as running:
        yield running


@dataclass
class Rules:
    agent_id: str  # "Front desk": one call, which crashed
    quiet_id: str  # "Quiet line": no calls
    always: str  # firing: Quiet line's call count (0) >= 0
    never: str  # ok: every agent's call count (1) is not below 0
    failing: str  # firing: Front desk's failure rate (1) > 0.2
    crashed_call: str

    def always_rule(self, name: str) -> dict:
        """Another rule that fires at once (and can be resolved, see ``resolve``)."""
        return ALWAYS | {"name": name, "scope": {"agent_id": self.quiet_id}}


def create_rule(server: RunningServer, rule: dict) -> str:
    with server.client() as http:
        reply = http.post("/agents/alerts", json=rule)
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def state_of(server: RunningServer, rule_id: str, state: str) -> dict:
    """The rule once the evaluator has put it in ``state``."""
    alerts = server.platform.alerts

    def reached() -> dict | None:
        rule = alerts.get(rule_id)
        return rule if rule and rule["state"] == state and rule["evaluated_at"] else None

    return wait_for(reached, timeout=40, what=f"{rule_id} {state}")


def samples_of(server: RunningServer, rule_id: str, count: int) -> list[dict]:
    def enough() -> list[dict] | None:
        now = utcnow()
        found = server.platform.alerts.samples(rule_id, now - timedelta(hours=1), now)
        return found if len(found) >= count else None

    return wait_for(enough, timeout=20, what=f"{count} samples of {rule_id}")


def resolve(server: RunningServer, rule_id: str) -> None:
    """Move a firing count rule's threshold out of reach; wait for it to resolve."""
    with server.client() as http:
        reply = http.patch(
            f"/agents/alerts/{rule_id}", json={"threshold": 5, "resolve_threshold": 5}
        )
    assert reply.status_code == 200, reply.text
    state_of(server, rule_id, "resolved")


def delete(server: RunningServer, rule_id: str) -> None:
    with server.client() as http:
        assert http.delete(f"/agents/alerts/{rule_id}").status_code == 204


@pytest.fixture(scope="module")
def rules(console_server: RunningServer, agent_url: str) -> Rules:
    agent_id = console_server.create_agent("Front desk", self_hosted_deployment_url=agent_url)
    quiet_id = console_server.create_agent("Quiet line", self_hosted_deployment_url=agent_url)
    with text_call(console_server.ws_url, agent_id, console_server.api_key) as crashed:
        crashed.next("agent_text")
        crashed.say("crash")
        crashed.closed()
    always = create_rule(console_server, ALWAYS | {"scope": {"agent_id": quiet_id}})
    failing = create_rule(
        console_server,
        {
            "name": "front desk failing",
            "scope": {"agent_id": agent_id},
            "measure": {"type": "failure_rate"},
            "window": "15m",
            "comparison": ">",
            "threshold": 0.2,
            "min_calls": 1,
        },
    )
    never = create_rule(console_server, NEVER)
    state_of(console_server, always, "firing")
    state_of(console_server, failing, "firing")  # once the crashed call is tallied
    alerts = console_server.platform.alerts
    wait_for(
        lambda: (alerts.get(never) or {}).get("value") == 1 and alerts.get(never)["state"] == "ok",
        what="never evaluated with the call counted",
    )
    samples_of(console_server, always, 3)
    return Rules(agent_id, quiet_id, always, never, failing, crashed.call_id)


def saved(page: Page, path: Path) -> Path:
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, f"{path} is not a screenshot of a page"
    return path


# -- the list --------------------------------------------------------------------------------


def test_the_list_shows_every_rule_firing_first(console: Page, rules: Rules, tmp_path: Path):
    console.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    console.wait_for_url("**/console/alerts")
    expect(console.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    expect(console.get_by_role("link", name="Alerts", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    rows = console.locator("table.alerts tbody tr")
    expect(rows).to_have_count(3)
    # Newest first, firing ones before the rest: "never" is the newest, but not firing.
    expect(rows.nth(0)).to_have_attribute("data-rule", rules.failing)
    expect(rows.nth(1)).to_have_attribute("data-rule", rules.always)
    expect(rows.nth(2)).to_have_attribute("data-rule", rules.never)

    failing, always, never = rows.nth(0), rows.nth(1), rows.nth(2)
    expect(failing.locator(".badge")).to_have_text("firing")
    expect(failing).to_have_class("state-firing")
    expect(failing.locator("td.versus")).to_have_text("1 > 0.2")  # its one call failed
    expect(failing.get_by_role("link", name="Front desk", exact=True)).to_have_attribute(
        "href", f"/console/agents/{rules.agent_id}"
    )
    expect(always.locator(".badge")).to_have_text("firing")
    expect(always.locator("td.versus")).to_have_text("0 ≥ 0")
    expect(always.locator("td").nth(3)).to_have_text("15m")
    expect(always.get_by_role("link", name="Quiet line")).to_have_attribute(
        "href", f"/console/agents/{rules.quiet_id}"
    )
    expect(always.locator("td").nth(5)).to_have_text("0")
    expect(always.locator("td").nth(6)).to_contain_text("UTC")
    expect(never.locator(".badge")).to_have_text("ok")
    expect(never).to_have_class("state-ok")
    expect(never.locator("td.versus")).to_have_text("1 ≥ 0")  # clear: not below 0
    expect(never.locator("td").nth(4)).to_have_text("All agents")
    expect(never.locator("td").nth(5)).to_have_text("1")
    expect(console.locator(".page-head")).to_contain_text("3 rules, 2 firing")
    # Firing stands out: the badge is filled with the danger colour, the others are not.
    filled = always.locator(".badge").evaluate("e => getComputedStyle(e).backgroundColor")
    plain = never.locator(".badge").evaluate("e => getComputedStyle(e).backgroundColor")
    assert filled == "rgb(180, 35, 24)" and plain != filled
    saved(console, tmp_path / "alerts.png")

    always.get_by_role("link", name="always").click()
    console.wait_for_url(f"**/console/alerts/{rules.always}")


# -- the overview's banner ---------------------------------------------------------------------


def banner(page: Page):
    return page.locator("p.alert-banner")


def test_the_overview_banner_names_the_rules_firing(
    console: Page, rules: Rules, console_server: RunningServer, tmp_path: Path
):
    console.goto("/console/")
    expect(console.get_by_role("heading", name="Fleet overview")).to_be_visible()
    expect(banner(console)).to_have_text("⚠ 2 alerts firing: front desk failing, always")
    expect(banner(console)).to_have_attribute("role", "alert")
    expect(banner(console).get_by_role("link", name="never")).to_have_count(0)

    flapper = create_rule(console_server, rules.always_rule("flapper"))
    try:
        state_of(console_server, flapper, "firing")
        console.reload()
        expect(banner(console)).to_have_text(
            "⚠ 3 alerts firing: flapper, front desk failing, always"
        )
        expect(banner(console).get_by_role("link", name="flapper")).to_have_attribute(
            "href", f"/console/alerts/{flapper}"
        )
        saved(console, tmp_path / "overview.png")
        resolve(console_server, flapper)
        console.reload()
        expect(banner(console)).to_have_text("⚠ 2 alerts firing: front desk failing, always")
    finally:
        delete(console_server, flapper)

    banner(console).get_by_role("link", name="2 alerts firing").click()
    console.wait_for_url("**/console/alerts")
    expect(console.locator("table.alerts tbody tr")).to_have_count(3)


# -- a rule's page --------------------------------------------------------------------------------


def test_a_rule_page_charts_its_measure_and_lists_its_transitions(
    console: Page, rules: Rules, console_server: RunningServer, tmp_path: Path
):
    console.goto(f"/console/alerts/{rules.always}")
    expect(console.get_by_role("heading", name="always", exact=True)).to_be_visible()
    expect(console.locator(".page-head .badge")).to_have_text("firing")
    expect(console.locator(".lead")).to_have_text(
        console_server.platform.alerts.get(rules.always)["description"]
    )
    facts = console.locator("dl.facts").first
    expect(facts.locator("div", has_text="Firing since").locator("dd")).to_contain_text("UTC")
    expect(facts.locator("div", has_text="Value").locator("dd")).to_have_text("0 ≥ 0")
    expect(facts.locator("div", has_text="Scope").get_by_role("link")).to_have_text("Quiet line")
    expect(console.locator("ul.targets")).to_have_count(0)  # no targets: said so
    expect(console.get_by_text("none: the state is kept, nobody is told")).to_be_visible()

    # The chart: the samples as points (all 0: no calls), the threshold (0) across it,
    # both at the foot of the plot (a scale of 0 to 1).
    chart = ET.fromstring(console.locator("#measure svg.chart").evaluate("e => e.outerHTML"))
    across = [e.attrib for e in chart.iter(f"{SVG}line") if "across" in e.attrib["class"]]
    assert [a["class"] for a in across] == ["across threshold"]
    foot = f"{TOP + PLOT_H:.1f}"
    assert (across[0]["y1"], across[0]["y2"]) == (foot, foot)
    assert (across[0]["x1"], across[0]["x2"]) == (str(LEFT), str(WIDTH - RIGHT))
    points = [e.attrib for e in chart.iter(f"{SVG}circle")]
    assert points and all(p["class"] == "point measure" and p["cy"] == foot for p in points)
    expect(console.locator("#measure")).to_contain_text("fires ≥ 0")

    # The history: the store's transitions, newest first, the firing one with its value.
    stored = console_server.platform.alerts.history(rules.always, PageRequest(25)).rows
    rows = console.locator("table.history tbody tr")
    expect(rows).to_have_count(len(stored))
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.transition)") == [
        t["id"] for t in stored
    ]
    fired = console.locator(f'tr[data-transition="{stored[0]["id"]}"]')
    expect(fired.locator(".badge").nth(1)).to_have_text("firing")
    expect(fired.locator(".badge").nth(0)).to_have_text(stored[0]["from_state"])
    expect(fired.locator("td.versus")).to_have_text("0 ≥ 0")
    expect(fired.locator("td").nth(3)).to_have_text("0")
    saved(console, tmp_path / "rule.png")


def test_a_transition_links_its_example_calls(
    console: Page, rules: Rules, console_server: RunningServer, tmp_path: Path
):
    console.goto(f"/console/alerts/{rules.failing}")
    expect(console.get_by_role("heading", name="front desk failing")).to_be_visible()
    facts = console.locator("dl.facts").first
    expect(facts.get_by_role("link", name="Front desk", exact=True)).to_have_attribute(
        "href", f"/console/agents/{rules.agent_id}"
    )
    fired = console.locator("table.history tbody tr.state-firing")
    expect(fired).to_have_count(1)
    expect(fired.locator("td.versus")).to_have_text("1 > 0.2")
    example = fired.get_by_role("link", name=rules.crashed_call)
    expect(example).to_have_attribute("href", f"/console/calls/{rules.crashed_call}")
    # The chart's points link to the calls their windows held: the agent's.
    point = console.locator("#measure svg.chart a").first
    assert f"agent={rules.agent_id}" in (point.get_attribute("href") or "")
    saved(console, tmp_path / "failing.png")
    example.click()
    console.wait_for_url(f"**/console/calls/{rules.crashed_call}")
    expect(console.locator("dl.facts .badge").first).to_have_text("failed")


def test_the_history_is_paged_by_cursor(
    console: Page, rules: Rules, console_server: RunningServer, monkeypatch
):
    monkeypatch.setattr(alert_pages, "HISTORY_PAGE", 1)  # the server runs in this process
    flapper = create_rule(console_server, rules.always_rule("paged"))
    try:
        state_of(console_server, flapper, "firing")
        resolve(console_server, flapper)
        stored = console_server.platform.alerts.history(flapper, PageRequest(25)).rows
        assert [t["to_state"] for t in stored] == ["resolved", "firing"]
        newest, oldest = stored

        console.goto(f"/console/alerts/{flapper}")
        rows = console.locator("table.history tbody tr")
        expect(rows).to_have_count(1)
        expect(rows).to_have_attribute("data-transition", newest["id"])
        expect(console.get_by_role("link", name="← Newer")).to_have_count(0)
        console.get_by_role("link", name="Older →").click()
        console.wait_for_url(f"**starting_after={newest['id']}")
        expect(rows).to_have_attribute("data-transition", oldest["id"])
        expect(rows.locator(".badge").nth(1)).to_have_text("firing")
        expect(console.get_by_role("link", name="Older →")).to_have_count(0)
        console.get_by_role("link", name="← Newer").click()
        console.wait_for_url(f"**ending_before={oldest['id']}")
        expect(rows).to_have_attribute("data-transition", newest["id"])
    finally:
        delete(console_server, flapper)


def test_an_objective_is_shown_against_its_burn_conditions(
    console: Page, rules: Rules, console_server: RunningServer, tmp_path: Path
):
    objective = create_rule(
        console_server,
        {
            "name": "answers fast",
            "kind": "objective",
            "scope": {"agent_id": rules.quiet_id},  # no turns: no burn rate yet
            "objective": {"latency": "response", "target_s": 1.2, "ratio": 0.95, "period": "7d"},
        },
    )
    try:
        wait_for(
            lambda: (console_server.platform.alerts.get(objective) or {}).get("evaluated_at"),
            what="the objective evaluated",
        )
        console.goto("/console/alerts")
        row = console.locator(f'table.alerts tr[data-rule="{objective}"]')
        expect(row.locator("td").nth(3)).to_have_text("7d period")
        expect(row.locator("td.versus")).to_have_text("— (fires ≥ 14.4)")
        row.get_by_role("link", name="answers fast").click()
        console.wait_for_url(f"**/console/alerts/{objective}")
        expect(console.locator("#measure-h")).to_contain_text("Burn rate since")
        expect(
            console.get_by_text("95% of turns' response latency within 1.2 s over 7d")
        ).to_be_visible()
        # A 7-day period scales the workbook's windows: fast 14m and 70s, slow 84m and 7m.
        fast = console.locator('table.burn tr[data-condition="fast"]')
        expect(fast.locator("td").nth(0)).to_have_text("14m: — (fires ≥ 14.4)")
        expect(fast.locator("td").nth(1)).to_have_text("70s: — (fires ≥ 14.4)")
        slow = console.locator('table.burn tr[data-condition="slow"]')
        expect(slow.locator("td").nth(0)).to_have_text("84m: — (fires ≥ 6)")
        chart = ET.fromstring(console.locator("#measure svg.chart").evaluate("e => e.outerHTML"))
        labels = [t.text for t in chart.iter(f"{SVG}text") if "across" in t.attrib["class"]]
        assert labels == ["fast ≥ 14.4", "slow ≥ 6"]
        expect(console.get_by_text("Error budget left")).to_have_count(0)  # no turns yet
        saved(console, tmp_path / "objective.png")
    finally:
        delete(console_server, objective)


def test_an_unknown_rule_is_not_found(console: Page, rules: Rules):
    reply = console.goto("/console/alerts/alert_nobody")
    assert reply is not None and reply.status == 404
    expect(console.get_by_role("heading", name="Not found")).to_be_visible()
    expect(console.get_by_text("There is no alert rule with id alert_nobody.")).to_be_visible()
    console.get_by_role("link", name="Go back").click()
    console.wait_for_url("**/console/alerts")


# -- without a browser ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "comparison", "threshold", "shown"),
    [
        (0.6, ">", 0.2, "0.6 > 0.2"),
        (0.1, ">", 0.2, "0.1 ≤ 0.2"),
        (0.2, ">=", 0.2, "0.2 ≥ 0.2"),
        (0.5, "<", 1, "0.5 < 1"),
        (3, "<=", 1, "3 > 1"),
        (None, ">", 0.2, "— (fires > 0.2)"),
        (14.4, None, None, "14.4"),
    ],
)
def test_a_value_is_shown_as_the_relation_that_holds(value, comparison, threshold, shown):
    assert alert_pages.versus(value, comparison, threshold) == shown


def test_the_chart_shows_each_slots_worst_value_and_the_thresholds():
    end = utcnow().replace(microsecond=0)
    start = end - timedelta(minutes=10)
    rule = {
        "name": "slow",
        "comparison": ">",
        "threshold": 2.0,
        "resolve_threshold": 1.0,
        "window_s": 60,
        "scope": {"agent_id": "agent_x", "deployment_id": None, "metadata": {}},
    }

    def sample(minute: float, value: float | None) -> dict:
        return {"at": rfc3339(start + timedelta(minutes=minute)), "value": value, "calls": 3}

    # Evaluated every 30 s, a slot of two: 60 s (10 slots). Slot 0 holds 1 and 3 (3 is
    # shown), slot 5 has no value, slot 9 a 4.
    shown = alert_pages.measure_chart(
        rule, [sample(0.1, 1), sample(0.5, 3), sample(5.5, None), sample(9.9, 4)], start, end, 30
    )
    svg = ET.fromstring(str(shown.svg))
    points = [c.attrib for c in svg.iter(f"{SVG}circle")]
    slot = PLOT_W / 10
    top = 5  # the highest value is 4: the scale goes to 5
    assert [(float(p["cx"]), float(p["cy"])) for p in points] == [
        pytest.approx((LEFT + 0.5 * slot, TOP + PLOT_H * (1 - 3 / top)), abs=0.06),
        pytest.approx((LEFT + 9.5 * slot, TOP + PLOT_H * (1 - 4 / top)), abs=0.06),
    ]
    across = {e.attrib["class"]: float(e.attrib["y1"]) for e in svg.iter(f"{SVG}line")}
    assert across["across threshold"] == pytest.approx(TOP + PLOT_H * (1 - 2 / top), abs=0.06)
    assert across["across resolve"] == pytest.approx(TOP + PLOT_H * (1 - 1 / top), abs=0.06)
    # Each point links to the calls its window held: a window (60 s) up to its sample.
    first = parse_qs(urlsplit(next(svg.iter(f"{SVG}a")).attrib["href"]).query)
    assert first == {
        "agent": ["agent_x"],
        "after": [input_field(start - timedelta(seconds=30))],
        "before": [input_field(start + timedelta(seconds=31))],
    }
    assert float(svg.attrib["viewBox"].split()[3]) == HEIGHT


def test_a_threshold_above_every_value_stays_on_the_chart():
    end = utcnow()
    start = end - timedelta(minutes=5)
    rule = {"name": "r", "comparison": "<", "threshold": 10, "resolve_threshold": 10}
    samples = [{"at": rfc3339(end - timedelta(minutes=1)), "value": 1, "calls": 0}]
    svg = ET.fromstring(str(alert_pages.measure_chart(rule, samples, start, end, 30).svg))
    (line,) = [e.attrib for e in svg.iter(f"{SVG}line") if "across" in e.attrib["class"]]
    assert float(line["y1"]) == pytest.approx(TOP)  # the scale reaches 10, the threshold


def test_an_objective_page_shows_its_budget_left_and_burn_rates():
    """Rendered without a server, from the rule's JSON as the store shows it (its detail
    as the evaluator writes it): the budget is overspent, the fast condition burning."""
    spec = parse_rule(
        {
            "kind": "objective",
            "objective": {"latency": "response", "target_s": 1.2, "ratio": 0.95, "period": "30d"},
        }
    ).spec()
    now = utcnow()
    conditions = {
        "fast": {"factor": 14.4, "long_window_s": 3600, "short_window_s": 300,
                 "long_burn_rate": 20.0, "short_burn_rate": 18.5},
        "slow": {"factor": 6.0, "long_window_s": 21600, "short_window_s": 1800,
                 "long_burn_rate": 7.25, "short_burn_rate": None},
    }  # fmt: skip
    detail = {"conditions": conditions, "condition": "fast", "budget_left": -0.125}
    row = {
        "id": "alert_x",
        "name": "answers fast",
        "spec": spec,
        "detail": detail,
        "enabled": True,
        "state": "firing",
        "state_since": now,
        "fired_at": now,
        "value": 20.0,
        "calls": 12,
        "evaluated_at": now,
        "created_at": now - timedelta(days=2),
        "updated_at": now - timedelta(days=2),
    }
    rule = rule_json(row, [])
    samples = [
        {"at": rfc3339(now - timedelta(minutes=m)), "value": 20.0, "calls": 12} for m in (3, 2)
    ]
    view = alert_pages.rule_view(rule, {}, samples, now - timedelta(hours=24), now, 30)
    html = templates.get_template("alert.html").render(
        view | {"transitions": [], "paged": False, "csrf_token": "t", "signed_in": True}
    )
    found = ET.fromstring(str(view["chart"].svg))
    assert [t.text for t in found.iter(f"{SVG}text") if "across" in t.attrib["class"]] == [
        "fast ≥ 14.4",
        "slow ≥ 6",
    ]
    assert view["row"]["versus"] == "20 ≥ 14.4"
    assert view["row"]["window"] == "30d period"
    assert (
        '<dd class="budget bad">-12.5% <span class="small">(objective missed)</span></dd>' in html
    )
    assert '<td class="versus">1h: 20 ≥ 14.4</td><td class="versus">5m: 18.5 ≥ 14.4</td>' in html
    assert '<td class="versus">6h: 7.25 ≥ 6</td><td class="versus">30m: — (fires ≥ 6)</td>' in html
