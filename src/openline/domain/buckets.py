"""UTC time buckets of fleet analytics: a minute, an hour, a day.

A call counts in the bucket where it started. Rollups are kept per minute, hour and day;
``cover`` cuts any range into the fewest aligned rollup buckets plus, at its ends, the
parts shorter than a minute (read from the calls' own tallies).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

Grain = Literal["minute", "hour", "day"]
GRAINS: tuple[Grain, ...] = get_args(Grain)
STEP: dict[Grain, timedelta] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
_COARSEST_FIRST: tuple[Grain, ...] = ("day", "hour", "minute")


def floor(moment: datetime, grain: Grain) -> datetime:
    moment = moment.replace(second=0, microsecond=0)
    if grain in ("hour", "day"):
        moment = moment.replace(minute=0)
    if grain == "day":
        moment = moment.replace(hour=0)
    return moment


def buckets(start: datetime, end: datetime, grain: Grain) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut at the grain's boundaries (the first and last may be partial)."""
    cuts = []
    lower = start
    while lower < end:
        upper = min(floor(lower, grain) + STEP[grain], end)
        cuts.append((lower, upper))
        lower = upper
    return cuts


@dataclass(frozen=True)
class Piece:
    """Part of a range: a whole rollup bucket (``grain`` set), or a stretch shorter than a
    minute at an end of the range (``grain`` None)."""

    grain: Grain | None
    start: datetime
    end: datetime


def cover(start: datetime, end: datetime) -> list[Piece]:
    pieces = []
    moment = start
    while moment < end:
        for grain in _COARSEST_FIRST:
            step_end = moment + STEP[grain]
            if floor(moment, grain) == moment and step_end <= end:
                pieces.append(Piece(grain, moment, step_end))
                moment = step_end
                break
        else:  # not on a minute, or less than one left
            upper = min(floor(moment, "minute") + STEP["minute"], end)
            pieces.append(Piece(None, moment, upper))
            moment = upper
    return pieces
