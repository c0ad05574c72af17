"""An endpoint's health: when its circuit opens, how often a paused endpoint is probed,
and when it has failed long enough to be disabled.

Failures are charged to the endpoint, not to its events: once ``OPEN_AFTER`` attempts in
a row have failed, the endpoint is *paused* and only one delivery at a time (a probe) is
sent to it, at waits that grow with how long it has been failing. The first success
closes the circuit and everything held goes out again. Only an endpoint that has failed
without a single success for ``disable_after_s`` (days, by default) is disabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

OPEN_AFTER = 5  # failed attempts in a row that pause an endpoint
PROBE_MIN_S = 0.5
DEFAULT_PROBE_MAX_S = 60.0
DEFAULT_DISABLE_AFTER_S = 5 * 86_400.0  # what Svix does; Stripe retries for 3 days

HEALTHY, FAILING, PAUSED, DISABLED = "healthy", "failing", "paused", "disabled"


@dataclass(frozen=True)
class HealthPolicy:
    disable_after_s: float = DEFAULT_DISABLE_AFTER_S
    probe_max_s: float = DEFAULT_PROBE_MAX_S

    def probe_wait(self, failing_for: timedelta) -> timedelta:
        """Half of how long the endpoint has been failing, within [PROBE_MIN_S, probe_max_s]:
        a receiver back after an outage of T is found within about T/2."""
        seconds = max(PROBE_MIN_S, failing_for.total_seconds() / 2)
        return timedelta(seconds=min(self.probe_max_s, seconds))

    def disable_reason(self, failing_for: timedelta, streak: int, last_error: str) -> str | None:
        if failing_for.total_seconds() < self.disable_after_s:
            return None
        return (
            f"disabled after failing for {_duration(failing_for)} "
            f"({streak} failed attempts in a row); last: {last_error}"
        )


def is_open(failure_streak: int) -> bool:
    return failure_streak >= OPEN_AFTER


def state(webhook: dict) -> str:
    """``healthy``, ``failing`` (some attempts in a row failed), ``paused`` (the circuit is
    open: one probe at a time) or ``disabled``."""
    if webhook["disabled_at"] is not None:
        return DISABLED
    if is_open(webhook["failure_streak"]):
        return PAUSED
    return FAILING if webhook["failure_streak"] else HEALTHY


def _duration(span: timedelta) -> str:
    seconds = span.total_seconds()
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"
