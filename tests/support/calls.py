"""A text-call client for tests, speaking the client protocol over a real websocket."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import websockets


class TextCall:
    def __init__(self, connection, ack: dict[str, Any]) -> None:
        self.connection = connection
        self.ack = ack
        self.call_id: str = ack.get("call_id", "")
        self.events: list[dict[str, Any]] = [ack]

    @classmethod
    async def open(cls, ws_url: str, agent_id: str, key: str, **start: Any) -> TextCall:
        connection = await websockets.connect(
            f"{ws_url}/agents/stream/{agent_id}?access_token={key}", max_size=None
        )
        await connection.send(json.dumps({"event": "start", "stream_id": "s1"} | start))
        first = json.loads(await asyncio.wait_for(connection.recv(), 20))
        return cls(connection, first)

    async def send(self, event: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(event | {"stream_id": "s1"}))

    async def say(self, text: str) -> None:
        await self.send({"event": "user_text", "text": text})

    async def next_event(self, kind: str | None = None, timeout: float = 20) -> dict[str, Any]:
        while True:
            event = json.loads(await asyncio.wait_for(self.connection.recv(), timeout))
            self.events.append(event)
            if kind is None or event.get("event") == kind:
                return event

    async def reply(self) -> str:
        return (await self.next_event("agent_text"))["text"]

    async def closed(self, timeout: float = 20) -> tuple[int | None, str]:
        """Wait for the server to close; returns (code, reason)."""
        try:
            while True:
                event = json.loads(await asyncio.wait_for(self.connection.recv(), timeout))
                self.events.append(event)
        except websockets.ConnectionClosed as closed:
            return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, "")

    async def hang_up(self) -> None:
        await self.connection.close()


class Tail:
    """Follows a call's live tail (server-sent events) in a thread, collecting events."""

    def __init__(self, base_url: str, call_id: str, headers: dict[str, str]) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self._url = f"{base_url}/agents/calls/{call_id}/stream"
        self._headers = headers
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        with httpx.stream("GET", self._url, headers=self._headers, timeout=30) as reply:
            event = None
            for line in reply.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    self.seen.append((event, json.loads(line[6:])))

    async def finished(self, timeout: float = 15) -> bool:
        await asyncio.to_thread(self._thread.join, timeout)
        return not self._thread.is_alive()


async def call_once(
    server, call_id: str, done: Callable[[dict], bool], timeout: float = 15
) -> dict:
    """The call as REST shows it once ``done(call)`` holds, or after ``timeout`` (facts an
    agent sends after hanging up land a moment after the caller is told the call ended)."""
    deadline = time.monotonic() + timeout
    while True:
        with server.client() as http:
            call = http.get(f"/agents/calls/{call_id}").json()
        if done(call) or time.monotonic() > deadline:
            return call
        await asyncio.sleep(0.1)


async def ended(server, call_id: str) -> dict:
    """The call as REST shows it once its end is recorded."""
    return await call_once(server, call_id, lambda call: call["status"] != "started")


def first_text(turn: dict) -> float:
    """When an assistant turn's first text arrived (the turn may open earlier, with a tool
    call)."""
    return turn["text_chunks"][0]["start_timestamp"]
