"""Running scenarios: each one a real text call through openline, checked once recorded.

A scenario's call carries ``metadata.test_run`` (the run's id: analytics leave test runs
out) and ``metadata.scenario``. The caller waits for the agent's greeting, says each line
once the agent has answered the one before (``caller.Replies``), and hangs up after the
last. The record is read once the call has been analysed (its ``summary`` is set): every
fact is stored by then, and every evaluation result is final. Scenarios run side by side,
``jobs`` at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from openline import ids
from openline.scenarios import expect
from openline.scenarios.caller import (
    CallRefused,
    CallSocket,
    Replies,
    Server,
    Unreachable,
    open_call,
)
from openline.scenarios.spec import Scenario

RUN_PREFIX = "run_"
POLL_S = 0.2  # how often the record is read while the call is analysed


@dataclass(frozen=True)
class Options:
    deployment_id: str | None = None  # call this deployment of the agent, not its live one
    reply_timeout: float = 15.0  # seconds an agent may do nothing before a line counts as answered
    record_timeout: float = 60.0  # seconds to wait for the call's analysis (its results)


@dataclass
class Outcome:
    """One scenario's result: ``error`` when it could not run, else its ``failures``."""

    scenario: Scenario
    call_id: str | None = None
    failures: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and not self.failures

    @property
    def problems(self) -> list[str]:
        """Everything that went wrong: the unmet expectations, or why it could not run."""
        return self.failures + ([self.error] if self.error else [])

    def json(self) -> dict[str, Any]:
        """What a deployment's test run records of it (docs/testing.md#the-deploy-gate)."""
        return {
            "name": self.scenario.name,
            "file": str(self.scenario.file),
            "passed": self.passed,
            "failures": self.problems,
            "call_id": self.call_id,
        }


class RecordError(Exception):
    """The call's record could not be read; ``str()`` says why."""


def new_run_id() -> str:
    return ids.new_id(RUN_PREFIX)


def call_url(server: Server, call_id: str) -> str:
    """The call's page in the console."""
    return f"{server.url}/console/calls/{quote(call_id, safe='')}"


async def run_all(
    server: Server,
    plan: list[tuple[Scenario, str]],
    run_id: str,
    options: Options,
    jobs: int = 4,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run each (scenario, agent id) of ``plan``, ``jobs`` at a time; outcomes in plan order."""
    slots = asyncio.Semaphore(jobs)
    timeout = httpx.Timeout(30.0, connect=5.0)
    async with httpx.AsyncClient(
        base_url=server.url, headers=server.headers, timeout=timeout
    ) as http:

        async def one(scenario: Scenario, agent_id: str) -> Outcome:
            async with slots:
                outcome = await run_one(server, http, scenario, agent_id, run_id, options)
            if on_done is not None:
                on_done(outcome)
            return outcome

        return list(await asyncio.gather(*(one(s, agent) for s, agent in plan)))


async def run_one(
    server: Server,
    http: httpx.AsyncClient,
    scenario: Scenario,
    agent_id: str,
    run_id: str,
    options: Options,
) -> Outcome:
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcome = Outcome(scenario)
    try:
        await _converse(server, scenario, agent_id, run_id, options, outcome)
        assert outcome.call_id is not None  # an ack without a call id is no openline server
        call, analysed = await _record(http, outcome.call_id, options.record_timeout)
        wanted = analysed and scenario.needs_results
        results = await _results(http, outcome.call_id) if wanted else None
        outcome.failures += expect.check(scenario, call, results)
    except CallRefused as error:
        outcome.call_id = outcome.call_id or error.call_id
        outcome.error = str(error)
    except Unreachable as error:
        outcome.error = f"cannot reach openline at {server.url} ({error})"
    except RecordError as error:
        outcome.error = str(error)
    outcome.seconds = loop.time() - started
    return outcome


async def _converse(
    server: Server,
    scenario: Scenario,
    agent_id: str,
    run_id: str,
    options: Options,
    outcome: Outcome,
) -> None:
    """The call itself: the greeting, each line and its answer, then hang up."""
    metadata = scenario.metadata | {"test_run": run_id, "scenario": scenario.name}
    call = await open_call(server, agent_id, metadata, options.deployment_id)
    outcome.call_id = call.call_id
    replies = Replies()
    reading = asyncio.create_task(_read(call.socket, replies))
    wait = options.reply_timeout
    try:
        await replies.wait(0, wait, wait)
        for number, line in enumerate(scenario.caller, start=1):
            if replies.closed or not await _said(call, line.text, number):
                outcome.failures.append(f"the call ended before line {number} ({line.text!r})")
                return
            await replies.wait(number, wait, wait)
    finally:
        await call.socket.close()  # hangs up, unless the agent already has
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading


async def _said(call: CallSocket, text: str, number: int) -> bool:
    try:
        await call.say(text, number)
    except websockets.ConnectionClosed:
        return False
    return True


async def _read(socket: ClientConnection, replies: Replies) -> None:
    try:
        async for raw in socket:
            with contextlib.suppress(ValueError):
                event = json.loads(raw)
                if isinstance(event, dict):
                    replies.on_event(event)
    except websockets.ConnectionClosed:
        pass
    finally:
        replies.close()


async def _record(http: httpx.AsyncClient, call_id: str, timeout_s: float) -> tuple[dict, bool]:
    """The call once analysed (its record is complete then), or as it is when
    ``timeout_s`` has passed; and whether it was analysed."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout_s
    while True:
        call = await _get(http, f"/agents/calls/{quote(call_id, safe='')}")
        if call.get("summary") is not None:
            return call, True
        if loop.time() >= give_up:
            return call, False
        await asyncio.sleep(POLL_S)


async def _results(http: httpx.AsyncClient, call_id: str) -> list[dict]:
    """Every evaluation result of the call."""
    found: list[dict] = []
    params: dict[str, Any] = {"call_id": call_id, "limit": 100}
    while True:
        page = await _get(http, "/agents/metrics/results", params)
        found += page["data"]
        if not page.get("has_more") or not page.get("next_page"):
            return found
        params["starting_after"] = page["next_page"]


async def _get(http: httpx.AsyncClient, path: str, params: dict[str, Any] | None = None) -> Any:
    try:
        response = await http.get(path, params=params)
    except httpx.TransportError as error:
        raise RecordError(f"cannot read {path} ({error or type(error).__name__})") from None
    if response.is_error:
        raise RecordError(f"GET {path} answered HTTP {response.status_code}: {response.text[:200]}")
    return response.json()
