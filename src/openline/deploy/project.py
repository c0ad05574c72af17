"""What an agent directory declares: its entry point and its dependencies.

The rules (docs/deployments.md):
- the entry point is ``main.py``, run as ``python main.py`` with ``PORT`` set;
- dependencies come from ``pyproject.toml`` (``[project].dependencies``) when it has
  that table, else from ``requirements.txt``; a directory with neither has none;
- ``cartesia.toml`` is read when present: it must be valid TOML, and its ``[app].name``
  is shown in the build log; other keys are ignored;
- an archive whose only entry is one directory is that directory (``tar czf x.tgz agent/``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ENTRY_POINT = "main.py"
# A requirement on openline itself: "openline", "openline[loguru]>=0.1", "openline @ …".
_OPENLINE = re.compile(
    r"^\s*openline\s*(\[(?P<extras>[^\]]*)\])?\s*(?=$|[<>=!~;@\s])", re.IGNORECASE
)


class ProjectError(Exception):
    """The directory cannot be built; ``str()`` says why."""


@dataclass
class Project:
    root: Path
    requirements: list[str] = field(default_factory=list)  # without openline itself
    source: str = "no dependency file"  # where the requirements came from
    openline_extras: list[str] | None = None  # None: openline is not required
    app_name: str | None = None


def inspect(unpacked: Path) -> Project:
    root = root_of(unpacked)
    if not (root / ENTRY_POINT).is_file():
        raise ProjectError(
            f"no entry point: the archive has no {ENTRY_POINT} at its top level "
            f"(found: {_listing(root)})"
        )
    project = Project(root)
    cartesia = root / "cartesia.toml"
    if cartesia.is_file():
        app = _toml(cartesia).get("app")
        if isinstance(app, dict) and isinstance(app.get("name"), str):
            project.app_name = app["name"]
    requirements = _from_pyproject(root / "pyproject.toml")
    if requirements is not None:
        project.source = "pyproject.toml"
    elif (root / "requirements.txt").is_file():
        requirements = _from_requirements(root / "requirements.txt")
        project.source = "requirements.txt"
    for requirement in requirements or []:
        match = _OPENLINE.match(requirement)
        if match is None:
            project.requirements.append(requirement)
            continue
        extras = match.group("extras") or ""
        project.openline_extras = [e.strip() for e in extras.split(",") if e.strip()]
    return project


def root_of(unpacked: Path) -> Path:
    entries = [p for p in unpacked.iterdir()]
    if len(entries) == 1 and entries[0].is_dir() and not (unpacked / ENTRY_POINT).exists():
        return entries[0]
    return unpacked


def _toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ProjectError(f"{path.name} is not valid TOML: {error}") from None


def _from_pyproject(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    project = _toml(path).get("project")
    if not isinstance(project, dict):
        return None
    dependencies = project.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise ProjectError("pyproject.toml: [project].dependencies must be a list of strings")
    return dependencies


def _from_requirements(path: Path) -> list[str]:
    """Requirement lines as uv reads them (options such as ``-r`` or ``--index-url`` too)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ProjectError("requirements.txt is not UTF-8 text") from None
    lines = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _listing(root: Path, limit: int = 8) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    if not names:
        return "nothing"
    return ", ".join(names[:limit]) + (", …" if len(names) > limit else "")
