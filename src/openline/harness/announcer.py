"""A call's lifecycle webhooks: ``call_started``, ``call_turn``, ``call_completed`` /
``call_failed``, each queued to commit in the same transaction as the fact it announces
(so a webhook never announces what a crash could lose), at the position the delivery
queue's rule gives it (``openline.store.delivery_queue``)."""

from __future__ import annotations

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
from openline.store.delivery_queue import STARTED, after, outbox_row, queue
from openline.store.writer import Writer


class CallAnnouncer:
    def __init__(self, writer: Writer, call_id: str, agent_id: str) -> None:
        self._writer = writer
        self._call_id = call_id
        self._agent_id = agent_id
        self._webhook_id: str | None = None  # None: the agent has no active webhook
        self._last_position = STARTED

    def started(self, webhook_id: str | None, call_row: dict[str, Any]) -> list[dict]:
        """Outbox rows to insert with the call row itself."""
        self._webhook_id = webhook_id
        if webhook_id is None:
            return []
        shown = call_json(call_row, []) | {"end_time": None}
        return [outbox_row(webhook_id, STARTED, call_event(CALL_STARTED, shown, webhook_id))]

    def turn_closed(self, turn: Turn, tools: list[ToolCall]) -> None:
        if self._webhook_id:
            shown = turn_json(turn, tools)
            if turn.end_reason is TurnEndReason.INTERRUPTED:
                shown["was_interrupted"] = True
            payload = turn_event(self._call_id, self._agent_id, self._webhook_id, shown)
            self._queue(self._webhook_id, payload, turn.rev)

    def ended(
        self,
        call_row: dict[str, Any],
        facts: list[Fact],
        failed: bool,
    ) -> None:
        if self._webhook_id:
            kind = CALL_FAILED if failed else CALL_COMPLETED
            last_fact = max((fact.rev for fact in facts), default=0)
            payload = call_event(kind, call_json(call_row, facts), self._webhook_id)
            self._queue(self._webhook_id, payload, after(self._last_position, last_fact))

    def _queue(self, webhook_id: str, payload: dict[str, Any], position: int) -> None:
        """Queue a delivery to commit with the fact just recorded (the one it announces)."""
        queue(self._writer, webhook_id, position, payload)
        self._last_position = position
