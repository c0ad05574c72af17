"""Webhook event payloads, exactly as the monitoring page specifies them."""

from __future__ import annotations

from typing import Any

from openline.domain.time import rfc3339, utcnow

CALL_STARTED = "call_started"
CALL_TURN = "call_turn"
CALL_COMPLETED = "call_completed"
CALL_FAILED = "call_failed"
POST_CALL_ANALYSIS = "post_call_analysis"
ENVELOPE_KEYS = ("type", "call_id", "agent_id", "webhook_id", "timestamp")


def envelope(event_type: str, call_id: str, agent_id: str, webhook_id: str, **typed: Any) -> dict:
    return {
        "type": event_type,
        "call_id": call_id,
        "agent_id": agent_id,
        "webhook_id": webhook_id,
        "timestamp": rfc3339(utcnow()),
        **typed,
    }


def call_event(event_type: str, call: dict[str, Any], webhook_id: str) -> dict:
    """``call_started`` / ``call_completed`` / ``call_failed`` with the call as the API shows it."""
    shown = {key: value for key, value in call.items() if value is not None}
    payload = envelope(event_type, call["id"], call["agent_id"], webhook_id, call=shown)
    if event_type != CALL_STARTED:  # deprecated duplicates, kept for older receivers
        payload["body"] = call.get("transcript", [])
        payload["end_reason"] = call.get("end_reason")
    return payload


def turn_event(call_id: str, agent_id: str, webhook_id: str, turn: dict[str, Any]) -> dict:
    return envelope(CALL_TURN, call_id, agent_id, webhook_id, turn=turn)


def analysis_event(
    call_id: str, agent_id: str, webhook_id: str, summary: str, metric_results: list[dict]
) -> dict:
    """``analysis``: the summary, then openline's ``metric_results`` (the API's shape)."""
    analysis = {"summary": summary, "metric_results": metric_results}
    return envelope(POST_CALL_ANALYSIS, call_id, agent_id, webhook_id, analysis=analysis)
