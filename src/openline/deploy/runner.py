"""A deployment while its process runs: start and health-check it, restart it with
backoff when it crashes while live, stop it when told.

A crash is written to the deployment's log; calls in flight on the process end with
``error`` on their own (their agent socket drops). A replaced (draining) deployment
that crashes is not restarted: nothing new is routed to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from openline.deploy import calltags
from openline.deploy.health import Unhealthy, wait_healthy
from openline.deploy.logsink import DeploymentLog
from openline.deploy.process import AgentProcess, Launch, agent_env, describe_exit, free_port
from openline.deploy.project import ENTRY_POINT, root_of
from openline.deploy.sandbox import launcher
from openline.deploy.settings import DeploySettings
from openline.store.sealing import SealedWithAnotherKey

log = logging.getLogger(__name__)

STABLE_S = 60.0  # up this long: the next crash starts the backoff from the beginning

# What ``Runner.start`` raises when this deployment cannot start: it fails, openline goes on.
CANNOT_START = (Unhealthy, SealedWithAnotherKey, OSError)


@dataclass(frozen=True)
class Paths:
    """Where a deployment lives on disk; nothing of it is written anywhere else."""

    root: Path

    @property
    def archive(self) -> Path:
        return self.root / "source.tar.gz"

    @property
    def source(self) -> Path:
        return self.root / "src"

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def work(self) -> Path:
        return self.root / "build"

    @property
    def ready(self) -> Path:
        """Written last by a successful build: the venv can be run."""
        return self.root / "build.ok"

    @property
    def data_dir(self) -> Path:
        """openline's data dir, which holds every deployment (``deployments/<id>``)."""
        return self.root.parents[1]


Save = Callable[..., Awaitable[None]]  # save(**columns) for this deployment's row
Variables = Callable[[], Awaitable[dict[str, str]]]  # the agent's env vars, read at each start


class Runner:
    def __init__(
        self,
        deployment_id: str,
        agent_id: str,
        paths: Paths,
        logbook: DeploymentLog,
        settings: DeploySettings,
        http: httpx.AsyncClient,
        save: Save,
        variables: Variables,
    ) -> None:
        self.deployment_id = deployment_id
        self.agent_id = agent_id
        self.paths = paths
        self.log = logbook
        self._settings = settings
        self._http = http
        self._save = save
        self._variables = variables
        self.process: AgentProcess | None = None
        self.url: str | None = None
        self.live = False  # restart on crash only while live
        self.restarts = 0
        self._stopping = False
        self._task: asyncio.Task | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def serving(self) -> bool:
        """Its process is up and was healthy, and nobody is stopping it: calls can go to it."""
        alive = self.process is not None and self.process.returncode is None
        return alive and self.url is not None and not self._stopping

    async def start(self) -> float:
        """Start the process and wait until it is healthy; returns the seconds that took.
        Raises one of ``CANNOT_START`` (a process it started is stopped then)."""
        via = launcher(self._settings)  # first: without its sandbox, nothing starts
        variables = await self._variables()
        self.log.set_secrets(variables)
        port = free_port()
        source = await asyncio.to_thread(root_of, self.paths.source)
        await asyncio.to_thread(calltags.install_hook, self.paths.venv)
        env = agent_env(
            self.paths.venv,
            port,
            variables,
            {
                "OPENLINE_DEPLOYMENT_ID": self.deployment_id,
                "OPENLINE_AGENT_ID": self.agent_id,
                calltags.ENV: "1",
            },
        )
        names = ", ".join(sorted(variables)) or "none"
        self.log.note(
            "info" if via.isolated else "warning",
            f"starting python {ENTRY_POINT} on port {port} (env vars: {names}) {via.where}",
        )
        argv = [str(self.paths.venv / "bin" / "python"), ENTRY_POINT]
        self.process = await via.start(
            Launch(argv, source, self.paths.venv, env, self.paths.data_dir),
            self.log.output,
            self._settings.log_line_max_chars,
        )
        url = f"http://127.0.0.1:{port}"
        await self._save(url=url, pid=self.process.pid)
        try:
            took = await wait_healthy(
                self._http, url, self.process, self._settings.health_timeout_s
            )
        except BaseException:
            await self.process.stop(self._settings.stop_timeout_s)
            raise
        self.url = url
        self.log.note("info", f"healthy after {took:.2f}s (GET /status answered 200)")
        return took

    def supervise(self, running: bool) -> None:
        """Keep the process up while live (start it first unless ``running``)."""
        self._task = asyncio.create_task(self._keep_running(running), name=self.deployment_id)

    async def _keep_running(self, running: bool) -> None:
        loop = asyncio.get_running_loop()
        delay = 1.0
        while not self._stopping:
            if not running:
                try:
                    await self.start()
                except CANNOT_START as error:
                    self.log.note("error", f"could not start it: {error}")
                    await self._pause(delay)
                    delay = min(delay * 2, self._settings.restart_backoff_max_s)
                    continue
            running = False
            up_since = loop.time()
            assert self.process is not None
            code = await self.process.wait()
            if self._stopping:
                return
            self.log.note(
                "error",
                f"the process {describe_exit(code)}; calls in flight on it end with an error",
            )
            if not self.live:
                return
            if loop.time() - up_since > STABLE_S:
                delay = 1.0
            self.log.note("warning", f"restarting it in {delay:g}s")
            await self._pause(delay)
            delay = min(delay * 2, self._settings.restart_backoff_max_s)
            self.restarts += 1
            await self._save(restarts=self.restarts)

    async def _pause(self, seconds: float) -> None:
        self.log.flush()
        await asyncio.sleep(seconds)

    async def stop(self, why: str) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.process is not None and self.process.returncode is None:
            code = await self.process.stop(self._settings.stop_timeout_s)
            self.log.note("info", f"stopped ({why}); the process {describe_exit(code)}")
        self.log.flush()
