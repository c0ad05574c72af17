"""An endpoint's health states: ``healthy``, ``failing``, ``paused`` (its circuit is open:
one probe at a time) and ``disabled``. When an endpoint moves between them is the policy's
call (``openline.webhooks.health``)."""

from __future__ import annotations

OPEN_AFTER = 5  # failed attempts in a row that pause an endpoint

HEALTHY, FAILING, PAUSED, DISABLED = "healthy", "failing", "paused", "disabled"


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
