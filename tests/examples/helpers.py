"""Start an example agent from examples/ as a real process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from openline.sdk.testing import AgentProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_agent(name: str):
    """A module-wide ``agent`` fixture: `cd examples/<name> && PORT=<free> python main.py`,
    waiting for /status; the process stops after the module's tests."""

    @pytest.fixture(scope="module")
    def agent() -> Iterator[AgentProcess]:
        with AgentProcess(EXAMPLES / name / "main.py", cwd=EXAMPLES / name) as proc:
            yield proc

    return agent
