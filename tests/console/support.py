"""Helpers for console browser tests: a blocking text call, waiting, screenshots."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@contextlib.contextmanager
def text_call(ws_url: str, agent_id: str, key: str) -> Iterator[SyncCall]:
    """A text call over the API's client websocket, blocking (browser tests are sync)."""
    url = f"{ws_url}/agents/stream/{agent_id}?access_token={key}"
    with connect(url, max_size=None) as connection:
        yield SyncCall(connection)


class SyncCall:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.connection.send(json.dumps({"event": "start", "stream_id": "s1"}))
        self.ack = self.next("ack")
        self.call_id: str = self.ack["call_id"]

    def next(self, kind: str, timeout: float = 20) -> dict[str, Any]:
        while True:
            event = json.loads(self.connection.recv(timeout))
            if event.get("event") in (kind, "error"):
                return event

    def say(self, text: str) -> str:
        """Say something; returns the agent's first reply."""
        self.connection.send(json.dumps({"event": "user_text", "stream_id": "s1", "text": text}))
        return self.next("agent_text").get("text", "")

    def closed(self, timeout: float = 20) -> None:
        """Wait for the server to close the call (after the agent hangs up)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.connection.recv(max(0.1, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - closed, one way or another
            return

    def hang_up(self) -> None:
        self.connection.close()


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
