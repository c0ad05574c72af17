"""Waiting for a started agent to answer ``GET /status`` (docs/agent-protocol.md, Endpoints)."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from openline.deploy.process import AgentProcess, describe_exit


class Unhealthy(Exception):
    """The process never became healthy; ``str()`` says why."""


async def wait_healthy(
    http: httpx.AsyncClient, url: str, process: AgentProcess, timeout_s: float
) -> float:
    """Poll ``url/status`` until it answers 200; returns the seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    last = "no answer"
    while loop.time() - started < timeout_s:
        if process.returncode is not None:
            raise Unhealthy(
                f"the process {describe_exit(process.returncode)} before it became healthy"
            )
        with contextlib.suppress(httpx.HTTPError):
            reply = await http.get(url + "/status", timeout=1.0)
            if reply.status_code == 200:
                return loop.time() - started
            last = f"HTTP {reply.status_code}"
        await asyncio.sleep(0.1)
    raise Unhealthy(
        f"the process did not answer GET /status on its PORT within {timeout_s:g}s ({last})"
    )
