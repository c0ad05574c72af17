"""An endpoint is disabled only once it has failed, without a single success, for
``webhook_disable_after_s`` (days by default, a second here), or when it answers 410
Gone, with a visible reason. While it is disabled every event is still queued (those of
calls that start then too) and nothing is sent; re-enabling delivers all of it, in order."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from openline.cli import app
from tests.conftest import BACKENDS
from tests.console.conftest import signed_in_client
from tests.support.servers import RunningServer, openline_server
from tests.webhooks.conftest import backend_settings
from tests.webhooks.helpers import (
    FAST,
    all_arrived,
    calls_at_once,
    check_delivered_once_in_order,
    delivery_log,
    hook_agent,
    standard_call,
    wait_for,
    webhook_state,
)


@pytest.fixture(scope="module", params=BACKENDS)
def touchy_server(request, tmp_path_factory) -> Iterator[RunningServer]:
    """Disables an endpoint that has failed for a second."""
    data_dir = tmp_path_factory.mktemp(f"touchy-{request.param}")
    with (
        backend_settings(request.param, data_dir, webhook_disable_after_s=1.0, **FAST) as settings,
        openline_server(settings) as running,
    ):
        yield running


async def quiet(receiver, settle_s: float = 0.3, watch_s: float = 0.8) -> int:
    """Once attempts already under way are done, nothing more arrives; returns the count."""
    await asyncio.sleep(settle_s)
    count = len(receiver.seen_ids)
    await asyncio.sleep(watch_s)
    assert len(receiver.seen_ids) == count, "attempts went on while the endpoint was disabled"
    return count


def enable(server, webhook_id: str) -> dict:
    with server.client() as http:
        reply = http.patch(f"/agents/webhooks/{webhook_id}", json={"enabled": True})
    assert reply.status_code == 200, reply.text
    return reply.json()


def operator_views(server, webhook_id: str, agent_id: str, tmp_path) -> tuple[str, str]:
    """What `openline webhooks get` prints, and the console's agent page."""
    env = {
        "OPENLINE_URL": server.base_url,
        "OPENLINE_API_KEY": server.api_key,
        "OPENLINE_DATA_DIR": str(tmp_path / "cli-data"),
        "COLUMNS": "200",
    }
    shown = CliRunner().invoke(app, ["webhooks", "get", webhook_id], env=env)
    assert shown.exit_code == 0, shown.output
    with signed_in_client(server) as (client, _):
        page = client.get(f"/console/agents/{agent_id}")
    assert page.status_code == 200
    return shown.stdout, page.text


async def test_failing_for_long_disables_and_enabling_delivers_all_it_held(
    touchy_server, agent_url, receiver, tmp_path
):
    receiver.receiver.fail_with = 500
    webhook, agent = hook_agent(touchy_server, receiver.url, agent_url)
    call_ids = await calls_at_once(touchy_server, agent["id"], 2)
    await wait_for(lambda: not webhook_state(touchy_server, webhook["id"])["enabled"])
    state = webhook_state(touchy_server, webhook["id"])
    assert state["state"] == "disabled"
    assert state["disabled_reason"].startswith("disabled after failing for ")
    assert state["disabled_reason"].endswith(" failed attempts in a row); last: HTTP 500")
    failing_for = datetime.fromisoformat(state["disabled_at"]) - datetime.fromisoformat(
        state["failing_since"]
    )
    assert failing_for >= timedelta(seconds=1)  # not before it had failed that long
    sent = await quiet(receiver.receiver)

    # A call that starts while the endpoint is disabled is queued for it all the same.
    call_ids.append(await standard_call(touchy_server, agent["id"]))
    await wait_for(
        lambda: len(delivery_log(touchy_server, webhook["id"])) == 24, what="3 calls analyzed"
    )
    held = delivery_log(touchy_server, webhook["id"])
    assert {d["status"] for d in held} == {"pending"}  # held, not given up
    assert webhook_state(touchy_server, webhook["id"])["backlog"]["pending"] == 24
    assert await quiet(receiver.receiver, settle_s=0) == sent  # and not sent
    shown, page = operator_views(touchy_server, webhook["id"], agent["id"], tmp_path)
    assert "disabled after failing for" in shown
    assert re.search(r"^pending deliveries +24 ", shown, re.MULTILINE)
    assert "24 pending" in page and "badge-disabled" in page

    receiver.receiver.fail_with = None
    enabled = enable(touchy_server, webhook["id"])
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None
    assert enabled["state"] == "healthy" and enabled["failure_streak"] == 0
    assert enabled["failing_since"] is None
    await all_arrived(touchy_server, receiver.receiver, webhook["id"], call_ids)
    check_delivered_once_in_order(touchy_server, receiver.receiver, webhook["id"], call_ids)
    assert webhook_state(touchy_server, webhook["id"])["backlog"]["pending"] == 0


async def test_410_gone_disables_at_once_and_enabling_resumes(touchy_server, agent_url, receiver):
    receiver.receiver.script = [{"status": 410, "body": "gone for good"}]
    webhook, agent = hook_agent(touchy_server, receiver.url, agent_url)
    call_id = await standard_call(touchy_server, agent["id"])
    await wait_for(lambda: not webhook_state(touchy_server, webhook["id"])["enabled"])
    state = webhook_state(touchy_server, webhook["id"])
    assert state["disabled_reason"] == "the endpoint answered 410 Gone"
    assert await quiet(receiver.receiver) == 1  # the first event, answered 410; then nothing
    first = delivery_log(touchy_server, webhook["id"], call_id)[-1]
    assert first["event_type"] == "call_started" and first["status"] == "pending"
    (gone,) = first["attempts"]
    assert gone["status_code"] == 410 and gone["error"] == "410 Gone"
    assert gone["response_excerpt"] == "gone for good"

    enable(touchy_server, webhook["id"])
    await all_arrived(touchy_server, receiver.receiver, webhook["id"], [call_id])
    check_delivered_once_in_order(touchy_server, receiver.receiver, webhook["id"], [call_id])
