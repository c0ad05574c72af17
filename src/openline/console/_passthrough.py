"""API routes a signed-in browser may reach through the console, with its session.

A browser cannot attach ``Authorization`` to an ``EventSource`` or an ``<audio src>``,
and the console never hands it an API key. So a few read-only API routes are served
again under ``/console/api/…``: the console checks the session cookie, then hands the
request to the API's own route in this process, with the API-key check answered by the
session. One code path serves both; nothing is proxied over the network and no key is
ever in a page. (The playground's call websocket goes to the API itself, with an access
token the console mints: see ``routes.access_token``.)
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from openline.console._web import current_session

# What may pass: the live tail of a call, its recording and the recording's peaks, a
# deployment's log tail.
HTTP_ROUTES = (
    re.compile(r"^/agents/calls/[\w-]+/stream$"),
    re.compile(r"^/agents/calls/[\w-]+/audio$"),
    re.compile(r"^/agents/calls/[\w-]+/audio/peaks$"),
    re.compile(r"^/agents/deployments/[\w-]+/logs/stream$"),
)


def allowed(api_path: str) -> bool:
    return any(pattern.match(api_path) for pattern in HTTP_ROUTES)


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

    def __init__(self, app: Starlette) -> None:
        self._app = app
        self.state = _State(app.state)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


class PassThrough:
    """The ASGI endpoint of ``/console/api/{path}`` (GET)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api_path = "/" + scope["path_params"]["path"]
        request = Request(scope, receive)
        if not allowed(api_path):
            await _json_error(404, "not_found", "no such console route")(scope, receive, send)
            return
        if await asyncio.to_thread(current_session, request) is None:
            await _json_error(401, "unauthorized", "sign in to the console")(scope, receive, send)
            return
        if not await forward(scope, receive, send, api_path):
            await _json_error(404, "not_found", "no such route")(scope, receive, send)


def _json_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
