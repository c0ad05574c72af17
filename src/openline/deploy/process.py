"""One running agent process: started in its own process group, its stdout and stderr
read line by line, stopped gently then firmly.

The agent gets a small environment of its own (its variables, ``PORT``, a ``PATH`` with
its venv first), not openline's: openline's database URL and keys stay out of agent code.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

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
    def __init__(self, process: asyncio.subprocess.Process, readers: list[asyncio.Task]) -> None:
        self._process = process
        self._readers = readers

    @classmethod
    async def start(
        cls, argv: list[str], cwd: Path, env: dict[str, str], on_line: OnLine, max_chars: int
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
        readers = [
            asyncio.create_task(
                read_lines(stream, lambda text, s=name: on_line(s, text), max_chars)
            )
            for name, stream in (("stdout", process.stdout), ("stderr", process.stderr))
        ]
        return cls(process, readers)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def wait(self) -> int:
        """Wait for the process to exit and for its last output to be read."""
        code = await self._process.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._readers, return_exceptions=True), 2.0)
        return code

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
    still that deployment's process (its command line names the deployment's venv)."""
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
