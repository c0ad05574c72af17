"""Real servers on loopback for tests: openline itself and agent processes."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from openline.api.app import create_app
from openline.api.serving import uvicorn_config
from openline.config import Settings

HERE = Path(__file__).parent
# One TLS context for every test client: httpx otherwise loads the CA bundle for each client
# it makes (~50 ms of CPU), a quarter of an API test's time. Test servers speak plain HTTP.
TLS = ssl.create_default_context()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout_s: float = 20.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(verify=TLS, timeout=1.0) as http:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{url}: process exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if http.get(url).status_code < 500:
                    return
            time.sleep(0.01)
    raise TimeoutError(f"{url} did not come up in {timeout_s}s")


@contextlib.contextmanager
def http_process(
    args: list[str], port: int, env: dict[str, str], cwd: Path | None = None
) -> Iterator[str]:
    """Run a server as a real process until its /status answers; yields its base URL."""
    process = subprocess.Popen(args, env=os.environ | env, cwd=cwd)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_http(base_url + "/status", process=process)
        yield base_url
    finally:
        process.terminate()
        process.wait(15)


@contextlib.contextmanager
def agent_process(
    script: Path = HERE / "scripted_agent.py", python: str = sys.executable, **env: str
) -> Iterator[str]:
    """Run an agent server script as a real process; yields its base URL."""
    port = free_port()
    with http_process([python, str(script)], port, {"PORT": str(port)} | env, script.parent) as url:
        yield url


@dataclass
class RunningServer:
    base_url: str
    api_key: str
    settings: Settings
    app: object

    @property
    def ws_url(self) -> str:
        return "ws" + self.base_url[len("http") :]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.headers, timeout=30.0, verify=TLS)

    def get(self, path: str, **params: object) -> httpx.Response:
        """One ``GET`` with the API key, on a client closed after it."""
        with self.client() as http:
            return http.get(path, params=params or None)

    @property
    def platform(self):
        return self.app.state.platform

    def create_agent(self, name: str, **fields: object) -> str:
        """``POST /agents`` with ``fields``; the new agent's id."""
        with self.client() as http:
            reply = http.post("/agents", json={"name": name} | fields)
            reply.raise_for_status()
            return reply.json()["id"]


@contextlib.contextmanager
def openline_server(settings: Settings) -> Iterator[RunningServer]:
    """openline's app under uvicorn in a thread, on a free loopback port."""
    port = free_port()
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": port})
    app = create_app(settings)
    server = uvicorn.Server(uvicorn_config(app, settings, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_http(base_url + "/status")
        yield RunningServer(base_url, settings.api_key or "", settings, app)
    finally:
        server.should_exit = True
        thread.join(15)
