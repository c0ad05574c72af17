"""A call page that followed a call live shows its analysis when it is stored, after the
call's end, without a reload: a slow LLM judge on loopback makes the results come
seconds after the end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from openline.config import Settings
from tests.conftest import TEST_KEY
from tests.console.support import text_call
from tests.support.fake_llm import FakeLlm, is_judging, serve_llm
from tests.support.servers import RunningServer, openline_server

JUDGE_DELAY_S = 3.0  # longer than the page's first look after the end


async def slow_judge(body: dict) -> str:
    if not is_judging(body):
        return "The caller said goodbye."
    await asyncio.sleep(JUDGE_DELAY_S)
    return json.dumps({"value": True, "reason": "The agent said goodbye politely."})


@pytest.fixture(scope="module")
def console_server(tmp_path_factory) -> Iterator[RunningServer]:
    """This module's own server: its analysis asks the slow judge."""
    with serve_llm(FakeLlm(slow_judge)) as llm_url:
        settings = Settings(
            data_dir=tmp_path_factory.mktemp("console-judged") / "data",
            api_key=TEST_KEY,
            start_example_agent=False,
            analysis_llm_base_url=llm_url,
        )
        with openline_server(settings) as running:
            yield running


def test_results_appear_on_a_page_that_followed_the_call(console: Page, console_server, agent_url):
    with console_server.client() as http:
        agent = http.post(
            "/agents", json={"name": "Judged live", "self_hosted_deployment_url": agent_url}
        ).json()
        metric = http.post(
            "/agents/metrics", json={"name": "polite-goodbye", "prompt": "Was the goodbye polite?"}
        ).json()
        assert http.post(f"/agents/{agent['id']}/metrics/{metric['id']}").status_code == 204

    with text_call(console_server.ws_url, agent["id"], console_server.api_key) as call:
        call.next("agent_text")
        console.goto(f"/console/calls/{call.call_id}")
        console.evaluate("window.stillTheSamePage = true")
        call.say("bye")
        call.closed()
    expect(console.locator("[data-live=header]")).to_contain_text("completed")
    console.get_by_role("tab", name="Analysis").click()
    rows = console.locator("section.evaluations table.metric-results tbody tr")
    # Not judged yet when the call ended; there after the judge answers, unreloaded.
    expect(rows).to_have_count(1, timeout=JUDGE_DELAY_S * 1000 + 15_000)
    expect(rows.first).to_contain_text("The agent said goodbye politely.")
    expect(console.locator("[data-live=analysis]")).to_contain_text("The caller said goodbye.")
    assert console.evaluate("window.stillTheSamePage") is True
