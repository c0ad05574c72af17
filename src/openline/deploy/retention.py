"""Bounded storage: old deployment log lines and old builds are removed periodically.

- log lines older than ``log_retention_days`` go, and each deployment keeps at most its
  newest ``log_max_lines`` lines (the build log survives as ``build_logs`` on the row);
- deleted agents' live deployments are stopped;
- per agent, the newest ``keep_builds`` deployments that are not running keep their
  venv and unpacked source for a quick rollback; older ones keep only their archive
  (promoting one builds it again).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections import defaultdict
from typing import TYPE_CHECKING

from openline.deploy.states import Status
from openline.store.deployments import retention_cutoff

if TYPE_CHECKING:
    from openline.deploy.supervisor import Supervisor

log = logging.getLogger(__name__)

_IDLE = (Status.INACTIVE, Status.BUILD_ERROR, Status.DEPLOY_ERROR, Status.SKIPPED)


async def run(supervisor: Supervisor) -> None:
    while True:
        try:
            await prune_once(supervisor)
        except Exception:  # retried next round; never worth stopping deployments for
            log.exception("deployment retention failed")
        await asyncio.sleep(supervisor.settings.retention_interval_s)


async def prune_once(supervisor: Supervisor) -> tuple[int, int]:
    """Returns (log lines removed, builds removed)."""
    settings = supervisor.settings
    await supervisor.retire_orphans()
    lines = await asyncio.to_thread(
        supervisor.logs.prune,
        retention_cutoff(settings.log_retention_days),
        settings.log_max_lines,
    )
    idle = await asyncio.to_thread(supervisor.repo.with_status, *_IDLE)
    by_agent: defaultdict[str, list[str]] = defaultdict(list)
    for row in idle:
        if supervisor.running(row["id"]) is None:
            by_agent[row["agent_id"]].append(row["id"])
    builds = 0
    for agent_id, deployment_ids in by_agent.items():
        old = sorted(deployment_ids, reverse=True)[settings.keep_builds :]
        if not old:
            continue
        async with supervisor.agent_lock(agent_id):  # not while one of them is being promoted
            for deployment_id in old:
                if supervisor.running(deployment_id) is None:
                    builds += await asyncio.to_thread(
                        _remove_build, supervisor.paths(deployment_id)
                    )
    return lines, builds


def _remove_build(paths) -> int:
    if not paths.source.exists() and not paths.venv.exists():
        return 0
    paths.ready.unlink(missing_ok=True)  # first: a half-removed build is never run
    for directory in (paths.venv, paths.source, paths.work):
        shutil.rmtree(directory, ignore_errors=True)
    return 1
