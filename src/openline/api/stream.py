"""``WS /agents/stream/{agent_id}``: the client call protocol (docs/api.md).

The call goes to the agent's live deployment, or to the agent's own URL; with
``?deployment_id=`` to that deployment of the agent, live or not, if its process runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from openline.api.errors import ApiError
from openline.api.start_deadline import call_started
from openline.deploy.routing import Lease
from openline.deploy.supervisor import NotRunning
from openline.harness.session import CallSession, ClientChannel
from openline.platform import Platform
from openline.protocol.client import ClientStart, error_event

router = APIRouter(tags=["calls"])

POLICY_VIOLATION = 1008


class _WebSocketChannel:
    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket

    async def receive(self) -> str | None:
        try:
            message = await self._websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        return message.get("text") or (message.get("bytes") or b"").decode("utf-8", "replace")

    async def send(self, event: dict[str, Any]) -> None:
        await self._websocket.send_text(json.dumps(event))

    async def close(self, code: int, reason: str) -> None:
        if self._websocket.application_state != WebSocketState.DISCONNECTED:
            await self._websocket.close(code, reason)


@router.websocket("/agents/stream/{agent_id}")
async def call_agent(websocket: WebSocket, agent_id: str, deployment_id: str | None = None) -> None:
    await websocket.accept()
    try:
        await websocket.app.state.auth.check(websocket)
    except ApiError as error:
        await refuse(websocket, str(error))
        return
    channel = _WebSocketChannel(websocket)
    await serve_call(
        websocket,
        agent_id,
        channel,
        lambda: _read_start(websocket, channel),
        deployment_id=deployment_id,
    )


async def serve_call(
    websocket: WebSocket,
    agent_id: str,
    channel: ClientChannel,
    read_start: Callable[[], Awaitable[ClientStart | None]],
    connection_type: str = "websocket",
    deployment_id: str | None = None,
) -> None:
    """Run one call on an accepted, authenticated websocket, whatever its dialect."""
    ol: Platform = websocket.app.state.platform
    agent = await asyncio.to_thread(ol.agents.get, agent_id)
    if agent is None:
        await refuse(websocket, f"no agent with id {agent_id!r}")
        return
    # The deployment takes the call (and keeps running until it ends): the one asked
    # for, else the live one; an agent without one is called at its own URL.
    lease: Lease | None
    if deployment_id is not None:
        try:
            lease = await ol.deployments.lease_deployment(agent_id, deployment_id)
        except NotRunning as error:
            await refuse(websocket, str(error))
            return
    else:
        lease = await ol.deployments.lease(agent_id)
    try:
        if lease is None and not agent["self_hosted_deployment_url"]:
            await refuse(
                websocket, f"agent {agent_id} has no live deployment and no agent server URL"
            )
            return
        if lease is not None and not lease.url:
            await refuse(
                websocket,
                f"the live deployment {lease.deployment_id} is starting; call again shortly",
            )
            return
        start = await read_start()
        if start is None:
            return
        call_started(websocket.scope)
        session = CallSession(ol.harness, agent, channel, start, lease, connection_type)
        if lease is not None:
            lease.session = session
        await session.run()
    finally:
        ol.deployments.give_back(lease)


async def _read_start(websocket: WebSocket, channel: _WebSocketChannel) -> ClientStart | None:
    first = await channel.receive()
    if first is None:
        return None
    try:
        return ClientStart.model_validate_json(first)
    except ValidationError as error:
        await refuse(websocket, f"the first message must be a valid start event: {_brief(error)}")
        return None


async def refuse(websocket: WebSocket, message: str) -> None:
    await websocket.send_text(json.dumps(error_event(None, message)))
    await websocket.close(POLICY_VIOLATION, message[:120])


def _brief(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"])
    return f"{where}: {problem['msg']}" if where else problem["msg"]
