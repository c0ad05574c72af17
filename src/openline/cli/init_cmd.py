"""`openline init [DIR]`: scaffold a new agent project from templates/agent/.

Kept free of Typer so it can be called (and tested) as a plain function; the
command only parses arguments and prints the written paths.
"""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates" / "agent"
SUFFIX = ".tmpl"


def project_name(directory: Path) -> str:
    """A package-style name from the directory: "My Agent" -> "my-agent"."""
    name = re.sub(r"[^a-z0-9]+", "-", directory.resolve().name.lower()).strip("-")
    return name or "my-agent"


def init_project(directory: Path, name: str | None = None, force: bool = False) -> list[Path]:
    """Write main.py, pyproject.toml, README.md, tests/test_agent.py and
    scenarios/greets.yaml into `directory`.

    Refuses (FileExistsError, nothing written) when any of them exists, unless
    `force`. Returns the paths written.
    """
    directory = Path(directory)
    name = name or project_name(directory)
    values = {"name": name, "module": re.sub(r"[^a-z0-9_]", "_", name.lower())}
    templates = sorted(p for p in TEMPLATES.rglob(f"*{SUFFIX}") if p.is_file())
    targets = [directory / t.relative_to(TEMPLATES).with_suffix("") for t in templates]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        listed = ", ".join(str(p) for p in existing)
        raise FileExistsError(f"refusing to overwrite {listed} (use --force)")
    for template, target in zip(templates, targets, strict=True):
        text = template.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return targets
