"""Deployments (Cartesia's REST shapes, docs/api.md), their logs, and agents' environment variables.

- ``POST /agents/{agent_id}/deployments``: the request body is the agent directory as a
  tar.gz (or plain tar) archive; ``git_commit_hash`` may be given as a query parameter.
- ``GET /agents/{agent_id}/deployments`` (a bare list, newest first),
  ``GET /agents/deployments/{id}``, ``POST /agents/deployments/{id}/promote``.
- The deploy gate: ``?hold=true`` on the upload keeps the new deployment from going live;
  ``POST /agents/deployments/{id}/test_run`` records its scenarios' results, and refuses
  it when one failed (docs/testing.md#the-deploy-gate).
- ``GET /agents/deployments/{id}/logs`` and ``…/logs/stream`` (server-sent events).
- ``GET|PATCH /agents/{agent_id}/env``, ``DELETE /agents/{agent_id}/env/{name}``: names
  only ever go out; values come in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from openline.api import _sse as sse
from openline.api._params import Cursor, Text, UtcTime
from openline.api.deps import PlatformDep, authenticated
from openline.api.errors import ApiError, not_found
from openline.deploy.states import Status
from openline.deploy.supervisor import CannotPromote, DeploymentsDisabled, NotHeld
from openline.domain.log_levels import LogLevel, at_least
from openline.domain.time import rfc3339, utcnow
from openline.platform import Platform
from openline.store.deployments import LogQuery

router = APIRouter(prefix="/agents", dependencies=[Depends(authenticated)], tags=["deployments"])

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
RESERVED_ENV = frozenset({"PORT"})
MAX_ENV_VALUE_CHARS = 32_768
STREAMS = {"build": ("build",), "runtime": ("stdout", "stderr", "system")}
# Where a deployment's log stops growing: nothing runs for it and nothing will.
_FINISHED = (Status.BUILD_ERROR, Status.DEPLOY_ERROR, Status.SKIPPED, Status.INACTIVE)


def deployment_json(row: dict) -> dict[str, Any]:
    return {
        "id": row["id"],
        "agent_id": row["agent_id"],
        "status": row["status"],
        "is_live": bool(row["is_live"]),
        "is_pinned": bool(row["is_pinned"]),
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
        "build_started_at": rfc3339(row["build_started_at"]),
        "build_completed_at": rfc3339(row["build_completed_at"]),
        "build_logs": row["build_logs"] or "",
        "build_error": row["build_error"],
        "deployment_started_at": rfc3339(row["deployment_started_at"]),
        "deployment_completed_at": rfc3339(row["deployment_completed_at"]),
        "deployment_error": row["deployment_error"],
        "git_commit_hash": row["git_commit_hash"],
        "source_code_file_id": "src_" + row["source_sha256"][:32],
        # Variables belong to the agent; a deployment reads them when its process starts.
        "env_var_collection_id": "envc_" + row["agent_id"].removeprefix("agent_"),
        "restarts": row["restarts"],
        # openline's deploy gate: held (running, not live) until its test run passes.
        "hold": bool(row["hold"]),
        "test_run": row["test_run"],
    }


class ScenarioResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    file: str | None = Field(default=None, max_length=1000)
    passed: bool
    failures: list[Annotated[str, Field(max_length=4000)]] = Field(default=[], max_length=100)
    call_id: str | None = Field(default=None, max_length=64)


class TestRunResults(BaseModel):
    """What ``openline deploy --test`` (or any runner) found, scenario by scenario."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(min_length=1, max_length=64)
    scenarios: list[ScenarioResult] = Field(min_length=1, max_length=1000)


def log_json(row: dict) -> dict[str, Any]:
    return {
        "seq": row["seq"],
        "timestamp": rfc3339(row["at"]),
        "stream": row["stream"],
        "level": row["level"],
        "message": row["message"],
        "call_id": row["call_id"],
    }


# -- deployments by id (declared before /{agent_id}/…, which would match them) ------------


@router.get("/deployments/{deployment_id}")
def get_deployment(deployment_id: Text, ol: PlatformDep) -> dict:
    return deployment_json(_deployment(ol, deployment_id))


@router.post("/deployments/{deployment_id}/promote", status_code=202)
async def promote_deployment(deployment_id: Text, ol: PlatformDep) -> dict:
    """Make this deployment the agent's live one (roll back or forward); follow its logs
    or poll it until ``is_live`` (or ``deploy_error``). The live one is restarted with
    the agent's current env vars: ``building`` until its new process is healthy, then
    ``deployed`` again (``deployment_error`` says why if it could not start)."""
    try:
        row = await ol.deployments.promote(deployment_id)
    except DeploymentsDisabled as error:
        raise ApiError(409, str(error)) from None
    except CannotPromote as error:
        raise ApiError(409, str(error)) from None
    if row is None:
        raise not_found("deployment", deployment_id)
    return deployment_json(row)


