"""One call: a client on one side, an agent server on the other, a ledger in between.

The session forwards traffic both ways and records every fact through the ledger,
which hands rows to the batching writer: nothing on the turn path waits on the
database. It ends the call for exactly one reason (whichever comes first: the agent
hangs up or fails, the client leaves, the line goes idle, the call runs too long),
records the end, and closes both sides. An agent that hangs up is still heard out: the
Line SDK sends ``end_call`` before the tool call that caused it and its last metrics and
logs, so its socket is read (and recorded) until it closes, says its response is over, or
``agent_hangup_grace_s`` passes — while the caller is told at once that the call ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from openline import ids
from openline.config import Settings
from openline.domain.calls import CallStatus, EndReason, Fact, TurnEndReason
from openline.harness.agent_link import AgentUnavailable, CallStart, connect
from openline.harness.announcer import CallAnnouncer
from openline.harness.ledger import CallLedger
from openline.harness.voice_call import VoiceCall, choose_voice
from openline.protocol import bounded_json
from openline.protocol.client import ClientStart, error_event
from openline.store import schema
from openline.store.blobs import BlobStore, recording_key
from openline.store.calls import CallRepo
from openline.store.facts import TABLE_OF, to_row
from openline.store.webhooks import WebhookRepo
from openline.store.writer import Writer
from openline.voice.base import ProviderError

log = logging.getLogger(__name__)

# Tool arguments and event metadata nest deeper than callers' frames may, but a frame
# thousands of levels deep would break decoding (and every later encoding) of the call.
AGENT_MAX_DEPTH = 256


class ClientChannel(Protocol):
    """The caller's side of a call, whatever carries it (websocket, CLI, tests)."""

    async def receive(self) -> str | None: ...  # None: the client is gone
    async def send(self, event: dict[str, Any]) -> None: ...
    async def close(self, code: int, reason: str) -> None: ...


@dataclass
class Harness:
    """What every session shares."""

    settings: Settings
    writer: Writer
    calls: CallRepo
    http: httpx.AsyncClient
    api_base_url: str
    webhooks: WebhookRepo | None = None
    after_call: Callable[[str], None] | None = None  # e.g. post-call analysis
    blobs: BlobStore | None = None  # where recordings go; None: calls are not recorded
    process_id: str | None = None  # this process's lease: its calls are closed if it dies


@dataclass(frozen=True)
class AgentEndpoint:
    """Where a call's agent server is: a deployment's process, or the agent's own URL."""

    url: str
    deployment_id: str | None = None


@dataclass(frozen=True)
class Ending:
    reason: EndReason
    agent_reason: str | None = None
    error: str | None = None


class _WriterSink:
    def __init__(self, writer: Writer) -> None:
        self._writer = writer

    def add(self, fact: Fact) -> None:
        self._writer.insert(TABLE_OF[type(fact)], to_row(fact), fact.call_id)

    def change(self, fact: Fact) -> None:
        row = to_row(fact)
        key = (fact.call_id, fact.seq)
        self._writer.update(TABLE_OF[type(fact)], key, row, fact.call_id)


