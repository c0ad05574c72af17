"""A websocket must start its call within a deadline, or it is closed.

A call websocket holds a task, a socket and (for a deployment) a lease on an agent
process from the moment it opens; one that never sends its ``start`` event (or, on the
Twilio bridge, never authenticates, which happens in ``start``) would hold them until
the client went away. This ASGI middleware gives every websocket ``timeout_s`` to start
a call: ``call_started(scope)`` (called by ``stream.serve_call``) lifts the deadline;
when it passes first, the application's handling of the socket is cancelled and the
socket closed with code 4408 (as graphql-ws closes a connection not initialised in
time: 4000 + HTTP's 408).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

START_TIMEOUT = 4408
_LIFT = "openline.lift_start_deadline"


def call_started(scope: Scope) -> None:
    lift: Callable[[], Any] | None = scope.get(_LIFT)
    if lift is not None:
        lift()


class StartDeadline:
    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self._app = app
        self._timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self._app(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self._timeout_s) as deadline:
                scope[_LIFT] = lambda: deadline.reschedule(None)
                await self._app(scope, receive, send)
        except TimeoutError:
            if not deadline.expired():
                raise  # the application's own, after its call started
            reason = f"no call started within {self._timeout_s:g} s"
            with contextlib.suppress(Exception):  # the client may have gone already
                await send({"type": "websocket.close", "code": START_TIMEOUT, "reason": reason})
