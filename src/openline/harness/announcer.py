"""A call's lifecycle webhooks: ``call_started``, ``call_turn``, ``call_completed`` /
``call_failed``, each queued to commit in the same transaction as the fact it announces
(so a webhook never announces what a crash could lose)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openline.domain.calls import Fact, ToolCall, Turn, TurnEndReason
from openline.domain.shapes import call_json, turn_json
from openline.domain.webhook_events import (
    CALL_COMPLETED,
    CALL_FAILED,
    CALL_STARTED,
    call_event,
    turn_event,
)
from openline.store import schema
from openline.store.webhooks import outbox_row
from openline.store.writer import Writer


class CallAnnouncer:
    def __init__(self, writer: Writer, call_id: str, agent_id: str) -> None:
        self._writer = writer
        self._call_id = call_id
        self._agent_id = agent_id
        self._webhook_id: str | None = None  # None: the agent has no active webhook

    def started(self, webhook_id: str | None, call_row: dict[str, Any]) -> list[dict]:
        """Outbox rows to insert with the call row itself."""
        self._webhook_id = webhook_id
        if webhook_id is None:
            return []
        shown = call_json(call_row, []) | {"end_time": None}
        return [outbox_row(webhook_id, 0, call_event(CALL_STARTED, shown, webhook_id))]

    def turn_closed(self, turn: Turn, tools: list[ToolCall]) -> None:
        if self._webhook_id:
            shown = turn_json(turn, tools)
            if turn.end_reason is TurnEndReason.INTERRUPTED:
                shown["was_interrupted"] = True
            payload = turn_event(self._call_id, self._agent_id, self._webhook_id, shown)
            self._queue(payload, turn.rev)

    def ended(
        self, call_row: dict[str, Any], facts: list[Fact], failed: bool, position: Callable[[], int]
    ) -> None:
        if self._webhook_id:
            kind = CALL_FAILED if failed else CALL_COMPLETED
            self._queue(call_event(kind, call_json(call_row, facts), self._webhook_id), position())

    def _queue(self, payload: dict[str, Any], position: int) -> None:
        """Queue a delivery to commit with the fact just recorded (the one it announces)."""
        row = outbox_row(self._webhook_id, position, payload)
        self._writer.insert(schema.webhook_deliveries, row, self._call_id, with_previous=True)
