"""A real deployment (uv build of a small agent): its page, live logs, and its agent."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from openline.config import Settings
from openline.deploy.archive import pack
from tests.conftest import TEST_KEY
from tests.console.support import screenshot, text_call
from tests.support.servers import RunningServer, openline_server

ROOT = Path(__file__).resolve().parents[2]
ECHO = ROOT / "tests" / "deploy" / "agents" / "echo"
TOKEN = "tok-console-masked-4711"


@pytest.fixture(scope="module")
def console_server(tmp_path_factory) -> Iterator[RunningServer]:
    """This module's server builds deployments, with the deploy suite's shared uv cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENLINE_DEPLOY_UV_CACHE_DIR", str(ROOT / ".cache" / "uv-deploy"))
        patch.setenv("OPENLINE_DEPLOY_HEALTH_TIMEOUT_S", "45")
        patch.setenv("OPENLINE_DEPLOY_STOP_TIMEOUT_S", "5")
        settings = Settings(
            data_dir=tmp_path_factory.mktemp("console-deploy") / "data",
            api_key=TEST_KEY,
            start_example_agent=False,
        )
        with openline_server(settings) as running:
            yield running


def test_deployment_page_follows_build_and_runtime_logs(console: Page, console_server, tmp_path):
    source = tmp_path / "echo"
    shutil.copytree(ECHO, source)
    (source / "version.txt").write_text("v1")
    with console_server.client() as http:
        agent = http.post("/agents", json={"name": "Deployed echo"}).json()
        http.patch(f"/agents/{agent['id']}/env", json={"TOKEN": TOKEN}).raise_for_status()
        deployment = http.post(
            f"/agents/{agent['id']}/deployments",
            content=pack(source),
            headers={"Content-Type": "application/gzip"},
        ).json()

    console.goto(f"/console/deployments/{deployment['id']}")  # while it builds
    expect(console.get_by_role("heading", name=f"Deployment {deployment['id']}")).to_be_visible()
    build = console.locator("[data-live=build]")
    runtime = console.locator("[data-live=runtime]")
    expect(build).to_contain_text("built in", timeout=90_000)
    expect(runtime).to_contain_text("echo v1 listening")
    expect(console.locator("[data-field=status]")).to_have_text("deployed")
    expect(console.locator("[data-field=is_live]")).to_have_text("live")
    expect(console.locator("[data-field=deployment_started_at]")).to_contain_text("UTC")

    # A call on the deployment: its process's lines arrive on the open page, masked.
    with text_call(console_server.ws_url, agent["id"], console_server.api_key) as call:
        assert call.next("agent_text")["text"] == "hello from v1"
        call.say("secret")
        expect(runtime).to_contain_text("heard 'secret'")
        expect(runtime).to_contain_text("the token is")
        call_link = runtime.get_by_role("link", name=call.call_id).first
        expect(call_link).to_have_attribute("href", f"/console/calls/{call.call_id}")
        call.say("bye")
        call.closed()
    assert TOKEN not in console.content()
    screenshot(console, "15-deployment")

    console.get_by_role("link", name="Deployed echo").click()
    deployments = console.locator("table.deployments")
    expect(deployments).to_contain_text(deployment["id"])
    expect(deployments.locator(".badge-live")).to_have_count(1)
    expect(console.locator("ul.env")).to_contain_text("TOKEN")
    expect(console.locator("table.calls")).to_contain_text(call.call_id)
    live_logs = console.locator(".live-logs [data-live=runtime]")
    expect(live_logs).to_contain_text("heard 'secret'")
    with text_call(console_server.ws_url, agent["id"], console_server.api_key) as second:
        second.next("agent_text")
        second.say("warn")
        expect(live_logs).to_contain_text("something odd")  # followed live on this page
        second.say("bye")
    assert TOKEN not in console.content()
    screenshot(console, "16-agent-with-deployment")

    console.goto(f"/console/calls?deployment={deployment['id']}")
    expect(console.locator("table.calls tbody tr")).to_have_count(2)
    console.get_by_role("link", name=call.call_id).click()
    expect(console.locator("[data-live=header]")).to_contain_text(deployment["id"])

    console.goto("/console/agents")
    row = console.locator("table.agents tbody tr", has_text="Deployed echo")
    expect(row.locator(".badge")).to_have_text("deployed")
    console.goto("/console/playground")  # callable: it has a live deployment
    expect(console.get_by_label("Agent")).to_contain_text("Deployed echo")