@router.post("/deployments/{deployment_id}/test_run")
async def record_test_run(deployment_id: Text, body: TestRunResults, ol: PlatformDep) -> dict:
    """Record a held deployment's test run. When a scenario failed the deployment is
    refused: its process stops, and it is a ``deploy_error`` naming the failed scenarios
    (the live one goes on). When all passed, promote it to make it live."""
    failed = [scenario.name for scenario in body.scenarios if not scenario.passed]
    test_run = body.model_dump() | {"passed": not failed, "recorded_at": rfc3339(utcnow())}
    try:
        row = await ol.deployments.record_test_run(deployment_id, test_run, failed)
    except NotHeld as error:
        raise ApiError(409, str(error)) from None
    if row is None:
        raise not_found("deployment", deployment_id)
    return deployment_json(row)


@router.get("/deployments/{deployment_id}/logs")
def deployment_logs(
    deployment_id: Text,
    ol: PlatformDep,
    since: UtcTime | None = None,
    until: UtcTime | None = None,
    level: LogLevel | None = None,
    q: Annotated[Text | None, Query(max_length=200, description="Text the line contains.")] = None,
    call_id: Text | None = None,
    stream: Literal["build", "runtime"] | None = None,
    after: Annotated[Cursor, Query(description="seq of the last line already seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    tail: Annotated[bool, Query(description="The last `limit` matching lines.")] = False,
) -> dict:
    """The deployment's build and runtime log lines, oldest first; ``level`` is a minimum."""
    _deployment(ol, deployment_id)
    where = _query(since, until, level, q, call_id, stream, after)
    rows, more = ol.deployment_logs.lines(deployment_id, where, limit, tail)
    data = [log_json(row) for row in rows]
    next_page = data[-1]["seq"] if more and not tail and data else None
    return {"data": data, "has_more": more, "next_page": next_page}


@router.get(
    "/deployments/{deployment_id}/logs/stream",
    response_class=sse.EventStream,
    responses=sse.documented("log", "deployment", "end"),
)
async def tail_deployment_logs(
    deployment_id: Text,
    request: Request,
    ol: PlatformDep,
    level: LogLevel | None = None,
    q: Annotated[Text | None, Query(max_length=200)] = None,
    call_id: Text | None = None,
    stream: Literal["build", "runtime"] | None = None,
    after: Annotated[Cursor, Query(description="seq of the last line already seen")] = 0,
) -> sse.EventStream:
    """Server-sent events: ``log`` for each line after ``after`` as it is stored,
    ``deployment`` whenever the deployment changes, and ``end`` once it has finished
    (failed, skipped, or replaced and stopped)."""
    await asyncio.to_thread(_deployment, ol, deployment_id)
    where = _query(None, None, level, q, call_id, stream, after)
    return sse.EventStream(
        _tail(ol, deployment_id, where, request),
        headers=sse.HEADERS,
    )


async def _tail(
    ol: Platform, deployment_id: str, where: LogQuery, request: Request
) -> AsyncIterator[str]:
    changed = ol.feed.subscribe(deployment_id)
    seen: dict | None = None
    after = where.after_seq
    try:
        while True:
            changed.clear()
            # The row first: every line stored before its change is then read below.
            row = await asyncio.to_thread(ol.deployment_repo.get, deployment_id)
            assert row is not None  # deployments are never deleted: found before the stream
            while True:
                query = dataclasses.replace(where, after_seq=after)
                rows, more = await asyncio.to_thread(
                    ol.deployment_logs.lines, deployment_id, query, 500
                )
                for line in rows:
                    after = line["seq"]
                    yield sse.event("log", log_json(line))
                if not more:
                    break
            shown = deployment_json(row)
            if shown != seen:
                seen = shown
                yield sse.event("deployment", shown)
            if row["status"] in _FINISHED and not row["url"]:
                yield sse.event("end", shown)
                return
            beat = await sse.next_change(changed, request)
            if beat is None:
                return
            if beat:
                yield beat
    finally:
        ol.feed.unsubscribe(deployment_id, changed)


# -- an agent's deployments ----------------------------------------------------------------


@router.post("/{agent_id}/deployments", status_code=201)
async def create_deployment(
    agent_id: Text,
    request: Request,
    ol: PlatformDep,
    git_commit_hash: Annotated[Text | None, Query(max_length=64)] = None,
    hold: Annotated[
        bool, Query(description="Build and start it, but keep it from going live (held)")
    ] = False,
) -> dict:
    """Upload the agent directory as a tar.gz request body; it is queued, built and, once
    healthy, made live — or, with ``hold``, held: running for calls that ask for it by
    ``deployment_id``, until it is promoted."""
    if await asyncio.to_thread(ol.agents.get, agent_id) is None:
        raise not_found("agent", agent_id)
    if not ol.deployments.settings.enabled:
        raise ApiError(409, "this openline process does not run deployments")
    if request.headers.get("content-type", "").startswith("multipart/"):
        raise ApiError(415, "send the archive itself as the body (Content-Type: application/gzip)")
    upload, sha256, size = await _receive(request, ol)
    try:
        row = await ol.deployments.submit(agent_id, upload, sha256, size, git_commit_hash, hold)
    finally:
        await asyncio.to_thread(upload.unlink, missing_ok=True)
    return deployment_json(row)


async def _receive(request: Request, ol: Platform) -> tuple[Path, str, int]:
    """The body, written to disk as it arrives (bounded), with its sha256 and size."""
    cap = ol.deployments.settings.max_archive_bytes
    path = ol.deployments.incoming() / f"{uuid.uuid4().hex}.part"
    digest = hashlib.sha256()
    size = 0
    handle = await asyncio.to_thread(path.open, "wb")
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise ApiError(413, f"the archive is over {cap} bytes")
            digest.update(chunk)
            await asyncio.to_thread(handle.write, chunk)
    except BaseException:
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    await asyncio.to_thread(handle.close)
    if size == 0:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise ApiError(422, "the body is empty: send the agent directory as a tar.gz archive")
    return path, digest.hexdigest(), size


@router.get("/{agent_id}/deployments")
def list_deployments(agent_id: Text, ol: PlatformDep) -> list[dict]:
    if ol.agents.get(agent_id) is None:
        raise not_found("agent", agent_id)
    return [deployment_json(row) for row in ol.deployment_repo.for_agent(agent_id)]


# -- an agent's environment variables --------------------------------------------------------


@router.get("/{agent_id}/env")
def list_env(agent_id: Text, ol: PlatformDep) -> dict:
    """The names of the agent's environment variables (values are never returned)."""
    _agent(ol, agent_id)
    return _env_json(ol, agent_id)


@router.patch("/{agent_id}/env")
def change_env(
    agent_id: Text,
    ol: PlatformDep,
    changes: Annotated[dict[str, str | None], Body(description='{"NAME": "value" | null}')],
) -> dict:
    """Set (a string) or remove (``null``) variables. Processes started from now on get
    them: redeploy, or promote the live deployment, to apply them to it now."""
    _agent(ol, agent_id)
    if len(changes) > 200:
        raise ApiError(422, "at most 200 variables per request")
    for name, value in changes.items():
        if not ENV_NAME.match(name):
            raise ApiError(
                422, f"{name[:130]!r} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)"
            )
        if name in RESERVED_ENV:
            raise ApiError(422, f"{name} is set by openline for every deployment")
        if value is not None and (len(value) > MAX_ENV_VALUE_CHARS or "\x00" in value):
            raise ApiError(
                422, f"the value of {name} is over {MAX_ENV_VALUE_CHARS} characters or has a NUL"
            )
    ol.env_vars.change(agent_id, changes)
    return _env_json(ol, agent_id)


@router.delete("/{agent_id}/env/{name}", status_code=204)
def remove_env(agent_id: Text, name: str, ol: PlatformDep) -> Response:
    _agent(ol, agent_id)
    if name not in {row["name"] for row in ol.env_vars.names(agent_id)}:
        raise ApiError(404, f"agent {agent_id} has no environment variable {name!r}")
    ol.env_vars.change(agent_id, {name: None})
    return Response(status_code=204)


# -- helpers ------------------------------------------------------------------------------------


def _deployment(ol: Platform, deployment_id: str) -> dict:
    row = ol.deployment_repo.get(deployment_id)
    if row is None:
        raise not_found("deployment", deployment_id)
    return row


def _agent(ol: Platform, agent_id: str) -> dict:
    agent = ol.agents.get(agent_id)
    if agent is None:
        raise not_found("agent", agent_id)
    return agent


def _env_json(ol: Platform, agent_id: str) -> dict:
    data = [
        {
            "name": row["name"],
            "created_at": rfc3339(row["created_at"]),
            "updated_at": rfc3339(row["updated_at"]),
        }
        for row in ol.env_vars.names(agent_id)
    ]
    return {"data": data}


def _query(
    since: datetime | None,
    until: datetime | None,
    level: str | None,
    q: str | None,
    call_id: str | None,
    stream: str | None,
    after: int,
) -> LogQuery:
    return LogQuery(
        since=since,
        until=until,
        levels=at_least(level),
        search=q or None,
        call_id=call_id,
        streams=STREAMS[stream] if stream else None,
        after_seq=after,
    )
