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
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from openline import ids
from openline.config import Settings
from openline.domain.calls import CallStatus, EndReason, TurnEndReason
from openline.harness.agent_link import AgentUnavailable, connect
from openline.harness.announcer import CallAnnouncer
from openline.harness.ledger import CallLedger
from openline.harness.ports import Call
from openline.harness.text_call import TextCall
from openline.harness.voice_call import VoiceCall, choose_voice
from openline.protocol import agent as wire
from openline.protocol import bounded_json
from openline.protocol.client import ClientStart, error_event
from openline.store.blobs import BlobStore, recording_key
from openline.store.call_writes import CallWrites
from openline.store.calls import CallRepo
from openline.store.webhook_configs import WebhookConfigs
from openline.store.writer import Writer
from openline.telemetry import CallWatch, Telemetry
from openline.voice.base import ProviderError

log = logging.getLogger(__name__)


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
    webhooks: WebhookConfigs | None = None
    after_call: Callable[[str], None] | None = None  # e.g. post-call analysis
    blobs: BlobStore | None = None  # where recordings go; None: calls are not recorded
    process_id: str | None = None  # this process's lease: its calls are closed if it dies
    telemetry: Telemetry | None = None  # metrics, traces and logs out (docs/telemetry.md)


class AgentEndpoint(Protocol):
    """Where a call's agent server is: a deployment's process (its routing lease) or, for
    a self-hosted agent, the agent's own URL."""

    @property
    def url(self) -> str: ...
    @property
    def deployment_id(self) -> str | None: ...


@dataclass(frozen=True)
class _SelfHosted:
    url: str
    deployment_id: None = None


