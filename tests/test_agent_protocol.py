"""The agent protocol's one way in (``parse``) and one way out (``emit``), and the client's
``agent_done``: sent when the agent's answer is over (and, in a voice call, heard)."""

from __future__ import annotations

import json

import pytest

from openline.protocol import agent as wire
from tests.support.calls import TextCall
from tests.support.voice import VoiceClient


def test_every_agent_message_parses_to_its_type_ignoring_unknown_fields():
    frames = {
        '{"type": "message", "content": "hi", "interruptible": false, "responding_to": 7, '
        '"extra": 1}': wire.Message("hi", False, "7"),
        '{"type": "tool_call", "id": 3, "name": "look", "arguments": {"a": 1}, "result": null}': (
            wire.ToolCall("look", {"a": 1}, None, "3")
        ),
        '{"type": "log_event", "event": "e", "metadata": {"k": "v"}}': wire.LogEvent(
            "e", {"k": "v"}
        ),
        '{"type": "log_metric", "name": "m", "value": [1]}': wire.LogMetric("m", [1]),
        '{"type": "log_record", "level": "warning", "message": "x", "timestamp": 12}': (
            wire.LogRecord("warning", "x", None, None, 12.0)
        ),
        '{"type": "log_record"}': wire.LogRecord(),
        '{"type": "response_end"}': wire.ResponseEnd(None),
        '{"type": "end_call", "reason": "agent_ended"}': wire.EndCall("agent_ended"),
        '{"type": "error"}': wire.Error("the agent reported an error"),
        '{"type": "transfer", "target_phone_number": "+1555"}': wire.Transfer(
            {"type": "phone", "value": "+1555"}
        ),
        '{"type": "dtmf", "button": 123456789012}': wire.Dtmf("12345678"),
        '{"type": "custom", "metadata": {"x": 1}}': wire.Custom({"x": 1}),
        '{"type": "made_up", "x": 1}': wire.Unknown("made_up", {"type": "made_up", "x": 1}),
    }
    for frame, expected in frames.items():
        assert wire.parse(frame) == expected, frame
    assert wire.parse(b'{"type": "response_end", "responding_to": "ev_4"}') == wire.ResponseEnd(
        "ev_4"
    )


def test_config_keeps_the_message_as_sent():
    config = wire.parse('{"type": "config", "tts": {"voice_id": "v"}, "stt": 5, "language": "fr"}')
    assert isinstance(config, wire.Config)
    assert config.tts == {"voice_id": "v"} and config.stt == {} and config.language == "fr"
    assert config.fields == {"tts": {"voice_id": "v"}, "stt": 5, "language": "fr"}


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        ("{not json", "message must be a JSON object with a 'type'"),
        ("[1, 2]", "message must be a JSON object with a 'type'"),
        ('{"content": "no type"}', "message must be a JSON object with a 'type'"),
        ('{"type": "message"}', "malformed 'message' message: KeyError('content')"),
        (
            '{"type": "message", "content": 5}',
            "malformed 'message' message: TypeError(\"'content' must be a string\")",
        ),
        ('{"type": "tool_call"}', "malformed 'tool_call' message: KeyError('name')"),
        ('{"type": "dtmf"}', "malformed 'dtmf' message: KeyError('button')"),
        (
            '{"type": "log_record", "timestamp": "soon"}',
            "malformed 'log_record' message: ValueError(\"could not convert string to float: "
            "'soon'\")",
        ),
        ('{"type": "log_event", "metadata": ' + "[" * 300 + "]" * 300 + "}", "nested deeper"),
    ],
)
def test_bad_frames_say_what_is_wrong(frame, problem):
    with pytest.raises(wire.BadFrame) as refused:
        wire.parse(frame)
    assert problem in str(refused.value)


def test_a_type_that_is_not_a_string_is_an_unknown_message():
    assert wire.parse('{"type": ["x"]}') == wire.Unknown("['x']", {"type": ["x"]})


def test_emit_writes_the_frame_with_its_event_id_last():
    assert json.loads(wire.emit(wire.UserState("speaking"), "ev_1")) == {
        "type": "user_state",
        "value": "speaking",
        "event_id": "ev_1",
    }
    assert list(json.loads(wire.emit(wire.AgentSpeech("hi"), "ev_2"))) == [
        "type",
        "content",
        "event_id",
    ]
    assert json.loads(wire.emit(wire.ValidationError("bad"))) == {
        "type": "validation_error",
        "error_message": "bad",
        "error_type": "invalid_message",
    }
    start = wire.Start("call_1", "+1555", "agent_1", {"id": "agent_1"}, {"k": "v"}, "http://x")
    assert json.loads(wire.emit(start)) == {
        "type": "start",
        "call_id": "call_1",
        "from": "+1555",
        "to": "agent_1",
        "agent_call_id": "call_1",
        "agent": {"id": "agent_1"},
        "metadata": {"k": "v"},
        "agent_token": None,
        "api_base_url": "http://x",
    }


def test_an_outbound_dtmf_or_custom_is_the_same_message_as_the_agents():
    frame = wire.emit(wire.Dtmf("5"), "ev_3")
    assert wire.parse(frame) == wire.Dtmf("5")
    assert wire.parse(wire.emit(wire.Custom({"a": 1}))) == wire.Custom({"a": 1})


async def test_a_text_call_says_when_each_answer_is_done(server, agent_id):
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    assert await call.reply() == f"Hello from {agent_id}"
    greeted = await call.next_event("agent_done")
    assert greeted == {"event": "agent_done", "stream_id": "s1", "responding_to": None}
    await call.send({"event": "user_text", "text": "hello there", "id": "q1"})
    assert await call.reply() == "You said: hello there"
    assert (await call.next_event("agent_done"))["responding_to"] == "q1"
    await call.say("tool A123")  # no id: the answer is done all the same
    assert await call.reply() == "Order A123 has shipped."
    assert (await call.next_event("agent_done"))["responding_to"] is None
    await call.hang_up()


async def test_a_voice_call_says_an_answer_is_done_once_it_has_been_played(server, agent_id):
    client = await VoiceClient.open(server.ws_url, agent_id, server.api_key)
    try:
        await client.wait_for("agent_done")  # the greeting, spoken
        greeting_audio = client.audio_seconds
        assert greeting_audio > 0.3
        await client.connection.send(
            json.dumps({"event": "user_text", "stream_id": "v1", "text": "hello", "id": "t1"})
        )
        done = await client.wait_for("agent_done", count=2)
        assert done["responding_to"] == "t1"
        # "You said: hello" was played in full before agent_done was sent.
        assert client.audio_seconds > greeting_audio + 0.5
        kinds = [event.get("event") for _, event in client.events]
        assert kinds.index("agent_text") < kinds.index("agent_done")
    finally:
        await client.hang_up()
