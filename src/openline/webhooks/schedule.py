"""When to try a delivery again."""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime

from openline.domain.time import utcnow

# Immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_SCHEDULE_S = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
_JITTER = 0.1
_RETRY_AFTER_CAP_S = 86_400.0


def next_delay(
    attempts_made: int, schedule: tuple[float, ...], retry_after: str | None
) -> float | None:
    """Seconds until the next attempt, or None when the schedule is used up.

    ``attempts_made`` counts the attempts so far; a receiver's ``Retry-After`` (seconds or
    an HTTP date) replaces the scheduled wait when it asks for longer.
    """
    if attempts_made >= len(schedule):
        return None
    base = schedule[attempts_made]
    delay = base * random.uniform(1 - _JITTER, 1 + _JITTER)
    asked = parse_retry_after(retry_after)
    return max(delay, asked) if asked is not None else delay


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - utcnow()).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), _RETRY_AFTER_CAP_S)
