"""The range an analytics page shows: a preset (the last hour, day, week, month) or a
start and end typed in, read as UTC, bucketed by ``analytics.default_grain``.

A preset ends at the end of the current bucket, so every bucket is whole: its label is
its own, and its link to the calls covers exactly the calls it counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from openline.domain.analytics import MAX_BUCKETS, default_grain
from openline.domain.buckets import STEP, Grain, floor

PRESETS = {
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
}
DEFAULT = "24h"
INPUT_FORMAT = "%Y-%m-%dT%H:%M:%S"  # a datetime-local field with seconds, as the calls page reads


class BadRange(ValueError):
    """A range the page cannot show; the message says why, for the page to show."""


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    grain: Grain
    preset: str  # "" for a typed-in range

    def query(self) -> dict[str, str]:
        """The URL parameters that show this range again."""
        if self.preset:
            return {"range": self.preset}
        return {"start": field(self.start), "end": field(self.end)}

    def label(self, moment: datetime) -> str:
        """A bucket's start, as short as its grain allows."""
        if self.grain == "day":
            return moment.strftime("%b %d")
        if self.grain == "hour" and self.end - self.start > timedelta(days=1):
            return moment.strftime("%b %d %H:00")
        return moment.strftime("%H:%M")

    def described(self) -> str:
        if self.preset:
            return PRESETS[self.preset][0]
        return f"{field(self.start).replace('T', ' ')} to {field(self.end).replace('T', ' ')} UTC"


def field(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(INPUT_FORMAT)


def chosen(preset: str, start: str, end: str, now: datetime) -> TimeRange:
    """The range the page's parameters ask for: a preset, else a typed-in start or end
    (the picker sends both when a preset's button is pressed), else the default."""
    if (start or end) and not preset:
        upper = _moment(end, "End") if end else now
        lower = _moment(start, "Start") if start else upper - PRESETS[DEFAULT][1]
        if lower >= upper:
            raise BadRange("The start must be before the end.")
        grain = default_grain(lower, upper)
        if (upper - lower) / STEP[grain] > MAX_BUCKETS:
            raise BadRange(f"That range is too long: at most {MAX_BUCKETS} days.")
        return TimeRange(lower, upper, grain, "")
    preset = preset or DEFAULT
    if preset not in PRESETS:
        raise BadRange(f"Unknown range {preset[:20]!r}: choose one of {', '.join(PRESETS)}.")
    span = PRESETS[preset][1]
    grain = default_grain(now - span, now)
    upper = floor(now, grain) + STEP[grain]
    return TimeRange(upper - span, upper, grain, preset)


def _moment(text: str, label: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadRange(f"{label}: {text[:40]!r} is not a date and time.") from None
    if not 1 < parsed.year < 9999:  # room for a default start before it, a bucket after it
        raise BadRange(f"{label}: {text[:40]!r} is out of range.")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
