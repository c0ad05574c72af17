"""`AgentApp`: serves an agent over the agent protocol (`/status`, `/chats`, `/ws`).

    app = AgentApp(my_agent)                  # one agent for every call
    app = AgentApp(get_agent=make_agent)      # a fresh agent per call
    app.run()                                 # listens on $PORT (default 8000)

An agent is a callable `agent(ctx, event)` or an object with `process(ctx, event)`;
it is usually an async generator yielding output events.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from ._session import CallSession, GetAgent, SessionOptions
from .calllogs import install_call_logging
from .context import CallRequest
from .events import (
    AgentHandedOff,
    CallStarted,
    InputEvent,
    UserCustomSent,
    UserDtmfSent,
    UserTurnEnded,
    UserTurnStarted,
)

__all__ = ["DEFAULT_CANCEL_ON", "DEFAULT_RUN_ON", "AgentApp", "CallRejected", "PreCallResult"]

logger = logging.getLogger("openline.sdk")

CARTESIA_VERSION = "2026-04-03"
ERROR_SOURCE_HEADER = {"X-Cartesia-Error-Source": "agent-code"}

DEFAULT_RUN_ON: tuple[type[InputEvent], ...] = (
    CallStarted,
    UserTurnEnded,
    UserDtmfSent,
    UserCustomSent,
    AgentHandedOff,
)
DEFAULT_CANCEL_ON: tuple[type[InputEvent], ...] = (UserTurnStarted,)


class CallRejected(Exception):
    """Raise from a pre-call hook to reject the call (HTTP 403)."""


@dataclass(frozen=True)
class PreCallResult:
    """What a pre-call hook may return; a plain dict is taken as `metadata`."""

    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None


PreCall = Callable[[CallRequest], "PreCallResult | dict[str, Any] | bool | Awaitable[Any] | None"]


class AgentApp:
    """An ASGI app serving one agent. Pass `agent` or `get_agent`, not both.

    - `agent`: used for every call (keep per-call data in `ctx.state`).
    - `get_agent(ctx, request)`: called once per call (sync or async), returns the agent.
    - `pre_call(request)`: optional `POST /chats` hook; return metadata, or raise
      `CallRejected` / return False to refuse the call.
    - `run_on` / `cancel_on`: which input events start a response / cancel it.
    """

    def __init__(
        self,
        agent: Any = None,
        *,
        get_agent: GetAgent | None = None,
        pre_call: PreCall | None = None,
        name: str = "openline-agent",
        run_on: tuple[type[InputEvent], ...] = DEFAULT_RUN_ON,
        cancel_on: tuple[type[InputEvent], ...] = DEFAULT_CANCEL_ON,
    ) -> None:
        if (agent is None) == (get_agent is None):
            raise TypeError("AgentApp needs exactly one of `agent` or `get_agent`")
        self.name = name
        self._pre_call = pre_call
        self._options = SessionOptions(
            get_agent=get_agent or (lambda _ctx, _request: agent),
            run_on=tuple(run_on),
            cancel_on=tuple(cancel_on),
        )
        self._asgi = Starlette(
            routes=[
                Route("/status", self._status, methods=["GET"]),
                Route("/chats", self._chats, methods=["POST"]),
                WebSocketRoute("/ws", self._ws),
            ],
            lifespan=_lifespan,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi(scope, receive, send)

    def run(self, host: str | None = None, port: int | None = None, **uvicorn_options: Any) -> None:
        """Serve with uvicorn on `$HOST`:`$PORT` (defaults 127.0.0.1:8000)."""
        import uvicorn

        install_call_logging()
        uvicorn_options.setdefault("log_level", "info")
        uvicorn.run(
            self,
            host=host or os.environ.get("HOST", "127.0.0.1"),
            port=port if port is not None else int(os.environ.get("PORT", "8000")),
            **uvicorn_options,
        )

    # ------------------------------------------------------------------ endpoints

    async def _status(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {"status": "ok", "timestamp": datetime.now(UTC).isoformat(), "service": self.name}
        )

    async def _chats(self, request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = {}
        call = CallRequest.from_json(body if isinstance(body, dict) else {})
        metadata = dict(call.metadata)
        config = None
        if self._pre_call is not None:
            try:
                result = self._pre_call(call)
                if inspect.isawaitable(result):
                    result = await result
            except CallRejected as exc:
                return _agent_error(403, str(exc) or "call rejected by agent code")
            except Exception as exc:
                logger.exception("pre-call hook raised")
                return _agent_error(500, f"{type(exc).__name__}: {exc}")
            if result is False:
                return _agent_error(403, "call rejected by agent code")
            if isinstance(result, PreCallResult):
                metadata.update(result.metadata or {})
                config = result.config
            elif isinstance(result, dict):
                metadata.update(result)
        reply: dict[str, Any] = {
            "websocket_url": "/ws",
            "cartesia_version": CARTESIA_VERSION,
            "metadata": metadata,
        }
        if config is not None:
            reply["config"] = config
        return JSONResponse(reply)

    async def _ws(self, websocket: WebSocket) -> None:
        await CallSession(websocket, self._options).serve()


def _agent_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=ERROR_SOURCE_HEADER)


@asynccontextmanager
async def _lifespan(_app: Starlette) -> AsyncIterator[None]:
    install_call_logging()
    yield
