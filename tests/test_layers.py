"""Import layers of src/openline, read from the source with ``ast``.

Every import counts, also one inside a function or under ``TYPE_CHECKING``: a layer that
needs another's types there still depends on it. ``importlib`` calls are not seen.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


@dataclass(frozen=True)
class Rule:
    """What the modules of ``package`` (and of its subpackages) may import of openline."""

    package: str
    why: str
    only: tuple[str, ...] = ()  # if set, nothing of openline outside these
    never: tuple[str, ...] = ()
    planted: str = ""  # an import that breaks the rule, for the test that it is caught


RULES = [
    Rule(
        "openline.domain",
        "plain data and rules, below every other layer",
        only=("openline.domain",),
        planted="from openline.store.calls import CallRepo",
    ),
    Rule(
        "openline.store",
        "persistence is used by the layers above it, never the other way",
        never=tuple(
            f"openline.{name}"
            for name in (
                "api",
                "console",
                "cli",
                "harness",
                "deploy",
                "webhooks",
                "analysis",
                "telemetry",
                "sdk",
                "platform",
            )
        ),
        planted="from ..platform import Platform",
    ),
    Rule(
        "openline.console",
        "the console reads through the store's repositories, not its tables",
        never=("openline.store.schema",),
        planted="from openline.store import schema",
    ),
    Rule(
        "openline.scenarios",
        "a client of the REST and websocket API, beside the CLI (which may import it)",
        never=tuple(
            f"openline.{name}"
            for name in (
                "api",
                "console",
                "cli",
                "harness",
                "deploy",
                "store",
                "webhooks",
                "analysis",
                "platform",
            )
        ),
        planted="from openline.store.calls import CallRepo",
    ),
    Rule(
        "openline.alerts",
        "the evaluator reads the store and queues into the outbox; nothing of the call path",
        only=("openline.alerts", "openline.domain", "openline.store", "openline.ids"),
        planted="from openline.harness.session import Harness",
    ),
    Rule(
        "openline.telemetry",
        "drawn from the record's plain facts, so any layer that has them can export them",
        only=("openline.telemetry", "openline.domain", "openline.__version__"),
        planted="from openline.store.calls import CallRepo",
    ),
    Rule(
        "openline.sdk",
        "an agent installs only the SDK; it runs apart from the platform",
        only=("openline.sdk",),
        planted="import openline.platform",
    ),
]


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _module_of(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of everything the file imports, relative imports resolved.

    ``from a.b import c`` yields ``a.b.c``: ``c`` may be a module (``from openline.store
    import schema``), and when it is a name in ``a.b`` the prefix still names the module.
    """
    module = _module_of(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            for alias in node.names:
                yield node.lineno, source if alias.name == "*" else f"{source}.{alias.name}"


def violations(rule: Rule, root: Path = SRC) -> list[str]:
    """``path:line imports name`` for each import in ``rule.package`` that breaks the rule."""
    top = root.joinpath(*rule.package.split("."))
    files = sorted(top.rglob("*.py")) if top.is_dir() else [top.with_suffix(".py")]
    found = []
    for path in files:
        for line, name in imported(path, root):
            if not _within(name, "openline"):
                continue
            if (rule.only and not any(_within(name, ok) for ok in rule.only)) or any(
                _within(name, bad) for bad in rule.never
            ):
                found.append(f"{path.relative_to(root)}:{line} imports {name}")
    return found


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.package)
def test_layer(rule: Rule) -> None:
    assert violations(rule) == [], f"{rule.package}: {rule.why}"


def _tree(tmp_path: Path, package: str, source: str) -> Path:
    """A source tree holding ``package`` with one module, ``planted.py``, of ``source``."""
    parts = package.split(".")
    directory = tmp_path.joinpath(*parts)
    directory.mkdir(parents=True)
    for depth in range(1, len(parts) + 1):
        tmp_path.joinpath(*parts[:depth], "__init__.py").touch()
    (directory / "planted.py").write_text(textwrap.dedent(source))
    return tmp_path


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.package)
def test_a_planted_violation_is_reported(rule: Rule, tmp_path: Path) -> None:
    # Inside a function, so imports anywhere in a module are seen, not just at its top.
    root = _tree(tmp_path, rule.package, f"def late():\n    {rule.planted}\n")
    [found] = violations(rule, root)
    assert found.startswith(f"{Path(*rule.package.split('.'), 'planted.py')}:2 imports ")


def test_allowed_imports_are_not_reported(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        "openline.domain",
        """\
        import json
        from typing import TYPE_CHECKING

        from . import time
        from .calls import Call
        from openline.domain.shapes import fact_json

        if TYPE_CHECKING:
            from openline.store import calls
        """,
    )
    [domain] = [rule for rule in RULES if rule.package == "openline.domain"]
    assert violations(domain, root) == ["openline/domain/planted.py:9 imports openline.store.calls"]


def test_relative_imports_resolve_from_the_importing_package(tmp_path: Path) -> None:
    root = _tree(tmp_path, "openline.store", "from .. import ids\nfrom ..api.app import create\n")
    (root / "openline/store/__init__.py").write_text("from .planted import x\nfrom .. import sdk\n")
    assert dict(imported(root / "openline/store/planted.py", root)) == {
        1: "openline.ids",
        2: "openline.api.app.create",
    }
    assert dict(imported(root / "openline/store/__init__.py", root)) == {
        1: "openline.store.planted.x",
        2: "openline.sdk",
    }
