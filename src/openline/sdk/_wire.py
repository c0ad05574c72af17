"""Agent-protocol messages: output events -> JSON frames, JSON frames -> input events.

Every frame built here is plain JSON (no NaN, no arbitrary objects), so the writer
can always serialise it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from . import events as ev

TRUNCATE_AT = 30_000  # JSON characters of tool arguments / log metadata
PREVIEW_CHARS = 1_000
MESSAGE_CAP = 30_000  # characters of a log message / log record text


def plain(value: Any) -> Any:
    """A JSON-safe copy of `value`: unknown objects become their repr, NaN/inf too."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    return repr(value)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def truncated(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """`value` made JSON-safe, replaced by a preview when its JSON is over 30,000 chars."""
    if value is None:
        return None
    safe = plain(value)
    text = dumps(safe)
    if len(text) <= TRUNCATE_AT:
        return safe
    return {"_truncated": True, "_preview": text[:PREVIEW_CHARS]}


def capped(text: str, limit: int = MESSAGE_CAP) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters truncated]"


def is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def log_event_frame(
    name: str, level: str, message: str, metadata: dict[str, Any] | None = None
) -> dict[str, Any]:
    inner: dict[str, Any] = {"level": level, "message": capped(str(message))}
    if metadata is not None:
        inner["metadata"] = truncated(metadata)
    return {"type": "log_event", "event": name, "metadata": inner}


def sdk_error_frame(message: str) -> dict[str, Any]:
    return log_event_frame("sdk_error", "error", message)


def output_frame(event: ev.OutputEvent) -> dict[str, Any]:
    """The agent-protocol message for one output event."""
    match event:
        case ev.AgentSendText(text=text, interruptible=interruptible):
            return {"type": "message", "content": str(text), "interruptible": interruptible}
        case ev.AgentEndCall(reason=reason):
            return {"type": "end_call", "reason": reason}
        case ev.AgentTransferCall(destination=destination, type=kind):
            return {
                "type": "transfer",
                "transfer_destination": {"type": kind, "value": destination},
            }
        case ev.AgentSendDtmf(button=button):
            return {"type": "dtmf", "button": str(button)}
        case ev.AgentSendCustom(metadata=metadata):
            return {"type": "custom", "metadata": plain(metadata)}
        case ev.AgentUpdateConfig():
            return _config_frame(event)
        case ev.LogMessage(name=name, level=level, message=message, metadata=metadata):
            return log_event_frame(name, level, message, metadata)
        case ev.LogMetric(name=name, value=value):
            if not is_json(value):
                return sdk_error_frame(
                    f"metric {name} value is not JSON-serialisable: {capped(repr(value), 1000)}"
                )
            return {"type": "log_metric", "name": name, "value": value}
        case ev.AgentToolCalled(tool_call_id=tid, name=name, arguments=arguments):
            return _tool_frame(tid, name, arguments, None)
        case ev.AgentToolReturned(tool_call_id=tid, name=name, arguments=arguments, result=result):
            return _tool_frame(tid, name, arguments, str(result))
    raise TypeError(f"not an output event: {event!r}")


def _tool_frame(tid: str, name: str, arguments: dict[str, Any], result: str | None) -> dict:
    return {
        "type": "tool_call",
        "id": tid,
        "name": name,
        "arguments": truncated(arguments) or {},
        "result": result,
    }


def _config_frame(event: ev.AgentUpdateConfig) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "config"}
    tts = {
        k: v
        for k, v in (
            ("voice_id", event.voice_id),
            ("pronunciation_dict_id", event.pronunciation_dict_id),
            ("language", event.language),
        )
        if v is not None
    }
    if tts:
        frame["tts"] = tts
    stt_language = event.stt_language or event.language
    if stt_language is not None:
        frame["stt"] = {"language": stt_language}
    if event.language is not None:
        frame["language"] = event.language
    return frame


# Each side of the conversation: its state message (value speaking / idle), its text
# message, and the events for a turn's start, a piece of its text and its end.
_SIDES = (
    ("user_state", "message", ev.UserTurnStarted, ev.UserTextSent, ev.UserTurnEnded),
    ("agent_state", "agent_speech", ev.AgentTurnStarted, ev.AgentTextSent, ev.AgentTurnEnded),
)


class InputDecoder:
    """Decodes platform messages into input events, assembling whole turns' text."""

    def __init__(self) -> None:
        self._turns: dict[str, list[str]] = {state: [] for state, *_ in _SIDES}

    def decode(self, msg: dict[str, Any]) -> ev.InputEvent | None:
        """The event for one platform message, or None for unknown/irrelevant ones."""
        kind = msg.get("type")
        eid = msg.get("event_id")
        eid = str(eid) if eid is not None else None
        value = msg.get("value")
        for state, speech, started, said, ended in _SIDES:
            turn = self._turns[state]
            if kind == state and value == "speaking":
                turn.clear()
                return started(event_id=eid)
            if kind == state and value == "idle":
                content = " ".join(turn)
                turn.clear()
                return ended(content=content, event_id=eid)
            if kind == speech:
                text = _text(msg.get("content"))
                if text:
                    turn.append(text)
                return said(content=text, event_id=eid)
        if kind == "dtmf":
            return ev.UserDtmfSent(button=str(msg.get("button", "")), event_id=eid)
        if kind == "custom":
            metadata = msg.get("metadata")
            return ev.UserCustomSent(
                metadata=metadata if isinstance(metadata, dict) else {}, event_id=eid
            )
        if kind == "validation_error":
            return ev.AgentOutputRejected(
                error_message=str(msg.get("error_message", "")),
                error_type=str(msg.get("error_type", "")),
                event_id=eid,
            )
        return None


def _text(content: Any) -> str:
    return content.strip() if isinstance(content, str) else ""
