"""The docs stay true: every setting in ``openline.config.Settings`` is in the
configuration table of docs/operations.md under its environment variable's name, and the
table names no variable that is not a setting (a rename shows up on both sides)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openline.config import Settings

OPERATIONS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"


def _env_name(field: str) -> str:
    return f"{Settings.model_config['env_prefix']}{field}".upper()


def _configuration_table() -> set[str]:
    """The variables named in the first column of the "## Configuration" table."""
    section = OPERATIONS.read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("|"):
            names.update(re.findall(r"`(OPENLINE_[A-Z0-9_]+)`", line.split("|")[1]))
    return names


DOCUMENTED = _configuration_table()


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_setting_is_documented(field: str) -> None:
    assert _env_name(field) in DOCUMENTED


def test_documented_variables_are_settings() -> None:
    assert DOCUMENTED - {_env_name(field) for field in Settings.model_fields} == set()
