"""Test helpers: run an agent for real and talk to it as the platform would.

    with AgentProcess("main.py") as agent, CallClient(agent.ws_url) as call:
        greeting = call.start()
        reply = call.say("where is my order A123?")
        assert "shipped" in reply.text

`AgentProcess` starts an agent script as a subprocess on a free port;
`AgentServer` serves an `AgentApp` in a background thread; `CallClient` is a
blocking agent-protocol client (websockets' sync client), so tests need no
asyncio set-up.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

__all__ = ["AgentProcess", "AgentServer", "CallClient", "Reply", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to 0, read it, release it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class AgentServer:
    """Serve an ASGI app (an `AgentApp`) with uvicorn on a free loopback port, in a thread."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1") -> None:
        self.app = app
        self.host = host
        self.port = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    def __enter__(self) -> Self:
        import uvicorn

        sock = socket.socket()
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("agent server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


class AgentProcess:
    """Run `python script` with `PORT` set to a free port; wait for `GET /status`."""

    def __init__(
        self,
        script: str | os.PathLike[str],
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        python: str = sys.executable,
        startup_timeout: float = 20.0,
    ) -> None:
        self.script = Path(script).resolve()
        self.port = port or free_port()
        self.cwd = Path(cwd) if cwd else self.script.parent
        self._env = env or {}
        self._python = python
        self._timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def output(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def __enter__(self) -> Self:
        env = {
            **os.environ,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
            **self._env,
        }
        self._proc = subprocess.Popen(
            [self._python, str(self.script)],
            cwd=self.cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self._timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self._proc.returncode}:\n{self.output}")
            try:
                if httpx.get(f"{self.url}/status", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"agent did not answer /status:\n{self.output}")
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


@dataclass
class Reply:
    """The frames received while waiting for one response."""

    frames: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == kind]

    @property
    def messages(self) -> list[str]:
        return [f.get("content", "") for f in self.of_type("message")]

    @property
    def text(self) -> str:
        return " ".join(self.messages)

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return self.of_type("tool_call")

    @property
    def log_events(self) -> list[dict[str, Any]]:
        return self.of_type("log_event")

    @property
    def log_metrics(self) -> list[dict[str, Any]]:
        return self.of_type("log_metric")

    @property
    def log_records(self) -> list[dict[str, Any]]:
        return self.of_type("log_record")

    @property
    def end_call(self) -> dict[str, Any] | None:
        found = self.of_type("end_call")
        return found[0] if found else None


class CallClient:
    """A blocking agent-protocol client: one call on the agent's `/ws`."""

    def __init__(
        self,
        ws_url: str,
        *,
        call_id: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.ws_url = ws_url
        self.call_id = call_id or f"call_test_{uuid.uuid4().hex[:12]}"
        self.timeout = timeout
        self.frames: list[dict[str, Any]] = []  # everything received, in order
        self.closed = False
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)

    def __enter__(self) -> Self:
        self._ws = connect(self.ws_url, open_timeout=self.timeout).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code if self._ws is not None else None

    # ----------------------------------------------------------------- sending

    def send(self, frame: dict[str, Any]) -> str:
        """Send one platform message; adds an `event_id` if missing and returns it."""
        frame = dict(frame)
        frame.setdefault("event_id", f"ev_{next(self._ids)}")
        assert self._ws is not None, "use CallClient as a context manager"
        self._ws.send(json.dumps(frame))
        return frame["event_id"]

    def send_start(self, **fields: Any) -> str:
        start = {
            "type": "start",
            "call_id": self.call_id,
            "from": "+15550001",
            "to": "agent_test",
            "agent": {"id": "agent_test", "system_prompt": "", "introduction": ""},
            "metadata": {},
        }
        start.update(fields)
        return self.send(start)

    def send_turn(self, text: str) -> str:
        """A user text turn; returns the `event_id` of its `user_state idle`."""
        self.send({"type": "user_state", "value": "speaking"})
        self.send({"type": "message", "content": text})
        return self.send({"type": "user_state", "value": "idle"})

    # ---------------------------------------------------------------- receiving

    def recv(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next frame from the agent, or None once the socket is closed."""
        assert self._ws is not None, "use CallClient as a context manager"
        if self.closed:
            return None
        try:
            raw = self._ws.recv(timeout=self.timeout if timeout is None else timeout)
        except ConnectionClosed:
            self.closed = True
            return None
        frame = json.loads(raw)
        self.frames.append(frame)
        return frame

    def wait_response(self, event_id: str | None) -> Reply:
        """Frames up to the `response_end` answering `event_id` (or the socket closing)."""
        reply = Reply()
        while (frame := self.recv()) is not None:
            reply.frames.append(frame)
            if frame.get("type") == "response_end" and frame.get("responding_to") == event_id:
                break
        return reply

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first frame, already received or still to come, matching `predicate`."""
        for frame in self.frames:
            if predicate(frame):
                return frame
        while (received := self.recv()) is not None:
            if predicate(received):
                return received
        raise AssertionError("the agent closed the socket before the expected frame")

    def start(self, **fields: Any) -> Reply:
        """Send `start` and wait for the agent's first response (its greeting)."""
        return self.wait_response(self.send_start(**fields))

    def say(self, text: str) -> Reply:
        """Send a user text turn and wait for the agent's response to it."""
        return self.wait_response(self.send_turn(text))

    def until_closed(self) -> Reply:
        """Every frame until the agent closes the socket."""
        reply = Reply()
        while (frame := self.recv()) is not None:
            reply.frames.append(frame)
        return reply