@dataclass(frozen=True)
class Ending:
    reason: EndReason
    agent_reason: str | None = None
    error: str | None = None


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
        self.endpoint = endpoint or _SelfHosted(agent.get("self_hosted_deployment_url") or "")
        self.sent_log_records = False  # the agent logs over the socket (SDK): see deploy/logsink
        self.client = client
        self.start = start
        self.call_id = ids.new_id(ids.CALL)
        self.stream_id = start.stream_id or self.call_id
        self.announcer = CallAnnouncer(harness.writer, self.call_id, agent["id"])
        # A tally waits out the hang-up grace, and a second for the writer to commit it.
        tally_delay_s = harness.settings.agent_hangup_grace_s + 1.0
        self.writes = CallWrites(harness.writer, harness.calls, self.call_id, tally_delay_s)
        self.ledger = CallLedger(
            self.call_id,
            self.writes,
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
        # The client's own ids of its events, by the number of the first message sent to
        # the agent for each (in order): what an agent's answer answers, for agent_done.
        self._client_events: list[tuple[int, str | None]] = []
        self._client_event_id: str | None = None  # of the client event being forwarded
        self.call: Call = TextCall(self.ledger, self, self.stream_id)  # voice: set by run()
        self._recording_key: str | None = None
        self._watch: CallWatch | None = None

    # -- lifecycle -------------------------------------------------------------

    async def run(self) -> Ending:
        await asyncio.to_thread(self._create_call)
        try:
            if self.start.config.input_format:
                self.call = await self._voice_or_text()
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
            await self.call.start()
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
            await self.call.hang_up()  # what it queued is still said
        ended_at = ledger.now()
        await self.call.close(ended_at)
        blobs = self.harness.blobs
        if self._recording_key is not None and blobs is not None:  # a key only with blobs
            await asyncio.to_thread(blobs.commit, self._recording_key)
        ledger.close_assistant_turn(TurnEndReason.CALL_ENDED)
        ledger.call_over()
        if ending.error:
            ledger.signal("error", {"message": ending.error})
        ledger.log_metric("system_call_success", ending.reason is not EndReason.ERROR)
        ended = self.writes.end(
            self._row,
            ending.reason.status,
            ledger.started_at + timedelta(seconds=ended_at),  # the recording's end too
            ending.reason.value,
            ending.agent_reason,
            ending.error,
            ledger.next_rev(),
        )
        # The end is durable before the client learns of it, so a read that follows sees it.
        await self.writes.flush()
        await self._close_client(ending)
        if heard_out is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(heard_out, max(0.0, grace_ends - time.monotonic()))
        if self._agent is not None:
            with contextlib.suppress(Exception):
                await self._agent.close()
        failed = ending.reason is EndReason.ERROR
        self.announcer.ended(ended, ledger.facts, failed)
        if self._watch is not None:
            self._watch.ended(ended, ledger.facts)
        await self.writes.flush()  # analysis reads the whole call
        if self.harness.after_call is not None:
            self.harness.after_call(self.call_id)

    async def _voice_or_text(self) -> Call:
        """The call's voice; when its speech providers cannot run here (say, no TTS is
        installed), the call goes on by text, and says so once."""
        try:
            return await asyncio.to_thread(self._voice_call)
        except ProviderError as error:
            return TextCall(self.ledger, self, self.stream_id, voice_unavailable=str(error))

    def _voice_call(self) -> VoiceCall:
        setup = choose_voice(self.agent, self.start.config, self.harness.settings)
        blobs, recording = self.harness.blobs, None
        if blobs is not None and self.agent.get("recording_enabled", True):
            self._recording_key = recording_key(self.call_id)
            recording = blobs.open_for_writing(self._recording_key)
        return VoiceCall(setup, self.ledger, self, self.stream_id, recording)

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
        if kind == "media_input":  # a silent microphone streaming along is not activity
            await self.call.media(message)
            return
        self.touch()
        if kind in ("user_text", "dtmf", "custom"):
            self._client_event_id = _text_or_none(message.get("id"))
        if kind == "user_text":
            text = message.get("text")
            if not isinstance(text, str):
                await self.client_error("user_text needs a string field 'text'")
                return
            await self.call.user_text(text)
        elif kind == "dtmf":
            button = str(message.get("dtmf", ""))[: wire.DTMF_MAX_CHARS]
            self.ledger.signal("dtmf", {"from": "user", "button": button})
            await self.send_agent(wire.Dtmf(button))
        elif kind == "custom":
            metadata = message.get("metadata")
            self.ledger.signal("custom", {"from": "user", "metadata": metadata})
            await self.send_agent(wire.Custom(metadata))
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

    async def _on_agent_frame(
        self, frame: str | bytes, handlers: Mapping[type, _Handler] | None = None
    ) -> Any:
        """Handle one frame; returns what its handler does (an ``Ending`` ends the call)."""
        try:
            message = wire.parse(frame)
        except wire.BadFrame as error:
            await self.reject_agent_message(str(error), frame)
            return None
        handler = (handlers or _AGENT_HANDLERS).get(type(message))
        if handler is None:  # after end_call: what would reach the caller is only noted
            self.ledger.signal(message.type, {"type": message.type, **message.wire()})
            return None
        return await handler(self, message)

    async def _agent_message(self, message: wire.Message) -> None:
        if self._answers_cut_off_turn(message.responding_to):
            # the caller spoke again first, and the agent was told to stop: what it still
            # sends for the old turn is not delivered (nor spoken), only noted
            data = {"text": message.content, "responding_to": message.responding_to}
            self.ledger.signal("dropped_answer", data)
            return
        await self.call.agent_message(message.content, message.interruptible, message.responding_to)

    async def _agent_tool_call(self, message: wire.ToolCall) -> None:
        self.ledger.tool_call(message.name, message.arguments, message.result, message.id)

    async def _agent_log_event(self, message: wire.LogEvent) -> None:
        self.ledger.log_event(message.event, message.metadata)

    async def _agent_log_metric(self, message: wire.LogMetric) -> None:
        self.ledger.log_metric(message.name, message.value)

    async def _agent_log_record(self, message: wire.LogRecord) -> None:
        self.sent_log_records = True
        stamp = message.timestamp
        at = None if stamp is None else self.ledger.since_start(stamp)
        self.ledger.log_record(message.level, message.message, message.logger, message.exc_text, at)

    async def _agent_response_end(self, message: wire.ResponseEnd) -> None:
        if self._answers_cut_off_turn(message.responding_to):
            return
        answers = self._client_event_answered(message.responding_to)
        await self.call.response_end(message.responding_to, answers)

    async def _agent_end_call(self, message: wire.EndCall) -> Ending:
        self.ledger.signal("end_call", {"reason": message.reason})
        return Ending(EndReason.AGENT_HANGUP, agent_reason=message.reason)

    async def _agent_message_after_hangup(self, message: wire.Message) -> None:
        self.ledger.signal("unspoken", {"texts": [message.content], "reason": "after end_call"})

    async def _agent_response_end_after_hangup(self, message: wire.ResponseEnd) -> object:
        return _HEARD_OUT

    async def _agent_error(self, message: wire.Error) -> Ending:
        content = message.content[: self.harness.settings.payload_cap_chars]
        return Ending(EndReason.ERROR, error=content)

    async def _agent_transfer(self, message: wire.Transfer) -> None:
        destination = message.transfer_destination
        self.ledger.signal("transfer", {"transfer_destination": destination})
        await self.send_client(
            {"event": "transfer_call", "stream_id": self.stream_id, "transfer": destination}
        )

    async def _agent_dtmf(self, message: wire.Dtmf) -> None:
        self.ledger.signal("dtmf", {"from": "agent", "button": message.button})
        await self.send_client(
            {"event": "dtmf", "stream_id": self.stream_id, "dtmf": message.button}
        )

    async def _agent_custom(self, message: wire.Custom) -> None:
        metadata = message.metadata
        self.ledger.signal("custom", {"from": "agent", "metadata": metadata})
        await self.send_client(
            {"event": "custom", "stream_id": self.stream_id, "metadata": metadata}
        )

    async def _agent_config(self, message: wire.Config) -> None:
        self.ledger.signal("config", message.fields)
        await self.call.configure(message)

    async def reject_agent_message(self, problem: str, frame: str | bytes) -> None:
        self.ledger.signal("validation_error", {"error": problem, "frame": str(frame)[:1000]})
        await self.send_agent(wire.ValidationError(problem))

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

    async def send_agent(self, message: wire.Outbound) -> None:
        """Send a message to the agent, numbered with an ``event_id`` it may answer to."""
        assert self._agent is not None
        self._event_counter += 1
        number = self._event_counter
        turn_starts = isinstance(message, wire.UserState) and message.value == "speaking"
        if turn_starts:
            self._turn_started_at_event = number
        if turn_starts or isinstance(message, (wire.Dtmf, wire.Custom)):
            self._client_events.append((number, self._client_event_id))
            self._client_event_id = None
        async with self._agent_send_lock:
            with contextlib.suppress(websockets.ConnectionClosed):
                await self._agent.send(wire.emit(message, f"ev_{number}"))

    async def send_client(self, event: dict[str, Any]) -> None:
        async with self._client_send_lock:
            with contextlib.suppress(Exception):  # a departed client is noticed by its pump
                await self.client.send(event)

    async def client_error(self, message: str, **extra: Any) -> None:
        await self.send_client(error_event(self.stream_id, message, **extra))

    def _client_event_answered(self, responding_to: str | None) -> str | None:
        """The client's id of the event an agent's answer answers: of the caller's turn
        (or dtmf, custom) its ``responding_to`` belongs to; without one, the latest."""
        number = _event_number(responding_to)
        answered = None
        for first, client_id in self._client_events:
            if number is not None and first > number:
                break
            answered = client_id
        return answered

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
        telemetry = self.harness.telemetry
        watch = None
        if telemetry is not None:
            watch = telemetry.call_started(self._row, self.agent.get("prometheus_metrics") or ())
            if watch.trace_ids is not None:
                self._row["trace_id"] = watch.trace_ids.trace_id
                self._row["trace_span_id"] = watch.trace_ids.span_id
        webhooks = self.harness.webhooks
        webhook = webhooks.active(self.agent.get("webhook_id")) if webhooks else None
        outbox = self.announcer.started(webhook["id"] if webhook else None, self._row)
        try:
            self.harness.calls.create(self._row, outbox)
        except BaseException:
            if watch is not None:
                watch.abandoned()
            raise
        self._watch = watch

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

    def _call_start(self) -> wire.Start:
        agent = dict(self.agent)
        if self.start.agent is not None:  # the client may override prompt and introduction
            agent |= self.start.agent.model_dump(exclude_none=True)
        metadata = self._metadata()
        return wire.Start(
            call_id=self.call_id,
            from_=str(metadata.get("from", "websocket")),
            to=str(metadata.get("to", self.agent["id"])),
            agent={
                "id": agent["id"],
                "system_prompt": agent.get("system_prompt"),
                "introduction": agent.get("introduction"),
            },
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


# What to do with each kind of agent message: the handler takes the message, and its
# result ends the call when it is an ``Ending``.
_Handler = Callable[[CallSession, Any], Awaitable[Any]]

_AGENT_HANDLERS: dict[type, _Handler] = {
    wire.Message: CallSession._agent_message,
    wire.ToolCall: CallSession._agent_tool_call,
    wire.LogEvent: CallSession._agent_log_event,
    wire.LogMetric: CallSession._agent_log_metric,
    wire.LogRecord: CallSession._agent_log_record,
    wire.ResponseEnd: CallSession._agent_response_end,
    wire.EndCall: CallSession._agent_end_call,
    wire.Error: CallSession._agent_error,
    wire.Transfer: CallSession._agent_transfer,
    wire.Dtmf: CallSession._agent_dtmf,
    wire.Custom: CallSession._agent_custom,
    wire.Config: CallSession._agent_config,
}

# After end_call: facts are recorded as ever; what would reach the caller is only noted.
_HEARD_OUT = object()  # the agent's response is over: nothing more to wait for
_AFTER_HANGUP_HANDLERS: dict[type, _Handler] = {
    wire.Message: CallSession._agent_message_after_hangup,
    wire.ResponseEnd: CallSession._agent_response_end_after_hangup,
    **{
        kind: _AGENT_HANDLERS[kind]
        for kind in (wire.ToolCall, wire.LogEvent, wire.LogMetric, wire.LogRecord)
    },
}
