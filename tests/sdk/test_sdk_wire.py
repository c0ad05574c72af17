"""Output events -> agent-protocol frames, input frames -> events, tool schemas."""

from __future__ import annotations

import enum
import json
import math
from typing import Annotated, Literal

from openline.sdk import (
    AgentEndCall,
    AgentSendCustom,
    AgentSendDtmf,
    AgentSendText,
    AgentTransferCall,
    AgentUpdateConfig,
    LogMessage,
    LogMetric,
    UserTurnEnded,
    loopback_tool,
)
from openline.sdk._wire import InputDecoder, output_frame
from openline.sdk.events import LogMessage as LogMessageFromEvents
from openline.sdk.events import LogMetric as LogMetricFromEvents


def test_monitoring_page_import_paths():
    assert LogMessageFromEvents is LogMessage
    assert LogMetricFromEvents is LogMetric


def test_output_frames():
    assert output_frame(AgentSendText("hi")) == {
        "type": "message",
        "content": "hi",
        "interruptible": True,
    }
    assert output_frame(AgentSendText("x", interruptible=False))["interruptible"] is False
    assert output_frame(AgentEndCall(reason="agent_ended")) == {
        "type": "end_call",
        "reason": "agent_ended",
    }
    assert output_frame(AgentTransferCall("+15551234")) == {
        "type": "transfer",
        "transfer_destination": {"type": "phone", "value": "+15551234"},
    }
    assert output_frame(AgentTransferCall("sip:a@b", type="sip_uri"))["transfer_destination"] == {
        "type": "sip_uri",
        "value": "sip:a@b",
    }
    assert output_frame(AgentSendDtmf("5")) == {"type": "dtmf", "button": "5"}
    assert output_frame(AgentSendCustom({"k": 1})) == {"type": "custom", "metadata": {"k": 1}}
    assert output_frame(AgentUpdateConfig(voice_id="v1", language="fr")) == {
        "type": "config",
        "tts": {"voice_id": "v1", "language": "fr"},
        "stt": {"language": "fr"},
        "language": "fr",
    }
    assert output_frame(
        LogMessage(name="order_processed", message="m", metadata={"order_id": "A1"})
    ) == {
        "type": "log_event",
        "event": "order_processed",
        "metadata": {"level": "info", "message": "m", "metadata": {"order_id": "A1"}},
    }
    assert output_frame(LogMetric(name="q1", value="yes")) == {
        "type": "log_metric",
        "name": "q1",
        "value": "yes",
    }


def test_huge_metadata_is_truncated_to_a_preview():
    frame = output_frame(LogMessage(name="big", metadata={"blob": "x" * 40_000}))
    inner = frame["metadata"]["metadata"]
    assert inner["_truncated"] is True
    assert len(inner["_preview"]) == 1000
    assert inner["_preview"].startswith('{"blob":"xxx')
    # just under the limit is kept as is
    small = {"blob": "x" * 29_000}
    assert output_frame(LogMessage(name="ok", metadata=small))["metadata"]["metadata"] == small


def test_non_serialisable_metric_becomes_sdk_error():
    frame = output_frame(LogMetric(name="when", value=object()))
    assert frame["type"] == "log_event"
    assert frame["event"] == "sdk_error"
    assert frame["metadata"]["level"] == "error"
    assert frame["metadata"]["message"].startswith(
        "metric when value is not JSON-serialisable: <object object"
    )
    assert output_frame(LogMetric(name="nan", value=math.nan))["event"] == "sdk_error"


def test_log_metadata_with_objects_stays_valid_json():
    frame = output_frame(LogMessage(name="x", metadata={"obj": object(), "nan": math.nan}))
    json.dumps(frame, allow_nan=False)


def test_input_decoder_assembles_turns():
    d = InputDecoder()
    d.decode({"type": "user_state", "value": "speaking"})
    d.decode({"type": "message", "content": "hello"})
    d.decode({"type": "message", "content": " there "})
    ended = d.decode({"type": "user_state", "value": "idle", "event_id": "e9"})
    assert ended == UserTurnEnded(content="hello there", event_id="e9")
    assert d.decode({"type": "unknown_future_type"}) is None


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


def test_tool_schema_from_signature():
    @loopback_tool
    async def book(
        ctx,
        day: Annotated[Literal["mon", "tue"], "Day of the week"],
        count: Annotated[int, "How many"],
        color: Color = Color.RED,
        notes: str | None = None,
        tags: list[str] | None = None,
    ):
        """Book something."""
        return "ok"

    assert book.name == "book"
    assert book.kind == "loopback"
    assert book.takes_context
    schema = book.openai_schema()
    assert schema["function"]["description"] == "Book something."
    params = schema["function"]["parameters"]
    assert params["required"] == ["day", "count"]
    assert params["properties"]["day"] == {"enum": ["mon", "tue"], "description": "Day of the week"}
    assert params["properties"]["count"] == {"type": "integer", "description": "How many"}
    assert params["properties"]["color"] == {"enum": ["red", "blue"]}
    assert params["properties"]["notes"] == {"type": "string", "default": None}
    assert params["properties"]["tags"] == {
        "type": "array",
        "items": {"type": "string"},
        "default": None,
    }


def test_tool_decorator_forms():
    @loopback_tool(is_background=True, name="bg")
    def plain(x: int) -> int:
        return x

    assert plain.is_background and plain.name == "bg" and not plain.takes_context
    assert plain(3) == 3  # still callable as the function
