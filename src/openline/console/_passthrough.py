"""API routes a signed-in browser may reach through the console, with its session.

A browser cannot attach ``Authorization`` to an ``EventSource``, an ``<audio src>`` or a
``WebSocket``, and the console never hands it an API key. So a few read-only or
call-placing API routes are served again under ``/console/api/…``: the console checks
the session cookie (and, for the websocket, the page origin and the CSRF token), then
hands the request to the API's own route in this process, with the API-key check
answered by the session. One code path serves both; nothing is proxied over the
network and no key is ever in a page.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from openline.console._session import CSRF_COOKIE
from openline.console._web import console, current_session

# What may pass: the live tail of a call, its recording, a deployment's log tail, and
# the client call websocket (the playground).
HTTP_ROUTES = (
    re.compile(r"^/agents/calls/[\w-]+/stream$"),
    re.compile(r"^/agents/calls/[\w-]+/audio$"),
    re.compile(r"^/agents/deployments/[\w-]+/logs/stream$"),
)
WEBSOCKET_ROUTES = (re.compile(r"^/agents/stream/[\w-]+$"),)


def allowed(scope_type: str, api_path: str) -> bool:
    patterns = WEBSOCKET_ROUTES if scope_type == "websocket" else HTTP_ROUTES
    return any(pattern.match(api_path) for pattern in patterns)


def route_exists(app: Any, api_path: str, scope_type: str = "http") -> bool:
    """Whether the API serves ``api_path`` (GET) — e.g. recordings, once they exist."""
    scope = {"type": scope_type, "path": api_path, "method": "GET", "root_path": ""}
    return any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)


async def forward(scope: Scope, receive: Receive, send: Send, api_path: str) -> bool:
    """Serve ``api_path`` with the API's route as the signed-in user; False when no route
    matches (the caller answers 404)."""
    app = scope["app"]
    inner = dict(scope)
    inner |= {
        "path": api_path,
        "raw_path": api_path.encode(),
        "app": _SignedIn(app),
    }
    for route in app.router.routes:
        match, child = route.matches(inner)
        if match is Match.FULL:
            inner.update(child)
            await route.handle(inner, receive, send)
            return True
    return False


class _SessionAuth:
    """The API's key check, answered: the console verified the session already."""

    async def check(self, connection: Any) -> None:
        return None


class _State:
    def __init__(self, state: Any) -> None:
        object.__setattr__(self, "_state", state)
        object.__setattr__(self, "auth", _SessionAuth())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)


class _SignedIn:
    """The application as the API route sees it, except for how it authenticates."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.state = _State(app.state)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


class PassThrough:
    """The ASGI endpoint of ``/console/api/{path}``, HTTP (GET) and websocket."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api_path = "/" + scope["path_params"]["path"]
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send, api_path)
            return
        request = Request(scope, receive)
        if not allowed("http", api_path):
            await _json_error(404, "not_found", "no such console route")(scope, receive, send)
            return
        if await asyncio.to_thread(current_session, request) is None:
            await _json_error(401, "unauthorized", "sign in to the console")(scope, receive, send)
            return
        if not await forward(scope, receive, send, api_path):
            await _json_error(404, "not_found", "no such route")(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, api_path: str) -> None:
        websocket = WebSocket(scope, receive, send)
        # Browsers send cookies with cross-site websocket handshakes too: check that the
        # page opening it is ours, and that it knows this session's CSRF token.
        origin = websocket.headers.get("origin", "")
        same_origin = urlsplit(origin).netloc == websocket.headers.get("host")
        token_ok = console(websocket).tokens.csrf_ok(
            websocket.cookies.get(CSRF_COOKIE), websocket.query_params.get("csrf")
        )
        if (
            not allowed("websocket", api_path)
            or not same_origin
            or not token_ok
            or await asyncio.to_thread(current_session, websocket) is None
        ):
            await websocket.close(code=1008)  # before accepting: the handshake gets 403
            return
        if not await forward(scope, receive, send, api_path):
            await websocket.close(code=1008)


def _json_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
