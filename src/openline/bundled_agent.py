"""The example agent that ``openline up`` runs, so a newcomer can call something at once.

It is the offline order-status example from ``examples/``, run as its own process
(agents are servers that openline calls, never code loaded into openline) and
registered under a fixed name, so restarts update it instead of adding another.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from pathlib import Path

import httpx

import openline
from openline.store.agents import AgentRepo

NAME = "Order status (example)"
_EXAMPLE = "order_status"


def example_dir() -> Path:
    package = Path(openline.__file__).parent
    for candidate in (package / "_examples" / _EXAMPLE, package.parents[1] / "examples" / _EXAMPLE):
        if (candidate / "main.py").exists():
            return candidate
    raise FileNotFoundError(f"the bundled example agent ({_EXAMPLE}) is not installed")


class BundledAgent:
    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self.agent_id: str | None = None

    async def start(self, agents: AgentRepo, timeout_s: float = 30.0) -> dict:
        directory = example_dir()
        port = _free_port()
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "main.py", cwd=directory, env=os.environ | {"PORT": str(port)}
        )
        url = f"http://127.0.0.1:{port}"
        await self._wait_healthy(url, timeout_s)
        agent = await asyncio.to_thread(_register, agents, url)
        self.agent_id = agent["id"]
        return agent

    async def stop(self) -> None:
        if self._process is None or self._process.returncode is not None:
            return
        self._process.terminate()
        try:
            await asyncio.wait_for(self._process.wait(), 10)
        except TimeoutError:
            self._process.kill()

    async def _wait_healthy(self, url: str, timeout_s: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        async with httpx.AsyncClient(timeout=1.0) as http:
            while asyncio.get_running_loop().time() < deadline:
                if self._process.returncode is not None:
                    raise RuntimeError(f"the example agent exited with {self._process.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(url + "/status")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise TimeoutError(f"the example agent did not become healthy in {timeout_s:.0f}s")


def _register(agents: AgentRepo, url: str) -> dict:
    existing = agents.find_by_name(NAME)
    if existing is not None:
        return agents.update(existing["id"], self_hosted_deployment_url=url)
    return agents.create(
        name=NAME,
        description="Offline example: looks up orders like A123, logs events, hangs up on 'bye'.",
        introduction="Hi! I can look up your order.",
        self_hosted_deployment_url=url,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
