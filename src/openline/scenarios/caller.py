"""The caller's side of a text call (``WS /agents/stream/{agent_id}``, the client protocol):
what ``openline chat`` and scenario runs share.

Turn-taking: the agent has finished answering a line when the server sends ``agent_done``
naming the line's ``id`` (any ``agent_done``, for the greeting), sent when the agent's
``response_end`` arrives. An agent that never sends ``response_end`` is taken to be done
once it has been quiet for ``idle`` seconds after its last output, or has not begun
within ``start`` seconds (:meth:`Replies.wait`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlencode

import websockets
from websockets.asyncio.client import ClientConnection, connect

START_TIMEOUT_S = 30.0  # the server gives the agent 10 s to answer, by default
# What an agent does on a call, besides finishing an answer: it is at work.
ACTIVITY = frozenset({"agent_text", "dtmf", "custom", "transfer_call"})

Outcome = Literal["done", "quiet", "ended"]


class Server(Protocol):
    """Where openline is and how to sign in (the CLI's ``Target`` is one)."""

    @property
    def url(self) -> str: ...
    @property
    def ws_url(self) -> str: ...
    @property
    def headers(self) -> dict[str, str]: ...


class CallRefused(Exception):
    """The call did not start; ``str()`` says why, ``call_id`` is its record if it has one."""

    def __init__(self, message: str, call_id: str | None = None) -> None:
        super().__init__(message)
        self.call_id = call_id


class Unreachable(Exception):
    """The websocket could not be opened; ``error`` is what the connection raised."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def line_id(number: int) -> str | None:
    """The id caller line ``number`` is sent with (0: the greeting, which answers no line)."""
    return f"line-{number}" if number else None


class Replies:
    """What the agent has done so far on one call: the answers it finished, when it was
    last at work, and whether the call's socket has closed."""

    def __init__(self) -> None:
        self.done: list[str | None] = []  # agent_done so far: the id each answered
        self.active_at = float("-inf")  # loop time the agent last did something
        self.closed = False
        self._changed = asyncio.Event()

    def on_event(self, event: dict[str, Any]) -> None:
        """Take note of one event the server sent the caller."""
        kind = event.get("event")
        if kind == "agent_done":
            self.done.append(event.get("responding_to"))
            self.poke()
        elif kind in ACTIVITY:
            self.active()

    def active(self) -> None:
        self.active_at = asyncio.get_running_loop().time()
        self.poke()

    def close(self) -> None:
        self.closed = True
        self.poke()

    def poke(self) -> None:
        """Something changed: whoever waits looks again."""
        self._changed.set()

    async def wait(
        self, number: int, start: float, idle: float, stop: asyncio.Event | None = None
    ) -> Outcome:
        """Until the agent has answered line ``number`` (0: greeted): ``done`` (it said
        so), ``quiet`` (nothing for ``start`` s, or ``idle`` s once it had begun) or
        ``ended`` (the call's socket closed, or ``stop`` was set)."""
        loop = asyncio.get_running_loop()
        asked_at = loop.time()
        answered = line_id(number)
        while not self.closed and not (stop is not None and stop.is_set()):
            self._changed.clear()
            if (answered in self.done) if number else self.done:
                return "done"
            begun = self.active_at >= asked_at
            deadline = self.active_at + idle if begun else asked_at + start
            remaining = deadline - loop.time()
            if remaining <= 0:
                return "quiet"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return "ended"


@dataclass
class CallSocket:
    """A started call: its websocket, and what the server said before it began."""

    socket: ClientConnection
    stream_id: str
    call_id: str | None
    errors: list[str] = field(default_factory=list)  # error events before the ack

    async def say(self, text: str, number: int) -> None:
        """Send caller line ``number``; raises ``websockets.ConnectionClosed``."""
        event = {"event": "user_text", "stream_id": self.stream_id, "id": line_id(number)}
        await self.socket.send(json.dumps(event | {"text": text}))


async def open_call(
    server: Server,
    agent_id: str,
    metadata: dict[str, Any],
    deployment_id: str | None = None,
) -> CallSocket:
    """Open a text call to the agent (to one of its deployments, if given) and wait for the
    server's ``ack``. Raises :class:`CallRefused` or :class:`Unreachable`."""
    uri = f"{server.ws_url}/agents/stream/{quote(agent_id, safe='')}"
    if deployment_id:
        uri += "?" + urlencode({"deployment_id": deployment_id})
    try:
        socket = await connect(
            uri, additional_headers=server.headers, max_size=None, open_timeout=10
        )
    except websockets.InvalidStatus as error:
        status = error.response.status_code
        raise CallRefused(f"the server refused the call (HTTP {status})") from None
    except (OSError, TimeoutError, websockets.InvalidHandshake) as error:
        raise Unreachable(error) from None
    call = CallSocket(socket, "cli-" + uuid.uuid4().hex[:12], None)
    start = {"event": "start", "stream_id": call.stream_id, "metadata": metadata}
    try:
        await socket.send(json.dumps(start))
        while True:
            event = json.loads(await asyncio.wait_for(socket.recv(), START_TIMEOUT_S))
            if event.get("event") == "ack":
                call.call_id = event.get("call_id")
                return call
            if event.get("event") == "error":
                call.errors.append(str(event.get("message")))
                call.call_id = event.get("call_id") or call.call_id
    except TimeoutError:
        await socket.close()
        raise CallRefused(f"the call did not start within {START_TIMEOUT_S:.0f}s") from None
    except websockets.ConnectionClosed as closed:
        reason = "; ".join(call.errors) or (closed.rcvd.reason if closed.rcvd else "")
        recorded = f" (recorded as {call.call_id})" if call.call_id else ""
        raise CallRefused(
            f"the call could not start: {reason or 'the server hung up'}{recorded}", call.call_id
        ) from None
