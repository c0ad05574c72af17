"""The deployment supervisor: queue → build → start → health → live → drain → stop.

A deployment created with ``hold`` stops short of live: its process runs (``held``) and
takes only the calls that ask for it (``lease_deployment``) until it is promoted, or its
test run fails (the deploy gate, docs/testing.md#the-deploy-gate).

One agent's deployments are handled one at a time, in the order they were asked for;
an upload still waiting when a newer one arrives is ``skipped``. Builds of different
agents run side by side (a few at once). Switching the live deployment is one database
transaction; the replaced deployment keeps its process until the calls in flight on it
have ended (as the calls table says, so calls held by any openline process count),
then it is stopped.

At start the supervisor brings back what it ran before: live deployments are started
again, and deployments caught mid-build are built again from their stored archive.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import weakref
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine

from openline import ids
from openline.config import Settings
from openline.deploy import retention
from openline.deploy.archive import UnsafeArchive, unpack
from openline.deploy.build import BuildFailed, Toolchain, build
from openline.deploy.logsink import DeploymentLog
from openline.deploy.process import kill_stale
from openline.deploy.project import ProjectError, inspect
from openline.deploy.routing import InFlight, Lease
from openline.deploy.runner import CANNOT_START, Paths, Runner
from openline.deploy.settings import DeploySettings
from openline.deploy.states import Status
from openline.domain.time import utcnow
from openline.store.deployments import DeploymentLogRepo, DeploymentRepo, EnvVarRepo
from openline.store.feed import ChangeFeed
from openline.store.sealing import Sealer
from openline.store.writer import Writer
from openline.telemetry import Telemetry

log = logging.getLogger(__name__)

BUILD_LOGS_MAX_CHARS = 65_536


class DeploymentsDisabled(Exception):
    """This openline process does not run deployments (``OPENLINE_DEPLOY_ENABLED``)."""


class CannotPromote(Exception):
    """The deployment cannot become live; ``str()`` says why."""


class NotRunning(Exception):
    """A call asked for a deployment that cannot take it; ``str()`` says why."""


class NotHeld(Exception):
    """A test run was recorded for a deployment that is not held for one."""


# Where a deployment's process may run, as another openline process would record it.
_RUNS = (Status.DEPLOYED, Status.HELD, Status.INACTIVE)  # inactive: still draining


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        deploy: DeploySettings,
        engine: Engine,
        writer: Writer,
        feed: ChangeFeed,
        http: httpx.AsyncClient,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.settings = deploy
        self._telemetry = telemetry  # exports the log lines that are not a call's
        self.repo = DeploymentRepo(engine)
        self.logs = DeploymentLogRepo(engine)
        self.env = EnvVarRepo(engine, Sealer.load(settings.data_dir, settings.secrets_key))
        self.inflight = InFlight()
        self._max_call_s = settings.max_call_duration_s
        self._writer = writer
        self._feed = feed
        self._http = http
        self._root = settings.data_dir.resolve() / "deployments"
        cache = deploy.uv_cache_dir or settings.data_dir / "uv-cache"
        self._toolchain_args = (deploy.uv, cache.resolve())
        self._runners: dict[str, Runner] = {}  # deployment id → its running process
        self._live: dict[str, Runner] = {}  # agent id → the runner new calls go to
        # A deployment's log, one while anything can still write to it (a runner, its
        # output readers, a request under way): two would number their lines alike.
        self._sinks: weakref.WeakValueDictionary[str, DeploymentLog] = weakref.WeakValueDictionary()
        self._agent_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._latest: dict[str, int] = {}  # agent id → number of its newest request
        self._requests = 0
        self._build_slots = asyncio.Semaphore(deploy.concurrent_builds)
        self._tasks: set[asyncio.Task] = set()
        self._draining: dict[str, asyncio.Task] = {}  # deployment id → its drain

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if not self.settings.enabled:
            return
        await asyncio.to_thread(self.incoming().mkdir, parents=True, exist_ok=True)
        pending = await asyncio.to_thread(self.repo.with_status, Status.QUEUED, Status.BUILDING)
        for row in await asyncio.to_thread(self.repo.with_process):
            if not row["is_live"]:  # was draining when openline died: nothing to go back to
                await asyncio.to_thread(kill_stale, row["pid"], self.paths(row["id"]).venv)
                await self._save(row["id"], url=None, pid=None)
        for row in await asyncio.to_thread(self.repo.with_status, Status.HELD):
            await self._settle(
                row["id"],
                status=Status.DEPLOY_ERROR,
                deployment_error="openline restarted while it was held for its tests: deploy "
                "it again",
                hold=False,
            )
        for row in await asyncio.to_thread(self.repo.all_live):
            await self._resume_live(row)
        for row in pending:
            sink = await self._sink(row["id"])
            sink.note("warning", "openline restarted before this deployment finished: again")
            await self._save(row["id"], status=Status.QUEUED)
            self._schedule(row["id"], row["agent_id"])
        self._spawn(retention.run(self), "openline-deploy-retention")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(
            *(runner.stop("openline is stopping") for runner in self._runners.values()),
            return_exceptions=True,
        )
        for sink in list(self._sinks.values()):
            sink.flush()

    def _spawn(self, coroutine, name: str) -> asyncio.Task:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- requests ------------------------------------------------------------------------

    async def submit(
        self,
        agent_id: str,
        upload: Path,
        sha256: str,
        size: int,
        git_commit_hash: str | None,
        hold: bool = False,
    ) -> dict:
        """Register an uploaded archive as a new deployment and queue it (to be held, not
        made live, with ``hold``)."""
        if not self.settings.enabled:
            raise DeploymentsDisabled("this openline process does not run deployments")
        deployment_id = ids.new_id(ids.DEPLOYMENT)
        paths = self.paths(deployment_id)
        await asyncio.to_thread(_keep_upload, upload, paths)
        row = await asyncio.to_thread(
            self.repo.create,
            {
                "id": deployment_id,
                "agent_id": agent_id,
                "status": Status.QUEUED,
                "source_sha256": sha256,
                "source_bytes": size,
                "git_commit_hash": git_commit_hash,
                "hold": hold,
            },
        )
        sink = await self._sink(deployment_id)
        held = ", to be held for its tests" if hold else ""
        sink.note("info", f"queued: {size} bytes uploaded (sha256 {sha256[:12]}…){held}")
        self._schedule(deployment_id, agent_id)
        return row

    async def promote(self, deployment_id: str) -> dict | None:
        """Make an earlier (or later) deployment live again: roll back or forward."""
        if not self.settings.enabled:
            raise DeploymentsDisabled("this openline process does not run deployments")
        row = await asyncio.to_thread(self.repo.get, deployment_id)
        if row is None:
            return None
        if row["status"] in (Status.QUEUED, Status.BUILDING):  # a live one: restarting
            raise CannotPromote(f"{deployment_id} is being deployed already ({row['status']})")
        if row["is_live"] and deployment_id in self._runners:
            return await self._restart_live(row)
        if row["build_completed_at"] is None or row["build_error"]:
            raise CannotPromote(f"{deployment_id} never built successfully; deploy again instead")
        sink = await self._sink(deployment_id)
        sink.note("info", "promoted: making it live")
        await self._save(deployment_id, status=Status.QUEUED, deployment_error=None, hold=False)
        self._schedule(deployment_id, row["agent_id"])
        return await asyncio.to_thread(self.repo.get, deployment_id)

    async def _restart_live(self, row: dict) -> dict | None:
        """Promoting the live deployment restarts it, so that it runs with the agent's
        current env vars: a new process takes the new calls once it is healthy, and the
        old one drains as a replaced deployment does. It is ``building`` meanwhile."""
        deployment_id = row["id"]
        sink = await self._sink(deployment_id)
        sink.note("info", "promoted while live: restarting it with the agent's current env vars")
        await self._save(deployment_id, status=Status.BUILDING, deployment_started_at=utcnow())
        self._spawn(self._restart(row, sink), f"restart-{deployment_id}")
        return await asyncio.to_thread(self.repo.get, deployment_id)

    async def _restart(self, row: dict, sink: DeploymentLog) -> None:
        deployment_id, agent_id = row["id"], row["agent_id"]
        async with self.agent_lock(agent_id):
            old = self._live.get(agent_id)
            if old is None or old.deployment_id != deployment_id:
                sink.note("info", "replaced before it restarted: not restarting it")
                return
            runner = self._runner(row, sink)
            runner.restarts = old.restarts
            try:
                await runner.start()
            except CANNOT_START as error:
                reason = f"cannot start: {error!r}" if isinstance(error, OSError) else str(error)
                reason = f"restart failed: {reason}; the process started before stays live"
                sink.note("error", reason)
                await self._settle(
                    deployment_id,
                    status=Status.DEPLOYED,
                    deployment_error=_with_last_output(reason, sink),
                    url=old.url,
                    pid=old.process and old.process.pid,
                )
                return
            runner.supervise(running=True)
            runner.live, old.live = True, False
            self._runners[deployment_id] = self._live[agent_id] = runner
            sink.note("info", "live: new calls to the agent go to the restarted process")
            await self._flush(sink)
            await asyncio.to_thread(self.repo.make_live, deployment_id, agent_id, self._feed)
            self._feed.publish({deployment_id})
        self._spawn(self._retire(old), f"drain-{deployment_id}-before-restart")

    async def _retire(self, old: Runner) -> None:
        """Drain the process a restart replaced (calls are counted per deployment, so
        it waits for the calls on both processes to end, or the drain timeout). Its pid
        is no longer on record, so no later start would find it: stopping openline
        stops it here."""
        try:
            await self._drain(old, "its restarted process")
        finally:
            await old.stop("openline is stopping")

    async def lease(self, agent_id: str) -> Lease | None:
        """Where a new call to the agent goes: its live deployment, or None (no live one)."""
        runner = self._live.get(agent_id)
        if runner is not None:  # no url yet: starting after openline itself restarted
            return self.inflight.take(runner.deployment_id, runner.url or "")
        # A deployment run by another openline process (same host): reach it by its URL.
        row = await asyncio.to_thread(self.repo.live, agent_id)
        if row is not None and row["url"]:
            return Lease(row["id"], row["url"])
        return None

    async def lease_deployment(self, agent_id: str, deployment_id: str) -> Lease:
        """Where a new call to this deployment of the agent goes, live or not (draining):
        its process, if it runs. Raises :class:`NotRunning` otherwise."""
        row = await asyncio.to_thread(self.repo.get, deployment_id)
        if row is None or row["agent_id"] != agent_id:
            raise NotRunning(f"agent {agent_id} has no deployment {deployment_id!r}")
        runner = self._runners.get(deployment_id)
        if runner is not None and runner.serving:
            assert runner.url is not None  # serving
            return self.inflight.take(deployment_id, runner.url)
        if runner is None and row["url"] and row["status"] in _RUNS:  # another openline's
            return Lease(deployment_id, row["url"])
        raise NotRunning(
            f"deployment {deployment_id} is not running ({row['status']}): "
            "a call to a given deployment needs its process up"
        )

    async def record_test_run(
        self, deployment_id: str, test_run: dict, failed: list[str]
    ) -> dict | None:
        """Keep a held deployment's test run; when scenarios ``failed``, refuse it: its
        process stops and it is a ``deploy_error`` naming them (the live one stays)."""
        row = await asyncio.to_thread(self.repo.get, deployment_id)
        if row is None:
            return None
        if row["status"] != Status.HELD:
            raise NotHeld(
                f"{deployment_id} is not held for its tests ({row['status']}): create it "
                "with ?hold=true"
            )
        if not failed:
            await self._save(deployment_id, test_run=test_run)
            return await asyncio.to_thread(self.repo.get, deployment_id)
        reason = f"refused by the deploy gate: {len(failed)} scenario(s) failed: " + ", ".join(
            failed
        )
        sink = await self._sink(deployment_id)
        sink.note("error", reason)
        runner = self._runners.pop(deployment_id, None)
        if runner is not None:
            await runner.stop("its test run failed")
        await self._settle(
            deployment_id,
            status=Status.DEPLOY_ERROR,
            deployment_error=reason,
            deployment_completed_at=utcnow(),
            test_run=test_run,
            hold=False,
            url=None,
            pid=None,
        )
        return await asyncio.to_thread(self.repo.get, deployment_id)

    def give_back(self, lease: Lease | None) -> None:
        if lease is not None:
            self.inflight.give_back(lease)

    def paths(self, deployment_id: str) -> Paths:
        return Paths(self._root / deployment_id)

    def incoming(self) -> Path:
        """Where uploads are written while they arrive (same disk: moved, not copied)."""
        return self._root / ".incoming"

    def running(self, deployment_id: str) -> Runner | None:
        return self._runners.get(deployment_id)

    def agent_lock(self, agent_id: str) -> asyncio.Lock:
        """Held while one of the agent's deployments is built, switched or pruned."""
        return self._agent_locks[agent_id]

    # -- the pipeline --------------------------------------------------------------------

    def _schedule(self, deployment_id: str, agent_id: str) -> None:
        self._requests += 1
        self._latest[agent_id] = number = self._requests
        self._spawn(self._pipeline(deployment_id, agent_id, number), deployment_id)

    async def _pipeline(self, deployment_id: str, agent_id: str, number: int) -> None:
        async with self.agent_lock(agent_id):
            row = await asyncio.to_thread(self.repo.get, deployment_id)
            assert row is not None  # scheduled after it was stored, and deployments stay
            sink = await self._sink(deployment_id)
            if self._latest.get(agent_id) != number:
                built = row["build_completed_at"] is not None
                sink.note("info", "superseded by a newer deployment of this agent before it ran")
                await self._settle(
                    deployment_id, status=Status.INACTIVE if built else Status.SKIPPED
                )
                return
            try:
                if await self._build(row, sink):
                    await (self._hold(row, sink) if row["hold"] else self._go_live(row, sink))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a bug must fail this deployment only, and say so
                log.exception("deployment %s failed", deployment_id)
                sink.note("error", f"internal error: {error!r}")
                runner = self._runners.get(deployment_id)
                if runner is not None and self._live.get(agent_id) is not runner:
                    del self._runners[deployment_id]
                    await runner.stop("it failed to deploy")
                await self._settle(
                    deployment_id,
                    status=Status.DEPLOY_ERROR,
                    deployment_error=f"internal error: {error!r}",
                )

    async def _build(self, row: dict, sink: DeploymentLog) -> bool:
        deployment_id = row["id"]
        paths = self.paths(deployment_id)
        if paths.ready.exists():
            sink.note("info", "its build is on disk: not building again")
            return True
        await self._save(deployment_id, status=Status.BUILDING, build_started_at=utcnow())
        started = asyncio.get_running_loop().time()
        reason = None
        try:
            async with self._build_slots:
                await asyncio.wait_for(
                    self._build_steps(paths, sink), self.settings.build_timeout_s
                )
        except (UnsafeArchive, ProjectError, BuildFailed) as error:
            reason = str(error)
        except TimeoutError:
            reason = f"the build took longer than {self.settings.build_timeout_s:g}s"
        took = asyncio.get_running_loop().time() - started
        if reason is not None:
            sink.build("error", f"build failed: {reason}")
        else:
            sink.build("info", f"built in {took:.1f}s")
        await self._flush(sink)
        text = await asyncio.to_thread(self.logs.build_text, deployment_id, BUILD_LOGS_MAX_CHARS)
        fields = {"build_completed_at": utcnow(), "build_logs": text}
        if reason is not None:
            await self._settle(
                deployment_id, status=Status.BUILD_ERROR, build_error=reason, **fields
            )
            return False
        await asyncio.to_thread(paths.ready.touch)
        await self._save(deployment_id, **fields)
        return True

    async def _build_steps(self, paths: Paths, sink: DeploymentLog) -> None:
        await asyncio.to_thread(_clear_build, paths)
        sink.build("info", "unpacking the archive")
        count = await asyncio.to_thread(
            unpack,
            paths.archive,
            paths.source,
            self.settings.max_unpacked_bytes,
            self.settings.max_files,
        )
        project = await asyncio.to_thread(inspect, paths.source)
        name = f" ({project.app_name} in cartesia.toml)" if project.app_name else ""
        sink.build("info", f"{count} files; entry point main.py{name}")
        await asyncio.to_thread(paths.work.mkdir)
        uv, cache = self._toolchain_args
        tools = Toolchain.find(
            uv,
            cache,
            offline_first=self.settings.offline_first,
            max_line_chars=self.settings.log_line_max_chars,
        )
        await build(project, paths.venv, paths.work, tools, sink.build)

    async def _start(self, row: dict, sink: DeploymentLog) -> Runner | None:
        """Its process, running and healthy: one that runs already (draining, or held),
        else a new one. None when it cannot start (it is a ``deploy_error`` then)."""
        deployment_id = row["id"]
        await self._save(
            deployment_id,
            status=Status.BUILDING,
            deployment_started_at=utcnow(),
            deployment_error=None,
        )
        runner = self._undrain(deployment_id) or self._unhold(deployment_id)
        if runner is not None:
            return runner
        runner = self._runner(row, sink)
        self._runners[deployment_id] = runner
        try:
            await runner.start()
        except CANNOT_START as error:
            self._runners.pop(deployment_id, None)
            reason = f"cannot start: {error!r}" if isinstance(error, OSError) else str(error)
            sink.note("error", f"deploy failed: {reason}")
            await self._settle(
                deployment_id,
                status=Status.DEPLOY_ERROR,
                deployment_error=_with_last_output(reason, sink),
                deployment_completed_at=utcnow(),
                url=None,
                pid=None,
            )
            return None
        runner.supervise(running=True)
        return runner

    async def _hold(self, row: dict, sink: DeploymentLog) -> None:
        """Run it without making it live: calls reach it only by asking for it."""
        if await self._start(row, sink) is None:
            return
        sink.note("info", "held: running, but no call goes to it unless it asks for it")
        await self._settle(row["id"], status=Status.HELD)

    async def _go_live(self, row: dict, sink: DeploymentLog) -> None:
        deployment_id, agent_id = row["id"], row["agent_id"]
        runner = await self._start(row, sink)
        if runner is None:
            return
        sink.note("info", "live: new calls to the agent go to this deployment")
        await self._flush(sink)
        previous = await asyncio.to_thread(self.repo.make_live, deployment_id, agent_id, self._feed)
        self._feed.publish({deployment_id} | ({previous} if previous else set()))
        runner.live = True
        replaced = self._live.get(agent_id)
        self._live[agent_id] = runner
        if replaced is not None and replaced is not runner:
            replaced.live = False
            self._draining[replaced.deployment_id] = self._spawn(
                self._drain(replaced, deployment_id), f"drain-{replaced.deployment_id}"
            )

    def _undrain(self, deployment_id: str) -> Runner | None:
        """A replaced deployment whose process still runs (draining) is made live again
        as it is: rolling back to it is instant."""
        drain = self._draining.pop(deployment_id, None)
        runner = self._runners.get(deployment_id)
        if drain is None or runner is None or not runner.serving:
            return None
        drain.cancel()
        runner.log.note("info", "promoted while still running: live again, same process")
        return runner

    def _unhold(self, deployment_id: str) -> Runner | None:
        """A held deployment whose tests passed goes live as it is, same process."""
        runner = self._runners.get(deployment_id)
        if runner is None or runner.live or not runner.serving:
            return None
        runner.log.note("info", "promoted while held: live now, same process")
        return runner

    async def _drain(self, runner: Runner, successor: str) -> None:
        """Stop a replaced deployment once no call is in flight on it."""
        deployment_id = runner.deployment_id
        runner.log.note(
            "info", f"replaced by {successor}: stopping it once the calls in flight on it end"
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.settings.drain_timeout_s or self._max_call_s)
        window = utcnow() - timedelta(seconds=self._max_call_s)  # older `started` rows are stale
        while loop.time() < deadline:
            if self.inflight.count(deployment_id) == 0 and not await asyncio.to_thread(
                self.repo.calls_in_flight, deployment_id, window
            ):
                why = "no call in flight on it any more"
                break
            await asyncio.sleep(0.5)
        else:
            why = "it was still serving calls when the drain timeout passed"
        self._draining.pop(deployment_id, None)
        await runner.stop(why)
        if self._runners.get(deployment_id) is runner:
            del self._runners[deployment_id]
            # after its last lines ("stopped …"): a log tail ends when it sees this change
            await self._settle(deployment_id, url=None, pid=None)

    async def _resume_live(self, row: dict) -> None:
        """Start again a deployment that was live when openline stopped."""
        deployment_id = row["id"]
        paths = self.paths(deployment_id)
        sink = await self._sink(deployment_id)
        if await asyncio.to_thread(kill_stale, row["pid"], paths.venv):
            sink.note("warning", f"stopped process {row['pid']}, left over from before")
        if not paths.ready.exists():  # its build was pruned or lost: build it again first
            sink.note("warning", "openline restarted and its build is gone: building again")
            await self._save(deployment_id, status=Status.QUEUED)
            self._schedule(deployment_id, row["agent_id"])
            return
        sink.note("info", "openline restarted: starting the live deployment again")
        runner = self._runner(row, sink)
        runner.restarts = row["restarts"]
        runner.live = True
        self._runners[deployment_id] = runner
        self._live[row["agent_id"]] = runner
        runner.supervise(running=False)

    async def retire_orphans(self) -> None:
        """Stop the live deployments of agents that were deleted."""
        for row in await asyncio.to_thread(self.repo.live_without_agent):
            runner = self._live.pop(row["agent_id"], None)
            await self._save(row["id"], is_live=False, status=Status.INACTIVE, url=None, pid=None)
            if runner is not None:
                self._runners.pop(row["id"], None)
                await runner.stop("its agent was deleted")

    # -- helpers ---------------------------------------------------------------------------

    def _runner(self, row: dict, sink: DeploymentLog) -> Runner:
        deployment_id, agent_id = row["id"], row["agent_id"]

        async def save(**values) -> None:
            await self._save(deployment_id, **values)

        async def variables() -> dict[str, str]:
            return await asyncio.to_thread(self.env.values, agent_id)

        return Runner(
            deployment_id,
            agent_id,
            self.paths(deployment_id),
            sink,
            self.settings,
            self._http,
            save,
            variables,
        )

    async def _sink(self, deployment_id: str) -> DeploymentLog:
        sink = self._sinks.get(deployment_id)
        if sink is None:
            # What an earlier one queued is stored first, so the lines go on after it.
            await self._writer.flush()
            last = await asyncio.to_thread(self.logs.last_seq, deployment_id)
            sink = self._sinks.get(deployment_id)  # another task may have made it meanwhile
            if sink is None:
                sink = DeploymentLog(
                    deployment_id,
                    self._writer,
                    self.inflight,
                    last,
                    self.settings.log_lines_per_s,
                    self._telemetry,
                )
                self._sinks[deployment_id] = sink
        return sink

    async def _flush(self, sink: DeploymentLog) -> None:
        sink.flush()
        await self._writer.flush()

    async def _save(self, deployment_id: str, **values) -> None:
        await asyncio.to_thread(self.repo.update, deployment_id, self._feed, **values)
        self._feed.publish({deployment_id})

    async def _settle(self, deployment_id: str, **values) -> None:
        """A final status for this attempt, after every log line before it is stored."""
        sink = self._sinks.get(deployment_id)
        if sink is not None:
            await self._flush(sink)
        await self._save(deployment_id, **values)


def _keep_upload(upload: Path, paths: Paths) -> None:
    paths.root.mkdir(parents=True)
    shutil.move(upload, paths.archive)


def _clear_build(paths: Paths) -> None:
    """A build starts from the archive alone (a retried build finds its earlier try)."""
    for directory in (paths.source, paths.venv, paths.work):
        shutil.rmtree(directory, ignore_errors=True)


def _with_last_output(reason: str, sink: DeploymentLog) -> str:
    last = sink.last_output
    return f"{reason}; its last output: {last}" if last else reason
