"""Live: a call page following a call in progress, and the playground."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.console.support import screenshot, text_call


@pytest.fixture(scope="module")
def agent(console_server, agent_url) -> Iterator[str]:
    with console_server.client() as http:
        created = http.post(
            "/agents", json={"name": "Scripted", "self_hosted_deployment_url": agent_url}
        )
        yield created.json()["id"]


def test_a_call_in_progress_updates_in_place(console: Page, console_server, agent):
    with text_call(console_server.ws_url, agent, console_server.api_key) as call:
        call.next("agent_text")
        console.goto(f"/console/calls/{call.call_id}")
        header = console.locator("[data-live=header]")
        expect(header).to_contain_text("started")
        console.evaluate("window.stillTheSamePage = true")
        transcript = console.locator("ol.transcript")
        expect(transcript.locator(".entry")).to_have_count(1)  # the greeting

        call.say("event")
        expect(transcript.locator(".entry-event", has_text="bare_event")).to_be_visible()
        expect(transcript.locator(".entry-metric", has_text="metric_value")).to_be_visible()
        expect(transcript.locator(".entry.role-assistant", has_text="logged")).to_be_visible()
        call.say("tool C3")
        tool = transcript.locator(".entry.role-assistant .tool", has_text="lookup_order")
        expect(tool.locator(".result")).to_have_text("shipped")  # the turn was redrawn
        call.say("logs 1")
        expect(console.locator("table.logs tbody tr")).to_have_count(5)  # the Logs tab too
        expect(console.locator("#tab-transcript .count")).to_have_text("11")
        screenshot(console, "11-call-live")
        times = transcript.locator(".entry").evaluate_all("es => es.map(e => +e.dataset.t)")
        assert times == sorted(times)
        call.say("bye")
        call.closed()

    expect(header).to_contain_text("completed")
    expect(header).to_contain_text("agent_hangup")
    expect(transcript.locator(".entry.role-assistant", has_text="Goodbye!")).to_be_visible()
    assert console.evaluate("window.stillTheSamePage") is True  # no reload
    console.get_by_role("tab", name="Analysis").click()
    expect(console.locator("table.metrics")).to_contain_text("system_call_success")


def test_playground_text_call_then_the_finished_call(console: Page, agent):
    console.get_by_role("link", name="Playground", exact=True).click()
    console.get_by_label("Agent").select_option(label="Scripted")
    console.get_by_role("button", name="Start text call").click()
    transcript = console.locator(".pg-call ol.transcript")
    expect(transcript.locator(".entry.role-assistant").first).to_contain_text("Hello from")
    message = console.get_by_label("Message")
    expect(message).to_be_focused()

    message.fill("tool B7")
    message.press("Enter")
    expect(transcript.locator(".entry.role-user", has_text="tool B7")).to_be_visible()
    reply = transcript.locator(".entry.role-assistant", has_text="Order B7 has shipped.")
    expect(reply).to_be_visible()
    expect(reply.locator(".tool .name")).to_have_text("lookup_order")
    expect(reply.locator(".tool .args")).to_have_text('{"order_id": "B7"}')
    expect(reply.locator(".tool .result")).to_have_text("shipped")
    event = transcript.locator(".entry-event", has_text="order_processed")
    expect(event).to_contain_text("Processed order B7")
    expect(transcript.locator(".entry-metric", has_text="orders_looked_up")).to_be_visible()
    message.fill("event")
    message.press("Enter")
    expect(transcript.locator(".entry-metric", has_text="metric_name")).to_be_visible()
    screenshot(console, "12-playground-live")

    message.fill("bye")
    message.press("Enter")
    status = console.locator("#pg-status")
    expect(status).to_contain_text("The call has ended")
    expect(message).to_be_disabled()
    screenshot(console, "13-playground-ended")
    call_id = console.locator("#pg-call-id").inner_text()

    console.get_by_role("link", name="Open the finished call").click()
    console.wait_for_url(f"**/console/calls/{call_id}")
    expect(console.locator("[data-live=header]")).to_contain_text("completed")
    finished = console.locator("ol.transcript")
    expect(finished.locator(".entry.role-user", has_text="tool B7")).to_be_visible()
    expect(finished.locator(".entry-event", has_text="order_processed")).to_be_visible()
    expect(finished.locator(".entry.role-assistant", has_text="Goodbye!")).to_be_visible()


def test_playground_hang_up(console: Page, agent):
    console.goto(f"/console/playground?agent={agent}")
    console.get_by_role("button", name="Start text call").click()
    expect(console.locator(".pg-call ol.transcript .entry").first).to_contain_text("Hello from")
    console.get_by_role("button", name="Hang up").click()
    expect(console.locator("#pg-status")).to_contain_text("The call has ended")
    call_id = console.locator("#pg-call-id").inner_text()
    console.goto(f"/console/calls/{call_id}")
    expect(console.locator("[data-live=header]")).to_contain_text("client_hangup")
