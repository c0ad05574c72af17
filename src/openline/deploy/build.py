"""Building a deployment's virtualenv with uv, its output streamed line by line.

One venv per deployment, on the interpreter openline runs on (no Python downloads).
uv's cache is shared by every build, so a warm build links packages from it instead of
downloading them. With ``offline_first`` the install is tried against the cache alone
first; only when that cannot satisfy the requirements does uv ask the package index.

An agent that depends on ``openline`` (SDK agents) gets the running openline, installed
editable from its own source tree, whatever version its requirements name: a build
never fetches openline from an index, and the agent speaks the same protocol revision
as the platform that runs it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openline
from openline.deploy._lines import read_lines
from openline.deploy.project import Project

Emit = Callable[[str, str], None]  # (level, line)


class BuildFailed(Exception):
    """The build failed; ``str()`` is the reason shown in the API."""


@dataclass(frozen=True)
class Toolchain:
    uv: str
    cache_dir: Path
    python: str = sys.executable
    offline_first: bool = True
    max_line_chars: int = 8192

    @classmethod
    def find(cls, uv: str | None, cache_dir: Path, **options) -> Toolchain:
        return cls(uv or _bundled_uv(), cache_dir, **options)


def _bundled_uv() -> str:
    try:
        from uv import find_uv_bin  # the `uv` package on PyPI ships the binary
    except ImportError:
        found = shutil.which("uv")
        if found is None:
            raise BuildFailed("uv is not installed (pip install uv)") from None
        return found
    return find_uv_bin()


def openline_source() -> Path | None:
    """The source tree of the running openline, when it runs from one."""
    root = Path(openline.__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "openline"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


async def build(project: Project, venv: Path, work: Path, tools: Toolchain, emit: Emit) -> None:
    """Create ``venv`` and install the project's requirements into it."""
    env = _uv_env(tools)
    await _run([tools.uv, "venv", "--python", tools.python, str(venv)], work, env, emit, tools)
    python = str(venv / "bin" / "python")
    install = _install_args(project, work)
    if install:
        emit("info", f"installing dependencies from {project.source}")
        command = [tools.uv, "pip", "install", "--python", python, *install]
        offline: list[tuple[str, str]] = []  # shown only if the cache was enough
        if tools.offline_first and await _run(
            [*command, "--offline"],
            project.root,
            env,
            lambda *line: offline.append(line),
            tools,
            False,
        ):
            for level, text in offline:
                emit(level, text)
        else:
            if tools.offline_first:
                emit("info", "not everything is in uv's cache: resolving against the index")
            await _run(command, project.root, env, emit, tools)
    else:
        emit("info", f"no dependencies to install ({project.source})")
    emit("info", "checking the Python files compile")
    await _run(
        [python, "-m", "compileall", "-q", "-x", r"(^|/)\.", str(project.root)],
        project.root,
        env,
        emit,
        tools,
        step="compile check",
    )


def _install_args(project: Project, work: Path) -> list[str]:
    args: list[str] = []
    if project.requirements:
        requirements = work / "requirements.txt"
        requirements.write_text("\n".join(project.requirements) + "\n", encoding="utf-8")
        args += ["-r", str(requirements)]
    if project.openline_extras is not None:
        source = openline_source()
        extras = f"[{','.join(project.openline_extras)}]" if project.openline_extras else ""
        if source is not None:
            args += ["-e", f"{source}{extras}"]
        else:  # openline installed from a wheel: the same version from the index
            args += [f"openline{extras}=={openline.__version__}"]
    return args


def _uv_env(tools: Toolchain) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINE_", "VIRTUAL_ENV"))}
    return env | {
        "UV_CACHE_DIR": str(tools.cache_dir),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_PROGRESS": "1",
        "NO_COLOR": "1",
    }


async def _run(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    emit: Emit | None,
    tools: Toolchain,
    check: bool = True,
    step: str | None = None,
) -> bool:
    """Run a build step, its output to ``emit`` (or nowhere); True when it succeeded."""
    if emit is not None:
        emit("info", "$ " + " ".join(_shown(part) for part in command))
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    tail: list[str] = []

    def line(text: str) -> None:
        tail[:] = [*tail, text][-40:]
        if emit is not None:
            emit(_level(text), text)

    try:
        assert process.stdout is not None
        await read_lines(process.stdout, line, tools.max_line_chars)
        code = await process.wait()
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    if code == 0 or not check:
        return code == 0
    step = step or ("uv venv" if command[1:2] == ["venv"] else "dependency install")
    # Paths inside the deployment are shown relative to it ("main.py", not /data/…/main.py).
    cause = _cause(tail).replace(f"{cwd}/", "")
    raise BuildFailed(f"{step} failed: {cause}")


def _cause(tail: list[str]) -> str:
    """The lines of the output that say what went wrong, in one line."""
    marked = [t.strip() for t in tail if t.lstrip().startswith(_ERROR_MARKS)]
    if not marked:
        marked = [t.strip() for t in tail if t.strip()][-1:]
    return " ".join(marked)[:1000] or "no output"


_ERROR_MARKS = ("error", "cause:", "×", "╰─▶", "***", "SyntaxError", "IndentationError", "File ")


def _level(text: str) -> str:
    stripped = text.lstrip()
    if stripped.startswith(_ERROR_MARKS[:-1]):
        return "error"
    if stripped.startswith("warning"):
        return "warning"
    return "info"


def _shown(part: str) -> str:
    return part if part and " " not in part else repr(part)
