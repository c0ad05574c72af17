"""One running agent process: started in its own process group, its stdout and stderr
read line by line, stopped gently then firmly.

The agent gets a small environment of its own (its variables, ``PORT``, a ``PATH`` with
its venv first), not openline's: openline's database URL and keys stay out of agent code.
A ``Launcher`` decides where the process runs: ``HostLauncher`` runs it as it is, as
openline's user; ``sandbox.Sandbox`` (the default) runs it in a bubblewrap sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from openline.deploy._lines import read_lines

# Passed through from openline's environment: locale, time zone, temp dir, TLS roots, proxies.
_INHERITED = (
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)

OnLine = Callable[[str, str], None]  # (stream: "stdout" | "stderr", line)
ExitStatus = Callable[[int], int]  # the launcher's exit code → the agent's (negative: signal)


def _as_is(code: int) -> int:
    return code


@dataclass(frozen=True)
class Launch:
    """A deployment's process to start: its command, and where it lives on disk."""

    argv: list[str]
    source: Path  # the agent's code, and its working directory
    venv: Path
    env: dict[str, str]
    data_dir: Path  # openline's own: keys, database, every deployment


class Launcher(Protocol):
    """Starts deployments' processes (the runner interface: another launcher could start
    them elsewhere, e.g. as pods)."""

    @property
    def isolated(self) -> bool:
        """Agent code cannot see openline's data dir."""
        ...

    @property
    def where(self) -> str:
        """For the deployment log: "in a bubblewrap sandbox", …"""
        ...

    async def start(self, launch: Launch, on_line: OnLine, max_chars: int) -> AgentProcess: ...


class HostLauncher:
    """Runs the agent as openline's user, seeing what openline sees: no sandbox."""

    isolated = False
    where = "unsandboxed, as openline's user (OPENLINE_DEPLOY_SANDBOX=false)"

    async def start(self, launch: Launch, on_line: OnLine, max_chars: int) -> AgentProcess:
        return await AgentProcess.start(launch.argv, launch.source, launch.env, on_line, max_chars)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def agent_env(venv: Path, port: int, variables: dict[str, str], extra: dict[str, str]) -> dict:
    env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    env |= variables
    path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    return (
        env
        | extra
        | {
            "PORT": str(port),
            "PATH": f"{venv / 'bin'}{os.pathsep}{path}",
            "VIRTUAL_ENV": str(venv),
            "PYTHONUNBUFFERED": "1",  # lines reach the log as they are printed
        }
    )


class AgentProcess:
    def __init__(
        self,
        process: asyncio.subprocess.Process,
        readers: list[asyncio.Task],
        exit_status: ExitStatus = _as_is,
    ) -> None:
        self._process = process
        self._readers = readers
        self._exit_status = exit_status

    @classmethod
    async def start(
        cls,
        argv: list[str],
        cwd: Path,
        env: dict[str, str],
        on_line: OnLine,
        max_chars: int,
        exit_status: ExitStatus = _as_is,
    ) -> AgentProcess:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: stopping it stops its children
        )
        assert process.stdout is not None and process.stderr is not None  # both are pipes
        readers = [
            asyncio.create_task(read_lines(stream, functools.partial(on_line, name), max_chars))
            for name, stream in (("stdout", process.stdout), ("stderr", process.stderr))
        ]
        return cls(process, readers, exit_status)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        code = self._process.returncode
        return None if code is None else self._exit_status(code)

    async def wait(self) -> int:
        """Wait for the process to exit and for its last output to be read."""
        code = await self._process.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._readers, return_exceptions=True), 2.0)
        return self._exit_status(code)

    async def stop(self, timeout_s: float) -> int:
        """SIGTERM to the process group, SIGKILL after ``timeout_s``."""
        if self._process.returncode is None:
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), timeout_s)
            except TimeoutError:
                self._signal(signal.SIGKILL)
        self._signal(signal.SIGKILL)  # children that outlived their parent
        return await self.wait()

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, sig)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


def kill_stale(pid: int | None, venv: Path) -> bool:
    """Stop a process left by an openline that died without stopping it, if ``pid`` is
    still that deployment's process (its command line names the deployment's venv; a
    sandboxed one's does too, in its bind arguments)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
    except OSError:
        return False
    if str(venv) not in cmdline:
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
        return True
    return False
