"""Log levels, lowest first: one vocabulary for call logs, deployment logs and the filters
over them (the SDK, which installs apart from the platform, keeps a copy a test pins)."""

from __future__ import annotations

from typing import Literal, get_args

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
LEVELS: tuple[LogLevel, ...] = get_args(LogLevel)


def at_least(level: str | None) -> tuple[LogLevel, ...] | None:
    """The levels a minimum-level filter keeps; None for no filter (or an unknown level,
    which callers that take user input reject before asking)."""
    if level not in LEVELS:
        return None
    return LEVELS[LEVELS.index(level) :]
