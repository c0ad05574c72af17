"""The example agents that ``openline up`` runs, so a newcomer can call something at once.

They are the offline examples from ``examples/``, each run as its own process (agents
are servers that openline calls, never code loaded into openline) and registered under
a fixed name, so restarts update them instead of adding more. They die with openline,
even when it is killed with SIGKILL, so no restart finds old ones still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

import openline
from openline.store.agents import AgentRepo


@dataclass(frozen=True)
class Example:
    directory: str  # under examples/
    name: str  # fixed: how a restart finds the agent it registered before
    description: str
    introduction: str


EXAMPLES = (
    Example(
        "order_status",
        "Order status (example)",
        "Offline example: looks up orders like A123, logs events, hangs up on 'bye'.",
        "Hi! I can look up your order.",
    ),
    Example(
        "form_filler",
        "Form filler (example)",
        "Offline example: asks three questions, records each answer as a metric.",
        "Hi! I have a few quick questions.",
    ),
    Example(
        "appointment_booking",
        "Appointment booking (example)",
        "Offline example: books a slot with tool calls, then ends the call.",
        "Hello! Which day would you like an appointment?",
    ),
    Example(
        "bare_websocket",
        "Bare websocket (example)",
        "Offline example: the agent protocol by hand, without any SDK.",
        "Hello from a bare websocket agent!",
    ),
)


def example_dir(directory: str = EXAMPLES[0].directory) -> Path:
    package = Path(openline.__file__).parent
    for candidate in (
        package / "_examples" / directory,
        package.parents[1] / "examples" / directory,
    ):
        if (candidate / "main.py").exists():
            return candidate
    raise FileNotFoundError(f"the bundled example agent ({directory}) is not installed")


class BundledAgents:
    """All the examples, started side by side (start-up waits for the slowest only)."""

    def __init__(self, examples: tuple[Example, ...] = EXAMPLES) -> None:
        self._agents = [BundledAgent(example) for example in examples]

    async def start(self, agents: AgentRepo) -> list[dict]:
        """Start and register every example; returns their agents. If one fails, none
        is left running and its error is raised."""
        started = await asyncio.gather(
            *(agent.start(agents) for agent in self._agents), return_exceptions=True
        )
        failed = [result for result in started if isinstance(result, BaseException)]
        if failed:
            await self.stop()
            raise failed[0]
        return [result for result in started if isinstance(result, dict)]

    async def stop(self) -> None:
        await asyncio.gather(*(agent.stop() for agent in self._agents))


class BundledAgent:
    def __init__(self, example: Example) -> None:
        self.example = example
        self._process: asyncio.subprocess.Process | None = None

    async def start(self, agents: AgentRepo, timeout_s: float = 30.0) -> dict:
        port = _free_port()
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "main.py",
            cwd=example_dir(self.example.directory),
            env=os.environ | {"PORT": str(port)},
            preexec_fn=_dies_with_parent(),
        )
        url = f"http://127.0.0.1:{port}"
        await self._wait_healthy(self._process, url, timeout_s)
        return await asyncio.to_thread(_register, agents, self.example, url)

    async def stop(self) -> None:
        if self._process is None or self._process.returncode is not None:
            return
        self._process.terminate()
        try:
            await asyncio.wait_for(self._process.wait(), 10)
        except TimeoutError:
            self._process.kill()

    async def _wait_healthy(
        self, process: asyncio.subprocess.Process, url: str, timeout_s: float
    ) -> None:
        name = self.example.directory
        deadline = asyncio.get_running_loop().time() + timeout_s
        async with httpx.AsyncClient(timeout=1.0) as http:
            while asyncio.get_running_loop().time() < deadline:
                if process.returncode is not None:
                    raise RuntimeError(f"the example agent {name} exited with {process.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(url + "/status")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise TimeoutError(f"the example agent {name} did not become healthy in {timeout_s:.0f}s")


def _register(agents: AgentRepo, example: Example, url: str) -> dict:
    existing = agents.find_by_name(example.name)
    if existing is not None:
        updated = agents.update(existing["id"], self_hosted_deployment_url=url)
        if updated is not None:  # else deleted since: registered anew
            return updated
    return agents.create(
        name=example.name,
        description=example.description,
        introduction=example.introduction,
        self_hosted_deployment_url=url,
    )


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _dies_with_parent():
    """What the child runs before exec: on Linux, ask the kernel to SIGKILL it when its
    parent dies (however it dies), and exit if that already happened."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls
    return functools.partial(_set_death_signal, prctl, os.getpid())


def _set_death_signal(prctl, parent: int) -> None:
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the call above
        os._exit(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
