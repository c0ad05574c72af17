"""Process plumbing the benchmarks share: servers on free loopback ports, their CPU time,
and waiting for them to come up and to go quiet (Linux)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SETTLE_LIMIT_S = 120.0  # longest wait for the servers to go idle between phases


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def run_load(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a load client's event loop: uvloop when installed (the client must not be the
    bottleneck), asyncio's otherwise."""
    raise_fd_limit()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, process: subprocess.Popen, timeout_s: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited with code {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not come up in {timeout_s:.0f}s")


@contextlib.contextmanager
def process(
    argv: list[str],
    log_path: Path,
    env: dict[str, str] | None = None,
    stop: int = signal.SIGTERM,
) -> Iterator:
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=raise_fd_limit,  # noqa: PLW1509 - no threads in this process
        )
        try:
            yield proc
        finally:
            proc.send_signal(stop)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pids: dict[str, int], limit_s: float = SETTLE_LIMIT_S) -> float:
    """Wait until the servers are idle (what the previous phase left behind, such as calls
    still being closed or post-call analysis, would otherwise run during the next one).
    Returns the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < limit_s:
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        time.sleep(0.5)
        busy = max(cpu_seconds(pid) - before[name] for name, pid in pids.items()) / 0.5
        if busy < 0.05:
            break
    return time.monotonic() - began


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
