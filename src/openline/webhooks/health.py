"""The health policy: what an endpoint's attempts mean for it and for its deliveries.

Failures are charged to the endpoint, not to its events: once ``OPEN_AFTER`` attempts in
a row have failed, the endpoint is *paused* and only one delivery at a time (a probe) is
sent to it, at waits that grow with how long it has been failing. The first success
closes the circuit and everything held goes out again. Only an endpoint that has failed
without a single success for ``disable_after_s`` (days, by default) is disabled, or one
that answered 410 Gone. The delivery queue (``openline.store.delivery_queue``) applies
these decisions where it logs the attempts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from openline.domain.webhook_health import is_open
from openline.store.delivery_queue import (
    DELIVERED,
    FAILED,
    PENDING,
    Claimed,
    DeliveryMove,
    EndpointHealth,
    HealthMove,
    Outcome,
)

PROBE_MIN_S = 0.5
DEFAULT_PROBE_MAX_S = 60.0
DEFAULT_DISABLE_AFTER_S = 5 * 86_400.0  # what Svix does; Stripe retries for 3 days


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

    def endpoint_after(
        self, before: EndpointHealth, outcomes: list[Outcome], now: datetime
    ) -> HealthMove:
        """The endpoint's streak, circuit and disabling after these attempts (in the
        order they finished): a success resets the streak, the failures after the last
        success count on."""
        succeeded, failures = False, 0
        for outcome in outcomes:
            succeeded, failures = (True, 0) if outcome.delivered else (succeeded, failures + 1)
        if not failures:
            reset = {"failure_streak": 0, "failing_since": None, "paused_until": None}
            # Written only when it changes: no write to a hot row.
            return HealthMove(
                reset if before.failure_streak else {}, resumed=is_open(before.failure_streak)
            )
        streak = failures if succeeded else before.failure_streak + failures
        since = now if succeeded else (before.failing_since or now)
        changes = {
            "failure_streak": streak,
            "failing_since": since,
            "paused_until": now + self.probe_wait(now - since) if is_open(streak) else None,
        }
        failed = next(outcome for outcome in reversed(outcomes) if not outcome.delivered)
        reason = failed.disable_reason or self.disable_reason(
            now - since, streak, failed.error or "failed"
        )
        if reason and not before.disabled:
            changes |= {"disabled_at": now, "disabled_reason": reason}
        return HealthMove(changes, holds=is_open(streak) or bool(reason) or before.disabled)

    def delivery_after(
        self, delivery: Claimed, outcome: Outcome, holds: bool, now: datetime
    ) -> DeliveryMove:
        """A delivery whose schedule is used up (or that was meant to be tried once) is
        given up. Otherwise a failure while its endpoint holds its deliveries (paused or
        disabled) is the endpoint's, not the event's: the delivery stays due, at the same
        step of its schedule, and goes when the endpoint takes deliveries again. Any other
        failure waits by the schedule."""
        step = delivery.retry_step
        if outcome.delivered:
            return DeliveryMove(DELIVERED, step, None)
        if outcome.retry_in_s is None:
            return DeliveryMove(FAILED, step + 1, None)
        if holds:
            return DeliveryMove(PENDING, step, now)
        return DeliveryMove(PENDING, step + 1, now + timedelta(seconds=outcome.retry_in_s))


def _duration(span: timedelta) -> str:
    seconds = span.total_seconds()
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"
