"""Virtualenvs with cartesia-line and cartesia, kept apart from openline's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["cartesia-line==0.2.19", "cartesia==4.2.0"]
# What every Line example pins: the last release whose agents never send response_end.
LINE_0_2_18 = ["cartesia-line==0.2.18"]


def interop_venv(name: str, packages: list[str]) -> Path:
    """The python of ``.cache/<name>``, a virtualenv with ``packages`` (made once)."""
    venv = ROOT / ".cache" / name
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if not stamp.exists() or stamp.read_text() != " ".join(packages):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *packages], check=True)
        stamp.write_text(" ".join(packages))
    return python


@pytest.fixture(scope="session")
def interop_python() -> Path:
    return interop_venv("interop-venv", PACKAGES)


@pytest.fixture(scope="session")
def line_0_2_18_python() -> Path:
    return interop_venv("interop-venv-line-0.2.18", LINE_0_2_18)