class CallSession:
    def __init__(
        self,
        harness: Harness,
        agent: dict,
        client: ClientChannel,
        start: ClientStart,
        endpoint: AgentEndpoint | None = None,
        connection_type: str = "websocket",
    ):
        self.harness = harness
        self.connection_type = connection_type
        self.agent = agent
        self.endpoint = endpoint or AgentEndpoint(agent.get("self_hosted_deployment_url") or "")
        self.sent_log_records = False  # the agent logs over the socket (SDK): see deploy/logsink
        self.client = client
        self.start = start
        self.call_id = ids.new_id(ids.CALL)
        self.stream_id = start.stream_id or self.call_id
        self.announcer = CallAnnouncer(harness.writer, self.call_id, agent["id"])
        self.ledger = CallLedger(
            self.call_id,
            _WriterSink(harness.writer),
            harness.settings.payload_cap_chars,
            on_turn_closed=self.announcer.turn_closed,
        )
        self._row: dict[str, Any] = {}
        self._agent: ClientConnection | None = None
        self._agent_send_lock = asyncio.Lock()
        self._client_send_lock = asyncio.Lock()
        self._last_client_activity = time.monotonic()
        self._event_counter = 0
        self._turn_started_at_event = 0  # the caller's latest turn began with this event
        self.voice: VoiceCall | None = None  # set for calls that carry audio
        self._no_voice: dict[str, Any] | None = None  # why a call with audio goes on by text
        self._recording_key: str | None = None

    # -- lifecycle -------------------------------------------------------------

    async def run(self) -> Ending:
        await asyncio.to_thread(self._create_call)
        try:
            if self.start.config.input_format:
                self.voice = await self._voice_or_text()
            self._agent = await connect(
                self.harness.http,
                self.endpoint.url,
                self._call_start(),
                self.harness.settings.agent_connect_timeout_s,
            )
        except AgentUnavailable as error:
            ending = Ending(EndReason.ERROR, error=str(error))
        else:
            await self.send_client(self._ack())
            if self._no_voice is not None:
                await self.send_client(self._no_voice)
            if self.voice is not None:
                self.voice.start()
            ending = await self._converse()
        await self._finish(ending)
        return ending

    async def _converse(self) -> Ending:
        tasks = [
            asyncio.create_task(self._pump_client()),
            asyncio.create_task(self._pump_agent()),
            asyncio.create_task(self._watch_clock()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            return next(iter(done)).result()
        except Exception as error:  # a bug here must end this call only, and say why
            log.exception("call %s: session failed", self.call_id)
            return Ending(EndReason.ERROR, error=f"internal error: {error!r}")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _finish(self, ending: Ending) -> None:
        ledger = self.ledger
        heard_out = None
        if ending.reason is EndReason.AGENT_HANGUP:
            grace_ends = time.monotonic() + self.harness.settings.agent_hangup_grace_s
            heard_out = asyncio.create_task(self._hear_agent_out())
            if self.voice is not None:
                await self.voice.hang_up()  # what it queued is still said
        ended_at = ledger.now()
        if self.voice is not None:
            await self._finish_voice(ended_at)
        ledger.close_assistant_turn(TurnEndReason.CALL_ENDED)
        ledger.call_over()
        if ending.error:
            ledger.signal("error", {"message": ending.error})
        ledger.log_metric("system_call_success", ending.reason is not EndReason.ERROR)
        end_time = ledger.started_at + timedelta(seconds=ended_at)  # the recording's end too
        ended = {
            "status": ending.reason.status.value,
            "end_time": end_time,
            "end_reason": ending.reason.value,
            "agent_end_reason": ending.agent_reason,
            "error_message": ending.error,
        }
        self.harness.writer.update(
            schema.calls,
            (self.call_id,),
            ended | {"analysis_status": "pending", "rev": ledger.next_rev()},
            self.call_id,
        )
        # The end is durable before the client learns of it, so a read that follows sees it.
        await self.harness.writer.flush()
        await self._close_client(ending)
        if heard_out is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(heard_out, max(0.0, grace_ends - time.monotonic()))
        if self._agent is not None:
            with contextlib.suppress(Exception):
                await self._agent.close()
        failed = ending.reason is EndReason.ERROR
        self.announcer.ended(self._row | ended, ledger.facts, failed, ledger.next_rev)
        await self.harness.writer.flush()  # analysis reads the whole call
        if self.harness.after_call is not None:
            self.harness.after_call(self.call_id)

    async def _voice_or_text(self) -> VoiceCall | None:
        """The call's voice; when its speech providers cannot run here (say, no TTS is
        installed), the call goes on by text, and says so once."""
        try:
            return await asyncio.to_thread(self._voice_call)
        except ProviderError as error:
            message = f"voice is unavailable, the call goes on by text: {error}"
            self.ledger.signal("warning", {"code": "voice_unavailable", "message": message})
            self._no_voice = {
                "event": "warning",
                "stream_id": self.stream_id,
                "code": "voice_unavailable",
                "message": message,
            }
            return None

    def _voice_call(self) -> VoiceCall:
        setup = choose_voice(self.agent, self.start.config, self.harness.settings)
        blobs, recording = self.harness.blobs, None
        if blobs is not None and self.agent.get("recording_enabled", True):
            self._recording_key = recording_key(self.call_id)
            recording = blobs.open_for_writing(self._recording_key)
        return VoiceCall(setup, self.ledger, self, self.stream_id, recording)

    async def _finish_voice(self, ended_at: float) -> None:
        assert self.voice is not None
        await self.voice.close(ended_at)
        if self._recording_key is not None:
            await asyncio.to_thread(self.harness.blobs.commit, self._recording_key)

    async def _close_client(self, ending: Ending) -> None:
        if ending.reason is EndReason.CLIENT_HANGUP:
            return
        if ending.reason is EndReason.AGENT_HANGUP:
            code, reason = 1000, "call ended by agent"
            if ending.agent_reason:
                reason += f", reason: {ending.agent_reason}"
        elif ending.reason is EndReason.ERROR:
            await self.send_client(
                error_event(self.stream_id, ending.error or "call failed", call_id=self.call_id)
            )
            code, reason = 1011, "call failed"
        else:
            code, reason = 1000, f"call ended: {ending.reason.value}"
        with contextlib.suppress(Exception):
            await self.client.close(code, reason[:120])

    # -- client → agent ------------------------------------------------------------

    async def _pump_client(self) -> Ending:
        cap = self.harness.settings.client_frame_cap_bytes
        while True:
            frame = await self.client.receive()
            if frame is None:
                return Ending(EndReason.CLIENT_HANGUP)
            if len(frame) > cap:
                await self.client_error(f"message of {len(frame)} bytes is over the {cap}-byte cap")
                continue
            try:
                message = bounded_json.loads(frame)
            except bounded_json.NestedTooDeep as error:
                await self.client_error(str(error))
                continue
            except ValueError:
                await self.client_error("message is not valid JSON")
                continue
            if not isinstance(message, dict):
                await self.client_error("message must be a JSON object")
                continue
            await self._on_client_message(message)

    async def _on_client_message(self, message: dict[str, Any]) -> None:
        kind = message.get("event")
        if kind != "media_input":  # a silent microphone streaming along is not activity
            self.touch()
        if kind == "media_input":
            if self.voice is None and self._no_voice is not None:
                return  # the caller was told once that this call has no voice
            if self.voice is None:
                await self.client_error(
                    "this call has no audio: start it with config.input_format to send media",
                    code="unsupported_media",
                )
                return
            await self.voice.media(message)
        elif kind == "user_text":
            text = message.get("text")
            if not isinstance(text, str):
                await self.client_error("user_text needs a string field 'text'")
                return
            if self.voice is not None:
                await self.voice.user_text(text)
                return
            self.ledger.user_turn(text)
            await self.send_agent({"type": "user_state", "value": "speaking"})
            await self.send_agent({"type": "message", "content": text})
            await self.send_agent({"type": "user_state", "value": "idle"})
        elif kind == "dtmf":
            button = str(message.get("dtmf", ""))[:8]
            self.ledger.signal("dtmf", {"from": "user", "button": button})
            await self.send_agent({"type": "dtmf", "button": button})
        elif kind == "custom":
            metadata = message.get("metadata")
            self.ledger.signal("custom", {"from": "user", "metadata": metadata})
            await self.send_agent({"type": "custom", "metadata": metadata})
        elif kind == "ping":
            await self.send_client({"event": "pong", "stream_id": self.stream_id})
        elif kind == "start":
            await self.client_error("the call has already started")
        else:
            await self.client_error(f"unknown event {kind!r}")

    # -- agent → client ------------------------------------------------------------

    async def _pump_agent(self) -> Ending:
        assert self._agent is not None
        try:
            async for frame in self._agent:
                ending = await self._on_agent_frame(frame)
                if ending is not None:
                    return ending
        except websockets.ConnectionClosedError as closed:
            return Ending(EndReason.ERROR, error=_closed_message(closed))
        close = self._agent.close_code
        return Ending(EndReason.ERROR, error=f"the agent closed the connection (code {close})")

    async def _hear_agent_out(self) -> None:
        """Record what the agent sends after hanging up, until it closes its socket or
        says its response is over (the session stops waiting when the grace period ends)."""
        assert self._agent is not None
        with contextlib.suppress(websockets.ConnectionClosed):
            async for frame in self._agent:
                if await self._on_agent_frame(frame, _AFTER_HANGUP_HANDLERS) is _HEARD_OUT:
                    return

    async def _on_agent_frame(self, frame: str | bytes, handlers: dict | None = None) -> Any:
        """Handle one frame; returns what its handler does (an ``Ending`` ends the call)."""
        try:
            text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
            message = bounded_json.loads(text, AGENT_MAX_DEPTH)
            kind = message["type"]
        except bounded_json.NestedTooDeep as error:
            await self.reject_agent_message(str(error), frame)
            return None
        except (ValueError, TypeError, KeyError):
            await self.reject_agent_message("message must be a JSON object with a 'type'", frame)
            return None
        handler = (handlers or _AGENT_HANDLERS).get(kind)
        if handler is None:
            self.ledger.signal(str(kind)[:64], message)
            return None
        try:
            return await handler(self, message)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            await self.reject_agent_message(f"malformed {kind!r} message: {error!r}", frame)
            return None

    async def _agent_message(self, message: dict) -> None:
        text = message["content"]
        if not isinstance(text, str):
            raise TypeError("'content' must be a string")
        interruptible = bool(message.get("interruptible", True))
        responding_to = _text_or_none(message.get("responding_to"))
        if self._answers_cut_off_turn(responding_to):
            # the caller spoke again first, and the agent was told to stop: what it still
            # sends for the old turn is not delivered (nor spoken), only noted
            self.ledger.signal("dropped_answer", {"text": text, "responding_to": responding_to})
            return
        if self.voice is not None:  # spoken, recorded and acknowledged as it is heard
            self.voice.agent_message(text, interruptible, responding_to)
            return
        self.ledger.agent_message(text, interruptible, responding_to)
        await self.send_client({"event": "agent_text", "stream_id": self.stream_id, "text": text})
        # A text call "speaks" at once: acknowledge what was said, as TTS would.
        await self.send_agent({"type": "agent_state", "value": "speaking"})
        await self.send_agent({"type": "agent_speech", "content": text})
        await self.send_agent({"type": "agent_state", "value": "idle"})

    async def _agent_tool_call(self, message: dict) -> None:
        self.ledger.tool_call(
            str(message["name"]),
            message.get("arguments"),
            message.get("result"),
            None if message.get("id") is None else str(message["id"]),
        )

    async def _agent_log_event(self, message: dict) -> None:
        self.ledger.log_event(message["event"], message.get("metadata"))

    async def _agent_log_metric(self, message: dict) -> None:
        self.ledger.log_metric(message["name"], message.get("value"))

    async def _agent_log_record(self, message: dict) -> None:
        self.sent_log_records = True
        stamp = message.get("timestamp")
        at = self.ledger.since_start(float(stamp)) if stamp is not None else None
        self.ledger.log_record(
            str(message.get("level", "info")),
            str(message.get("message", "")),
            message.get("logger"),
            message.get("exc_text"),
            at,
        )

    async def _agent_response_end(self, message: dict) -> None:
        responding_to = _text_or_none(message.get("responding_to"))
        if self._answers_cut_off_turn(responding_to):
            return
        if self.voice is not None:
            self.voice.response_end()
        else:
            self.ledger.response_end(responding_to)

    async def _agent_end_call(self, message: dict) -> Ending:
        reason = message.get("reason")
        self.ledger.signal("end_call", {"reason": reason})
        return Ending(EndReason.AGENT_HANGUP, agent_reason=None if reason is None else str(reason))

    async def _agent_message_after_hangup(self, message: dict) -> None:
        self.ledger.signal(
            "unspoken", {"texts": [message.get("content")], "reason": "after end_call"}
        )

    async def _agent_response_end_after_hangup(self, message: dict) -> object:
        return _HEARD_OUT

    async def _agent_error(self, message: dict) -> Ending:
        content = str(message.get("content") or "the agent reported an error")
        return Ending(EndReason.ERROR, error=content[: self.harness.settings.payload_cap_chars])

    async def _agent_transfer(self, message: dict) -> None:
        destination = message.get("transfer_destination") or {
            "type": "phone",
            "value": message.get("target_phone_number"),
        }
        self.ledger.signal("transfer", {"transfer_destination": destination})
        await self.send_client(
            {"event": "transfer_call", "stream_id": self.stream_id, "transfer": destination}
        )

    async def _agent_dtmf(self, message: dict) -> None:
        button = str(message["button"])[:8]
        self.ledger.signal("dtmf", {"from": "agent", "button": button})
        await self.send_client({"event": "dtmf", "stream_id": self.stream_id, "dtmf": button})

    async def _agent_custom(self, message: dict) -> None:
        metadata = message.get("metadata")
        self.ledger.signal("custom", {"from": "agent", "metadata": metadata})
        await self.send_client(
            {"event": "custom", "stream_id": self.stream_id, "metadata": metadata}
        )

    async def _agent_config(self, message: dict) -> None:
        self.ledger.signal("config", {k: v for k, v in message.items() if k != "type"})
        if self.voice is not None:
            await self.voice.configure(message)

    async def reject_agent_message(self, problem: str, frame: str | bytes) -> None:
        self.ledger.signal("validation_error", {"error": problem, "frame": str(frame)[:1000]})
        await self.send_agent(
            {"type": "validation_error", "error_message": problem, "error_type": "invalid_message"}
        )

    # -- clocks ------------------------------------------------------------------------

    async def _watch_clock(self) -> Ending:
        settings = self.harness.settings
        hard_stop = time.monotonic() + settings.max_call_duration_s
        while True:
            idle_stop = self._last_client_activity + settings.idle_timeout_s
            now = time.monotonic()
            if now >= hard_stop:
                return Ending(EndReason.MAX_DURATION)
            if now >= idle_stop:
                return Ending(EndReason.INACTIVITY)
            await asyncio.sleep(min(hard_stop, idle_stop) - now)

    # -- sending -------------------------------------------------------------------------

    async def send_agent(self, message: dict[str, Any]) -> None:
        """Send a message to the agent, numbered with an ``event_id`` it may answer to."""
        assert self._agent is not None
        self._event_counter += 1
        message["event_id"] = f"ev_{self._event_counter}"
        if message["type"] == "user_state" and message.get("value") == "speaking":
            self._turn_started_at_event = self._event_counter
        async with self._agent_send_lock:
            with contextlib.suppress(websockets.ConnectionClosed):
                await self._agent.send(json.dumps(message))

    async def send_client(self, event: dict[str, Any]) -> None:
        async with self._client_send_lock:
            with contextlib.suppress(Exception):  # a departed client is noticed by its pump
                await self.client.send(event)

    async def client_error(self, message: str, **extra: Any) -> None:
        await self.send_client(error_event(self.stream_id, message, **extra))

    def _answers_cut_off_turn(self, responding_to: str | None) -> bool:
        """Does this answer an event sent before the caller's latest turn began?"""
        number = _event_number(responding_to)
        return number is not None and number < self._turn_started_at_event

    def touch(self) -> None:
        """The call is alive (the idle clock restarts)."""
        self._last_client_activity = time.monotonic()

    def _create_call(self) -> None:
        """The call row, and ``call_started`` for the agent's webhook, in one transaction."""
        self._row = self._call_row()
        webhooks = self.harness.webhooks
        webhook = webhooks.active(self.agent.get("webhook_id")) if webhooks else None
        outbox = self.announcer.started(webhook and webhook["id"], self._row)
        self.harness.calls.create(self._row, outbox)

    # -- shapes ----------------------------------------------------------------------------

    def _metadata(self) -> dict[str, Any]:
        return self.start.metadata

    def _call_row(self) -> dict[str, Any]:
        metadata = self._metadata()
        return {
            "id": self.call_id,
            "agent_id": self.agent["id"],
            "agent_name": self.agent["name"],
            "deployment_id": self.endpoint.deployment_id,
            "status": CallStatus.STARTED.value,
            "start_time": self.ledger.started_at,
            "telephony_params": {
                "from": str(metadata.get("from", "websocket")),
                "to": str(metadata.get("to", self.agent["id"])),
                "direction": "inbound",
                "connection_type": self.connection_type,
                "call_sid": metadata.get("call_sid"),
            },
            "metadata": metadata,
            "rev": 0,
            "owner_process_id": self.harness.process_id,
        }

    def _call_start(self) -> CallStart:
        agent = dict(self.agent)
        if self.start.agent is not None:  # the client may override prompt and introduction
            agent |= self.start.agent.model_dump(exclude_none=True)
        metadata = self._metadata()
        return CallStart(
            call_id=self.call_id,
            agent=agent,
            from_=str(metadata.get("from", "websocket")),
            to=str(metadata.get("to", self.agent["id"])),
            metadata=metadata,
            api_base_url=self.harness.api_base_url,
        )

    def _ack(self) -> dict[str, Any]:
        return {
            "event": "ack",
            "stream_id": self.stream_id,
            "call_id": self.call_id,
            "config": self.start.config.model_dump(exclude_none=True),
            "agent": {"id": self.agent["id"], "name": self.agent["name"]},
        }


def _event_number(event_id: str | None) -> int | None:
    """``ev_12`` → 12 (the ids this session gives its messages); None for anything else."""
    if event_id and event_id.startswith("ev_") and event_id[3:].isdigit():
        return int(event_id[3:])
    return None


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _closed_message(closed: websockets.ConnectionClosed) -> str:
    if closed.rcvd is None:
        return "the agent connection closed unexpectedly (no close frame)"
    detail = f": {closed.rcvd.reason}" if closed.rcvd.reason else ""
    return f"the agent connection closed unexpectedly (code {closed.rcvd.code}){detail}"


_AGENT_HANDLERS = {
    "message": CallSession._agent_message,
    "tool_call": CallSession._agent_tool_call,
    "log_event": CallSession._agent_log_event,
    "log_metric": CallSession._agent_log_metric,
    "log_record": CallSession._agent_log_record,
    "response_end": CallSession._agent_response_end,
    "end_call": CallSession._agent_end_call,
    "error": CallSession._agent_error,
    "transfer": CallSession._agent_transfer,
    "dtmf": CallSession._agent_dtmf,
    "custom": CallSession._agent_custom,
    "config": CallSession._agent_config,
}

# After end_call: facts are recorded as ever; what would reach the caller is only noted.
_HEARD_OUT = object()  # the agent's response is over: nothing more to wait for
_AFTER_HANGUP_HANDLERS = {
    "message": CallSession._agent_message_after_hangup,
    "response_end": CallSession._agent_response_end_after_hangup,
    **{
        kind: _AGENT_HANDLERS[kind]
        for kind in ("tool_call", "log_event", "log_metric", "log_record")
    },
}
