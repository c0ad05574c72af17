"""Deployment tests: real uploads, real uv builds, real agent processes.

Every build shares one uv cache (``.cache/uv-deploy``), so only the first run of the
suite on a machine downloads packages.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AGENTS = Path(__file__).parent / "agents"
UV_CACHE = ROOT / ".cache" / "uv-deploy"


@pytest.fixture(autouse=True)
def deploy_settings(monkeypatch) -> None:
    """Read by the server when it starts (OPENLINE_DEPLOY_*)."""
    monkeypatch.setenv("OPENLINE_DEPLOY_UV_CACHE_DIR", str(UV_CACHE))
    monkeypatch.setenv("OPENLINE_DEPLOY_HEALTH_TIMEOUT_S", "45")
    monkeypatch.setenv("OPENLINE_DEPLOY_STOP_TIMEOUT_S", "5")


@pytest.fixture
def echo_dir(tmp_path) -> Callable[[str], Path]:
    """``echo_dir("v1")``: a copy of the echo agent that greets with its version."""

    def make(version: str) -> Path:
        directory = tmp_path / f"echo-{version}"
        shutil.copytree(AGENTS / "echo", directory)
        (directory / "version.txt").write_text(version)
        return directory

    return make


@pytest.fixture
def order_status_dir(tmp_path) -> Path:
    """A copy of examples/order_status, deployed exactly as it is in the repository."""
    directory = tmp_path / "order_status"
    shutil.copytree(ROOT / "examples" / "order_status", directory)
    return directory
