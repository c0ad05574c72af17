"""Switching the live deployment under calls, crashes, and openline restarts."""

from __future__ import annotations

import asyncio
import os
import signal

from openline.deploy.archive import pack
from tests.deploy.support import (
    deploy,
    get,
    greeting,
    messages,
    upload,
    wait_for,
    wait_log,
    wait_settled,
)
from tests.support.calls import TextCall, ended
from tests.support.servers import openline_server


def _call_row(server, call_id: str) -> dict:
    with server.client() as http:
        return http.get(f"/agents/calls/{call_id}").json()


async def test_redeploy_lets_calls_in_flight_finish_on_the_old_deployment(server, echo_dir):
    agent_id = server.create_agent("Deployed")
    first = deploy(server, agent_id, echo_dir("v1"))
    held = await TextCall.open(server.ws_url, agent_id, server.api_key)
    assert await held.reply() == "hello from v1"

    second = deploy(server, agent_id, echo_dir("v2"))
    assert (second["status"], second["is_live"]) == ("deployed", True)
    assert (get(server, first["id"])["status"], get(server, first["id"])["is_live"]) == (
        "inactive",
        False,
    )
    # The call in flight stays on v1 …
    await held.say("still there?")
    assert await held.reply() == "v1: still there?"
    # … new calls go to v2, …
    fresh = await TextCall.open(server.ws_url, agent_id, server.api_key)
    assert await fresh.reply() == "hello from v2"
    assert _call_row(server, fresh.call_id)["deployment_id"] == second["id"]
    await fresh.hang_up()
    # … and v1 keeps running until its last call ends.
    assert server.platform.deployments.running(first["id"]) is not None
    await held.say("bye")
    await held.reply()
    await held.closed()
    assert _call_row(server, held.call_id)["deployment_id"] == first["id"]
    assert _call_row(server, held.call_id)["status"] == "completed"
    wait_log(server, first["id"], "stopped (no call in flight on it any more)")
    assert server.platform.deployments.running(first["id"]) is None

    # Roll back: v1 is built already, so it only starts again.
    with server.client() as http:
        promoted = http.post(f"/agents/deployments/{first['id']}/promote")
    assert promoted.status_code == 202, promoted.text
    back = wait_for(server, first["id"], lambda d: d["is_live"], 30, "become live")
    assert back["status"] == "deployed"
    assert "its build is on disk: not building again" in messages(server, first["id"])
    assert await greeting(server, agent_id) == "hello from v1"
    assert get(server, second["id"])["status"] == "inactive"
    with server.client() as http:
        refused = http.post(f"/agents/deployments/{first['id']}x/promote")
    assert refused.status_code == 404


async def test_a_crash_fails_the_calls_in_flight_and_the_process_comes_back(server, echo_dir):
    agent_id = server.create_agent("Deployed")
    deployment = deploy(server, agent_id, echo_dir("v1"))
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()

    pid = server.platform.deployments.running(deployment["id"]).process.pid
    os.kill(pid, signal.SIGKILL)
    code, reason = await call.closed()
    assert (code, reason) == (1011, "call failed")
    assert any(event.get("event") == "error" for event in call.events)
    failed = await ended(server, call.call_id)
    assert (failed["status"], failed["end_reason"]) == ("failed", "error")

    crash = wait_log(server, deployment["id"], "was killed by SIGKILL")
    assert crash["level"] == "error" and crash["stream"] == "system"
    wait_log(server, deployment["id"], "restarting it in 1s")
    await _healthy_lines(server, deployment["id"], 2)  # the first start, then the restart
    back = get(server, deployment["id"])
    assert (back["status"], back["is_live"], back["restarts"]) == ("deployed", True, 1)
    assert await greeting(server, agent_id) == "hello from v1"


async def test_live_deployments_come_back_when_openline_restarts(settings, echo_dir):
    with openline_server(settings) as server:
        agent_id = server.create_agent("Deployed")
        deployment = deploy(server, agent_id, echo_dir("v1"))
        first_url = server.platform.deployments.repo.get(deployment["id"])["url"]
    # Stopping openline stopped the agent process too …
    assert "stopped (openline is stopping)" in " ".join(
        line for line in _stored_messages(settings, deployment["id"])
    )
    with openline_server(settings) as server:
        # … and starting it again brings the live deployment back.
        wait_log(server, deployment["id"], "openline restarted: starting the live deployment")
        await _healthy_lines(server, deployment["id"], 2)  # the first start, then this one
        row = get(server, deployment["id"])
        assert row["status"] == "deployed" and row["is_live"]
        assert server.platform.deployments.repo.get(deployment["id"])["url"] != first_url
        assert await greeting(server, agent_id) == "hello from v1"


async def test_a_newer_upload_supersedes_one_still_waiting(server, echo_dir):
    agent_id = server.create_agent("Deployed")
    uploads = [upload(server, agent_id, pack(echo_dir(v)))["id"] for v in ("v1", "v2", "v3")]
    assert wait_settled(server, uploads[-1])["status"] == "deployed"
    settled = [get(server, deployment_id) for deployment_id in uploads]
    # v1 was already building; v2 waited behind it and was overtaken by v3.
    assert [row["status"] for row in settled] == ["inactive", "skipped", "deployed"]
    assert settled[1]["build_started_at"] is None
    assert await greeting(server, agent_id) == "hello from v3"


async def _healthy_lines(server, deployment_id: str, count: int) -> None:
    for _ in range(300):
        healthy = [m for m in messages(server, deployment_id) if m.startswith("healthy after")]
        if len(healthy) >= count:
            assert len(healthy) == count
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{deployment_id} was healthy {len(healthy)} times, not {count}")


def _stored_messages(settings, deployment_id: str) -> list[str]:
    from sqlalchemy import select

    from openline.store.db import make_engine
    from openline.store.schema import deployment_logs

    engine = make_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as connection:
            query = select(deployment_logs.c.message).where(
                deployment_logs.c.deployment_id == deployment_id
            )
            return list(connection.execute(query).scalars())
    finally:
        engine.dispose()
