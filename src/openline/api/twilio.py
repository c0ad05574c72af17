"""``WS /twilio/stream/{agent_id}``: Twilio Media Streams, so a phone number reaches an agent.

Point a number's TwiML at it::

    <Connect><Stream url="wss://HOST/twilio/stream/AGENT_ID">
      <Parameter name="access_token" value="API_KEY"/>
    </Stream></Connect>

Twilio cannot send headers and drops query strings, so the key may come as a stream
``<Parameter>``. The bridge translates Twilio's events (``connected``, ``start``,
``media``, ``dtmf``, ``mark``, ``stop``; µ-law 8 kHz) to the client protocol and back
(``media``, ``clear``, and a ``mark`` after each agent message so Twilio reports when
it has played).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from openline.api.auth import client_address, presented_key
from openline.api.errors import ApiError
from openline.api.stream import refuse, serve_call
from openline.protocol import bounded_json
from openline.protocol.client import ClientStart

router = APIRouter(tags=["calls"])

_PASSED_THROUGH = ("from", "to")  # customParameters that become call metadata as they are


class MediaFormat(BaseModel):
    encoding: str = "audio/x-mulaw"


class TwilioStart(BaseModel):
    """The body of Twilio's ``start`` event, as far as the bridge reads it. Twilio sends
    strings (``<Parameter>`` values included); any other shape is refused, not guessed at."""

    model_config = ConfigDict(extra="ignore")
    stream_sid: str | None = Field(default=None, alias="streamSid")
    call_sid: str | None = Field(default=None, alias="callSid")
    custom_parameters: dict[str, str] | None = Field(default=None, alias="customParameters")
    media_format: MediaFormat | None = Field(default=None, alias="mediaFormat")


class TwilioChannel:
    """The client protocol, spoken in Twilio's media stream dialect."""

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self.stream_sid: str | None = None
        self._marks = 0

    async def next_twilio_event(self) -> dict[str, Any] | None:
        try:
            text = await self._websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError, KeyError):
            return None
        try:
            event = bounded_json.loads(text)
        except ValueError:  # not JSON, or nested too deep to be a Twilio event
            return {"event": "invalid", "raw": text[:200]}
        return event if isinstance(event, dict) else {"event": "invalid", "raw": text[:200]}

    async def receive(self) -> str | None:
        while True:
            event = await self.next_twilio_event()
            if event is None or event.get("event") == "stop":
                return None
            translated = _from_twilio(event)
            if translated is not None:
                return json.dumps(translated)

    async def send(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "media_output":
            await self._send({"event": "media", "media": {"payload": event["media"]["payload"]}})
        elif kind == "clear":
            await self._send({"event": "clear"})
        elif kind == "agent_text":
            self._marks += 1
            await self._send({"event": "mark", "mark": {"name": f"agent_text_{self._marks}"}})
        # Twilio has no place for the rest (ack, errors, custom, dtmf from the agent).

    async def _send(self, message: dict[str, Any]) -> None:
        await self._websocket.send_text(json.dumps(message | {"streamSid": self.stream_sid}))

    async def close(self, code: int, reason: str) -> None:
        if self._websocket.application_state != WebSocketState.DISCONNECTED:
            await self._websocket.close(code, reason)


def _from_twilio(event: dict[str, Any]) -> dict[str, Any] | None:
    kind = event.get("event")
    if kind == "media":
        media = _object(event, "media")
        if media.get("track", "inbound") != "inbound":
            return None
        return {"event": "media_input", "media": {"payload": media.get("payload")}}
    if kind == "dtmf":
        dtmf = _object(event, "dtmf")
        return {"event": "dtmf", "dtmf": str(dtmf.get("digit", ""))}
    if kind in ("mark", "connected"):
        return None  # playback progress and greetings need no answer
    return {"event": str(kind)}  # the session answers unknown events with an error


def _object(event: dict[str, Any], name: str) -> dict[str, Any]:
    """``event[name]`` if it is a JSON object, else an empty one."""
    value = event.get(name)
    return value if isinstance(value, dict) else {}


@router.websocket("/twilio/stream/{agent_id}")
async def twilio_stream(websocket: WebSocket, agent_id: str) -> None:
    await websocket.accept()
    channel = TwilioChannel(websocket)
    body = await _read_start(channel)
    if body is None:
        await refuse(websocket, "expected Twilio's start event first")
        return
    try:
        start = TwilioStart.model_validate(body)
    except ValidationError as error:
        await refuse(websocket, f"malformed start event: {_first_problem(error)}")
        return
    parameters = start.custom_parameters or {}
    try:
        key = presented_key(websocket) or parameters.get("access_token")
        await websocket.app.state.auth.check_key(key, client_address(websocket))
    except ApiError as error:
        await refuse(websocket, str(error))
        return
    encoding = (start.media_format or MediaFormat()).encoding
    if encoding != "audio/x-mulaw":
        await refuse(websocket, f"unsupported media format {encoding!r}: expected audio/x-mulaw")
        return
    channel.stream_sid = start.stream_sid
    metadata: dict[str, str | None] = {
        name: parameters[name] for name in _PASSED_THROUGH if name in parameters
    }
    metadata |= {"call_sid": start.call_sid, "stream_sid": channel.stream_sid}
    client_start = ClientStart(
        event="start",
        stream_id=channel.stream_sid,
        config={"input_format": "mulaw_8000"},
        metadata=metadata,
    )

    async def started() -> ClientStart:
        return client_start

    await serve_call(websocket, agent_id, channel, started, connection_type="twilio")


async def _read_start(channel: TwilioChannel) -> dict[str, Any] | None:
    """Skip ``connected``; the ``start`` event's body, or None if something else came."""
    while True:
        event = await channel.next_twilio_event()
        if event is None:
            return None
        if event.get("event") == "connected":
            continue
        if event.get("event") == "start" and isinstance(event.get("start"), dict):
            return event["start"] | {"streamSid": event.get("streamSid")}
        return None


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    return f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
