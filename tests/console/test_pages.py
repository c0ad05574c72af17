"""Agents, calls and a call's tabs, in Chromium, over calls made by a real agent."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from openline import ids
from openline.domain.time import utcnow
from openline.store.blobs import recording_key
from tests.console.conftest import signed_in_client
from tests.console.support import screenshot, wait_for
from tests.support.recordings import record_call


def test_agents_list_and_agent_page(console: Page, scenario):
    expect(console.get_by_role("heading", name="Agents")).to_be_visible()
    rows = console.locator("table.agents tbody tr")
    expect(rows).to_have_count(2)
    desk = rows.filter(has_text="Order desk")
    expect(desk).to_contain_text("Receiver")  # its webhook, by name
    expect(desk.locator("td.num")).to_contain_text("1")
    screenshot(console, "03-agents")

    desk.get_by_role("link", name="Order desk").click()
    console.wait_for_url(f"**/console/agents/{scenario.agent_id}")
    expect(console.get_by_role("heading", name="Order desk")).to_be_visible()
    expect(console.get_by_text("Looks up orders.")).to_be_visible()
    webhook = console.locator("section", has=console.get_by_role("heading", name="Webhook"))
    expect(webhook).to_contain_text(scenario.receiver_url)
    expect(console.locator("ul.env")).to_contain_text("ORDER_API_TOKEN")  # the name only
    expect(console.locator("table.calls")).to_contain_text(scenario.main_call)
    expect(console.get_by_role("heading", name="Deployments")).to_be_visible()
    assert scenario.env_value not in console.content()
    screenshot(console, "04-agent")


def test_filter_calls(console: Page, scenario, console_server):
    seed_calls(console_server, scenario.other_agent_id, 30)  # enough for two pages
    console.goto("/console/calls")
    listed = console.locator("table.calls tbody tr")
    expect(listed).to_have_count(25)
    screenshot(console, "05-calls")

    # In the browser: the filter form, then the pages of a filtered list.
    console.get_by_label("Said in the call").fill("a123")  # case-insensitive
    console.get_by_label("Status").select_option("completed")
    console.get_by_role("button", name="Filter").click()
    console.wait_for_url("**q=a123**")
    expect(listed).to_have_count(1)
    expect(listed.first).to_contain_text(scenario.main_call)
    screenshot(console, "06-calls-filtered")

    console.goto(f"/console/calls?agent={scenario.other_agent_id}")
    expect(console.get_by_label("Agent")).to_have_value(scenario.other_agent_id)
    first_page = listed.locator("td:first-child").all_inner_texts()
    console.get_by_role("link", name="Older →").click()
    console.wait_for_url("**starting_after=**")
    assert f"agent={scenario.other_agent_id}" in console.url  # filters are kept
    expect(listed).to_have_count(32 - 25)
    assert not set(listed.locator("td:first-child").all_inner_texts()) & set(first_page)
    expect(console.get_by_role("link", name="Older →")).to_have_count(0)
    console.get_by_role("link", name="← Newer").click()
    expect(listed).to_have_count(25)
    assert listed.locator("td:first-child").all_inner_texts() == first_page

    # Every other filter, on the same pages fetched directly (faster than a browser).
    later = (utcnow() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    cases = [
        ({"name": "order_processed"}, {scenario.main_call}),  # an event's name
        ({"name": "metric_name"}, {scenario.main_call}),  # a metric's name
        ({"name": "no_such_event"}, set()),
        ({"status": "failed"}, {scenario.failed_call}),
        ({"end_reason": "agent_hangup"}, {scenario.main_call}),
        ({"end_reason": "error"}, {scenario.failed_call}),
        ({"agent": scenario.agent_id}, {scenario.main_call}),
        ({"q": "LOVELY"}, {scenario.plain_call}),
        ({"q": "100%"}, set()),  # % is literal
        (
            {"agent": scenario.other_agent_id, "status": "completed", "after": "2021-01-01T00:00"},
            {scenario.plain_call},
        ),
        ({"after": later}, set()),
        ({"deployment": "dep_none"}, set()),
    ]
    with signed_in_client(console_server) as (client, _):
        for query, expected in cases:
            html = client.get("/console/calls", params=query).text
            assert set(re.findall(r'href="/console/calls/(call_\w+)"', html)) == expected, query
        old = client.get("/console/calls", params={"before": "2020-01-01T00:10:00"}).text
        assert len(re.findall(r'href="/console/calls/(call_\w+)"', old)) == 10
        bad = client.get("/console/calls", params={"status": "sleeping", "after": "soon"}).text
        assert "unknown status" in bad and "not a date and time" in bad


def test_call_page_transcript_shows_turns_tools_events_and_metrics(console: Page, scenario):
    console.goto(f"/console/calls?agent={scenario.agent_id}")
    console.get_by_role("link", name=scenario.main_call).click()
    console.wait_for_url(f"**/console/calls/{scenario.main_call}")
    expect(console.get_by_role("tab", name="Transcript")).to_have_attribute("aria-selected", "true")
    transcript = console.locator("ol.transcript")
    expect(transcript.locator(".entry.role-user").first).to_contain_text("tool A123")
    tool = transcript.locator(".tool").first
    expect(tool.locator(".name")).to_have_text("lookup_order")
    expect(tool.locator(".args")).to_have_text('{"order_id": "A123"}')
    expect(tool.locator(".result")).to_have_text("shipped")

    # The event the agent's code logged, between the turns, where it happened.
    event = transcript.locator(".entry-event", has_text="order_processed")
    expect(event).to_contain_text("Processed order A123")
    expect(event.locator(".level")).to_have_text("info")
    metric = transcript.locator(".entry-metric", has_text="orders_looked_up")
    expect(metric.locator(".value")).to_have_text("1")
    keys = transcript.locator(".entry").evaluate_all("es => es.map(e => e.id)")
    times = transcript.locator(".entry").evaluate_all("es => es.map(e => +e.dataset.t)")
    assert times == sorted(times)
    user_turn = transcript.locator(".entry.role-user", has_text="tool A123").get_attribute("id")
    reply = transcript.locator(".entry.role-assistant", has_text="Order A123 has shipped.")
    assert keys.index(user_turn) < keys.index(event.get_attribute("id"))
    assert keys.index(event.get_attribute("id")) < keys.index(metric.get_attribute("id"))
    expect(reply).to_be_visible()
    bare = transcript.locator(".entry-event", has_text="bare_event")
    expect(bare).to_be_visible()

    # Each entry opens on its metadata, laid out readably.
    event.locator("summary").click()
    shown = json.loads(event.locator("pre.json").inner_text())
    assert shown["metadata"] == {"status": "shipped", "order_id": "A123"}
    # laid out by the page's script on the toggle event, which follows the click
    wait_for(lambda: "\n  " in event.locator("pre.json").inner_text(), what="indented JSON")
    reply.locator("summary").click()
    details = reply.locator("pre.json")
    turn = json.loads(details.first.inner_text())
    assert turn["role"] == "assistant" and turn["end_reason"] == "tts_completed"
    assert json.loads(details.nth(1).inner_text())["arguments"] == {"order_id": "A123"}
    header = console.locator("[data-live=header]")
    expect(header).to_contain_text("completed")
    expect(header).to_contain_text("agent_hangup")
    screenshot(console, "07-call-transcript")


def test_call_tabs_logs_webhooks_analysis_recording(console: Page, scenario, console_server):
    console.goto(f"/console/calls/{scenario.main_call}")
    logs_tab = console.get_by_role("tab", name="Logs")
    logs_tab.click()
    expect(console.locator("#panel-logs")).to_be_visible()
    expect(console.locator("#panel-transcript")).to_be_hidden()
    assert "tab=logs" in console.url
    rows = console.locator("table.logs tbody tr")
    expect(rows).to_have_count(5)
    console.get_by_label("Level (and above)").select_option("error")  # applies at once
    console.wait_for_url("**level=error**")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("line 3 at error")
    expect(rows.first.locator("pre.exc")).to_have_text("Traceback: boom")
    console.get_by_label("Level (and above)").select_option("warning")
    console.wait_for_url("**level=warning**")
    expect(rows).to_have_count(2)
    screenshot(console, "08-call-logs")

    console.get_by_role("tab", name="Webhooks").click()
    deliveries = console.locator("table.deliveries tbody tr")
    expect(deliveries.first).to_contain_text("call_started")
    completed = deliveries.filter(has_text="call_completed")
    expect(completed).to_contain_text("HTTP 200")
    expect(completed).to_contain_text("delivered")
    expect(deliveries.filter(has_text="post_call_analysis")).to_have_count(1)
    screenshot(console, "09-call-webhooks")
    seen = len(scenario.receiver.seen_ids)
    completed.get_by_role("button", name="Redeliver").click()
    expect(console.get_by_role("status").first).to_contain_text("Queued for delivery again")
    expect(console.get_by_role("tab", name="Webhooks")).to_have_attribute("aria-selected", "true")
    wait_for(lambda: len(scenario.receiver.seen_ids) > seen, what="the redelivery")
    console.reload()
    expect(
        console.locator("table.deliveries tbody tr", has_text="call_completed").locator(
            "li.attempt"
        )
    ).to_have_count(2)

    console.get_by_role("tab", name="Analysis").click()
    summary = console.locator(".analysis .summary")
    expect(summary).not_to_be_empty()
    metrics = console.locator("table.metrics")
    expect(metrics).to_contain_text("orders_looked_up")
    expect(metrics).to_contain_text("metric_value")
    screenshot(console, "10-call-analysis")

    console.get_by_role("tab", name="Timeline").click()
    expect(console.get_by_text("No recording for this call.")).to_be_visible()


def test_tabs_work_from_the_keyboard(console: Page, scenario):
    console.goto(f"/console/calls/{scenario.plain_call}")
    transcript_tab = console.get_by_role("tab", name="Transcript")
    transcript_tab.focus()
    console.keyboard.press("ArrowRight")
    logs = console.get_by_role("tab", name="Logs")
    expect(logs).to_be_focused()
    expect(logs).to_have_attribute("aria-selected", "true")
    expect(console.get_by_role("tabpanel", name="Logs")).to_be_visible()
    console.keyboard.press("End")
    expect(console.get_by_role("tab", name="Analysis")).to_be_focused()
    expect(console.get_by_role("tabpanel", name="Analysis")).to_be_visible()
    console.keyboard.press("ArrowRight")  # wraps around
    expect(transcript_tab).to_be_focused()
    # Only the selected tab is in the tab order; Tab moves on into its panel.
    assert console.locator('[role="tab"][tabindex="0"]').count() == 1
    console.keyboard.press("Tab")
    expect(console.get_by_role("tabpanel", name="Transcript")).to_be_focused()
    outline = console.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible


def seed_calls(server, agent_id: str, count: int) -> None:
    """Old finished calls straight into the store (ids in time order)."""
    start = datetime(2020, 1, 1, tzinfo=UTC)
    for n in range(count):
        at = start + timedelta(minutes=n)
        server.platform.calls.create(
            {
                "id": ids.new_id(ids.CALL, int(at.timestamp() * 1000)),
                "agent_id": agent_id,
                "agent_name": "Small talk",
                "status": "completed",
                "start_time": at,
                "end_time": at + timedelta(seconds=30),
                "end_reason": "client_hangup",
                "telephony_params": {"from": "websocket"},
                "rev": 0,
            }
        )


def test_no_page_shows_a_secret(console_server, scenario):
    with signed_in_client(console_server) as (client, _):
        pages = [
            "/console/agents",
            f"/console/agents/{scenario.agent_id}",
            "/console/calls",
            f"/console/calls/{scenario.main_call}",
            f"/console/calls/{scenario.main_call}?tab=webhooks",
            "/console/playground",
        ]
        for path in pages:
            html = client.get(path).text
            assert console_server.api_key not in html, path
            assert scenario.webhook_secret not in html, path
            assert scenario.env_value not in html, path
            assert not re.search(r"ol_[A-Za-z0-9_-]{20,}", html), path


@pytest.fixture
def recordings(console_server, scenario) -> Iterator[bytes]:
    """A recording of the main call in the server's blob store, as a voice call leaves
    one (2 s: the caller speaks, then the agent), for as long as the test runs."""
    blobs = console_server.platform.blobs
    yield record_call(blobs, scenario.main_call, seconds=2.0)
    blobs.delete(recording_key(scenario.main_call))


def test_recording_player_waveform_seek_and_download(
    console: Page, console_server, scenario, recordings
):
    api_audio = f"{console_server.base_url}/agents/calls/{scenario.main_call}/audio"
    assert httpx.get(api_audio).status_code == 401  # the API wants a key; the console, a session
    console.goto(f"/console/calls/{scenario.main_call}")  # recorded: opens on its timeline
    box = console.locator(".timeline")
    expect(box).to_have_attribute("data-audio-state", "ready")
    waveform = console.get_by_role("slider", name="Recording position")
    expect(waveform).to_have_attribute("data-channels", "2")
    drawn = waveform.evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let lit = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3]) lit++;
                  return lit / (d.length / 4); }"""
    )
    assert 0.05 < drawn < 0.95  # a waveform, not a blank or a filled box
    screenshot(console, "14-call-recording")

    audio = console.locator(".timeline audio")
    bounds = waveform.bounding_box()
    waveform.click(position={"x": bounds["width"] * 0.75, "y": bounds["height"] / 2})
    assert abs(audio.evaluate("a => a.currentTime") - 1.5) < 0.1
    expect(waveform).to_have_attribute("aria-valuetext", "0:01 of 0:02")
    waveform.press("Home")
    assert audio.evaluate("a => a.currentTime") == 0
    waveform.press("End")
    assert abs(audio.evaluate("a => a.currentTime") - 2.0) < 0.05

    with console.expect_download() as download:
        console.get_by_role("link", name="Download WAV").click()
    assert download.value.suggested_filename == f"{scenario.main_call}.wav"
    assert Path(download.value.path()).read_bytes() == recordings

    # A call without a recording says so, though recordings exist (and the tab's old
    # name still leads there).
    console.goto(f"/console/calls/{scenario.plain_call}?tab=recording")
    expect(console.get_by_role("tab", name="Timeline")).to_have_attribute("aria-selected", "true")
    expect(console.get_by_text("No recording for this call.")).to_be_visible()
