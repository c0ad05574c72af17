"""An unchanged cartesia-line agent's loguru, logging and print lines land on the log of
the call that printed them, with calls overlapping; lines outside any call stay in the
deployment's log only."""

from __future__ import annotations

import asyncio
import shutil
import time

import httpx

from tests.deploy.conftest import AGENTS
from tests.deploy.support import deploy_line_agent, log_lines, wait_log
from tests.support.calls import TextCall

CALLS = 4
HEALTH_LINE = "Health check endpoint called"  # cartesia-line's, on each GET /status


async def test_each_overlapping_call_gets_its_own_lines(server, tmp_path):
    directory = tmp_path / "line_logs"
    shutil.copytree(AGENTS / "line_logs", directory)
    agent_id = server.create_agent("Line logs")
    deployment_id = deploy_line_agent(server, agent_id, directory)["id"]
    tokens = [f"caller{n}x" for n in range(CALLS)]

    calls = await asyncio.gather(
        *(
            TextCall.open(server.ws_url, agent_id, server.api_key, metadata={"token": token})
            for token in tokens
        )
    )
    assert [await call.reply() for call in calls] == ["Hello."] * CALLS  # all four are up
    await asyncio.gather(
        *(call.say(f"order {token}") for call, token in zip(calls, tokens, strict=True))
    )
    assert [await call.reply() for call in calls] == [f"Noted, {token}." for token in tokens]

    # A line outside any call while exactly one call is in flight stays off that call.
    for call in calls[1:]:
        await call.hang_up()
    supervisor = server.platform.deployments
    await _until(lambda: supervisor.inflight.count(deployment_id) == 1, "three calls to end")
    health_lines = _count(server, deployment_id, HEALTH_LINE)
    async with httpx.AsyncClient() as http:
        (await http.get(f"{supervisor.running(deployment_id).url}/status")).raise_for_status()
    await _until(lambda: _count(server, deployment_id, HEALTH_LINE) > health_lines, "/status")
    await calls[0].hang_up()

    call_logs = {}
    for call, token in zip(calls, tokens, strict=True):
        call_logs[call.call_id] = await _call_log_with(
            server, call.call_id, f"ValueError: bad order from {token}"
        )
    runtime = log_lines(server, deployment_id, stream="runtime")
    for call, token in zip(calls, tokens, strict=True):
        own = call_logs[call.call_id]
        for expected in (
            f"pre-call for {token}",  # loguru, in POST /chats
            f"get_agent for {token}",  # logging, after the start message
            f"loguru heard 'order {token}' from {token}",
            f"logging heard 'order {token}' from {token}",
            f"print heard 'order {token}' from {token}",
            f"traceback for {token}",
            "Traceback (most recent call last):",
        ):
            assert any(expected in line for line in own), (expected, own)
        printed = [line for line in runtime if token in line["message"]]
        assert {line["call_id"] for line in printed} == {call.call_id}, printed
        assert [line for line in own if token in line] == [line["message"] for line in printed]
        for other in call_logs.values():
            if other is not own:
                assert not [line for line in other if token in line], (token, other)

    outside = wait_log(server, deployment_id, "imported outside any call")
    assert outside["call_id"] is None
    assert [line for line in runtime if HEALTH_LINE in line["message"]][-1]["call_id"] is None
    for lines in call_logs.values():
        assert not [line for line in lines if "outside" in line or HEALTH_LINE in line]
        assert not [line for line in lines if "\x01" in line or "\x02" in line]  # marks gone


def _count(server, deployment_id: str, text: str) -> int:
    return len(log_lines(server, deployment_id, q=text))


async def _call_log_with(server, call_id: str, text: str, timeout_s: float = 15) -> list[str]:
    """The call's log messages, once one of them contains ``text``."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = await asyncio.to_thread(_call_log, server, call_id)
        if any(text in line for line in lines):
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} in the log of {call_id}: {lines}")
        await asyncio.sleep(0.1)


def _call_log(server, call_id: str) -> list[str]:
    with server.client() as http:
        reply = http.get(f"/agents/calls/{call_id}/logs", params={"limit": 1000})
    reply.raise_for_status()
    return [line["message"] for line in reply.json()["data"]]


async def _until(test, what: str, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(test):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:g}s for {what}")
        await asyncio.sleep(0.1)
