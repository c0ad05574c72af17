"""Start an example agent from examples/ as a real process."""

from __future__ import annotations

from pathlib import Path

from openline.sdk.testing import AgentProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str) -> AgentProcess:
    """`cd examples/<name> && PORT=<free> python main.py`, waiting for /status."""
    return AgentProcess(EXAMPLES / name / "main.py", cwd=EXAMPLES / name)
