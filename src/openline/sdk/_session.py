"""One call on one websocket: read platform messages, run the agent, send its output.

Run/cancel: events in `run_on` are queued as triggers and handled one at a time,
each by a fresh task (a "response"); events in `cancel_on` (a new user turn)
cancel the running response and drop queued triggers. Background tools run in
their own tasks and survive. Output carries `responding_to` = the trigger's
`event_id` (held in a ContextVar, so tools and helper tasks inherit it), and each
response is closed with `response_end`.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
import traceback
from collections.abc import Callable, MutableMapping
from contextlib import aclosing
from dataclasses import dataclass, fields
from typing import Any

from starlette.websockets import WebSocket

from . import calllogs
from ._outbox import Outbox
from ._outputs import iterate
from ._toolrun import run_tool
from ._wire import InputDecoder, output_frame, sdk_error_frame
from .context import CallContext, CallRequest
from .events import (
    AgentEndCall,
    AgentHandedOff,
    AgentOutputRejected,
    AgentSendText,
    AgentToolReturned,
    CallEnded,
    CallStarted,
    InputEvent,
    OutputEvent,
)
from .tools import Tool, ToolResult

logger = logging.getLogger("openline.sdk")

_responding_to: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "openline_responding_to", default=None
)

CALL_ENDED_TIMEOUT = 5.0  # seconds the agent gets to clean up after the call
LEGACY_START_WAIT = 0.5  # seconds to wait for `start` when the query string has parameters

GetAgent = Callable[[CallContext, CallRequest], Any]


@dataclass(frozen=True)
class SessionOptions:
    get_agent: GetAgent
    run_on: tuple[type[InputEvent], ...]
    cancel_on: tuple[type[InputEvent], ...]


def call_agent(agent: Any, ctx: CallContext, event: InputEvent) -> Any:
    """Invoke an agent: an object with `process(ctx, event)` or a callable."""
    process = getattr(agent, "process", None)
    if callable(process):
        return process(ctx, event)
    return agent(ctx, event)


def is_agent(value: Any) -> bool:
    return callable(getattr(value, "process", None)) or callable(value)


class CallSession:
    def __init__(self, websocket: WebSocket, options: SessionOptions) -> None:
        self._ws = websocket
        self._options = options
        self._decoder = InputDecoder()
        self._triggers: asyncio.Queue[InputEvent] = asyncio.Queue()
        self._current: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._agent: Any = None
        self._ending = False
        self._finished = asyncio.Event()
        self._inbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
        self._finish_task: asyncio.Task[None] | None = None
        self.ctx: CallContext
        self._outbox: Outbox

    # ----------------------------------------------------------------- lifecycle

    async def serve(self) -> None:
        await self._ws.accept()
        self._outbox = Outbox(self._ws.send_text, self._close_socket)
        # The writer must not feed its own log lines back into the call.
        writer_context = contextvars.copy_context()
        writer_context.run(calllogs.unbound)
        writer = asyncio.create_task(self._outbox.run(), context=writer_context)
        pump = asyncio.create_task(self._pump())
        try:
            started = await self._read_start()
            if started is None:
                return
            request, start_event_id, pending = started
            self.ctx = CallContext(request, self)
            token = calllogs.bind_call(request.call_id, self._outbox.post_log)
            try:
                await self._run_call(start_event_id, pending)
            finally:
                calllogs.unbind_call(token)
        finally:
            self._outbox.close(1000)  # no-op when a close is already queued
            await asyncio.wait([writer], timeout=2.0)
            writer.cancel()
            pump.cancel()

    async def _run_call(self, start_event_id: str | None, pending: dict | None) -> None:
        reader = runner = None
        try:
            try:
                agent = self._options.get_agent(self.ctx, self.ctx.request)
                if inspect.isawaitable(agent):
                    agent = await agent
            except Exception:
                logger.exception("get_agent raised")
                self._fail(traceback.format_exc())
            else:
                self._agent = agent
                self._enqueue(self._started_event(start_event_id))
                reader = asyncio.create_task(self._read_loop(pending))
                runner = asyncio.create_task(self._run_loop())
            await self._finished.wait()
        finally:
            for task in (reader, runner, self._finish_task, *self._background):
                if task is not None:
                    task.cancel()
            pending_tasks = [
                t for t in (reader, runner, self._finish_task, *self._background) if t is not None
            ]
            if pending_tasks:
                await asyncio.wait(pending_tasks)
            self._ending = True
            await self._deliver_call_ended()

    def _started_event(self, event_id: str | None) -> InputEvent:
        event = CallStarted(event_id=event_id)
        self.ctx.history.append(event)
        return event

    def _end(self, code: int | None) -> None:
        """Stop the call: cancel the response, flush, close with `code` (None: the
        platform already closed)."""
        if self._ending:
            return
        self._ending = True
        self._finish_task = asyncio.create_task(self._finish(code))

    async def _finish(self, code: int | None) -> None:
        try:
            # Stop the response and background tools first, so their last frames
            # (response_end, cancelled tool results) go out before the close.
            running = [t for t in (self._current, *self._background) if t is not None]
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running)
            if code is not None:
                self._outbox.close(code)
                await asyncio.wait_for(self._outbox.done.wait(), timeout=5.0)
        except (TimeoutError, asyncio.CancelledError):
            pass
        finally:
            self._finished.set()

    def _fail(self, tb: str) -> None:
        """Agent code raised: report the traceback and close with 1011."""
        if self._ending:
            return
        self._post({"type": "error", "content": tb})
        self._end(1011)

    async def _close_socket(self, code: int) -> None:
        await self._ws.close(code)

    async def _deliver_call_ended(self) -> None:
        if self._agent is None:
            return
        event = CallEnded()
        self.ctx.history.append(event)
        try:
            async with asyncio.timeout(CALL_ENDED_TIMEOUT):
                async with aclosing(iterate(call_agent(self._agent, self.ctx, event))) as stream:
                    async for _ in stream:
                        pass  # nothing can be sent any more
        except Exception:
            logger.warning("agent raised while handling CallEnded", exc_info=True)

    # ------------------------------------------------------------------ reading

    async def _pump(self) -> None:
        """Move socket messages into the inbox, so waiting on it can time out safely."""
        while True:
            message = await self._ws.receive()
            self._inbox.put_nowait(message)
            if message["type"] == "websocket.disconnect":
                return

    async def _receive(self) -> dict[str, Any] | None:
        """The next JSON object from the platform; None when the socket closed."""
        while True:
            message = await self._inbox.get()
            if message["type"] == "websocket.disconnect":
                self._inbox.put_nowait(message)  # stays closed for later readers
                return None
            raw = message.get("text")
            if raw is None and message.get("bytes") is not None:
                raw = message["bytes"].decode("utf-8", "replace")
            try:
                data = json.loads(raw or "")
            except ValueError:
                logger.warning("ignoring a non-JSON message from the platform")
                continue
            if isinstance(data, dict):
                return data
            logger.warning("ignoring a JSON message that is not an object")

    async def _read_start(self) -> tuple[CallRequest, str | None, dict | None] | None:
        """Call parameters: the `start` message, or the query string (older platforms).

        Current platforms send `start` right after connecting, and may also put the
        call id in the query string; older ones only use the query string, so with
        query parameters `start` is awaited briefly, then the call starts anyway.
        """
        params = dict(self._ws.query_params)
        try:
            async with asyncio.timeout(LEGACY_START_WAIT if params else None):
                first = await self._receive()
        except TimeoutError:
            return CallRequest.from_json(params), None, None
        if first is None:
            return None
        if first.get("type") == "start":
            eid = first.get("event_id")
            request = CallRequest.from_json({**params, **first})
            return request, (str(eid) if eid is not None else None), None
        # No start message: be lenient, start with what we know and handle the message.
        return CallRequest.from_json(params), None, first

    async def _read_loop(self, pending: dict | None) -> None:
        if pending is not None:
            self._handle(pending)
        while True:
            msg = await self._receive()
            if msg is None:
                break
            self._handle(msg)
        self._end(None)

    def _handle(self, msg: dict[str, Any]) -> None:
        if self._ending:
            return
        if msg.get("type") == "start":  # late start after query parameters: merge
            self._merge_request(CallRequest.from_json(msg))
            return
        event = self._decoder.decode(msg)
        if event is None:
            logger.debug("ignoring platform message of type %r", msg.get("type"))
            return
        self.ctx.history.append(event)
        if isinstance(event, AgentOutputRejected):
            logger.warning(
                "the platform rejected agent output: %s (%s)",
                event.error_message,
                event.error_type,
            )
        if isinstance(event, self._options.cancel_on):
            self._interrupt()
        if isinstance(event, self._options.run_on):
            self._enqueue(event)

    def _merge_request(self, new: CallRequest) -> None:
        for f in fields(CallRequest):
            value = getattr(new, f.name)
            if value not in (None, {}):
                setattr(self.ctx.request, f.name, value)

    # ------------------------------------------------------------------ running

    def _enqueue(self, event: InputEvent) -> None:
        if not self._ending:
            self._triggers.put_nowait(event)

    def _interrupt(self) -> None:
        """A new user turn: drop queued triggers and cancel the running response."""
        while not self._triggers.empty():
            self._triggers.get_nowait()
        if self._current is not None:
            self._current.cancel()

    async def _run_loop(self) -> None:
        while True:
            event = await self._triggers.get()
            if self._ending:
                return
            task = asyncio.create_task(self._respond(event))
            self._current = task
            try:
                await asyncio.wait([task])
            finally:
                if not task.done():
                    task.cancel()
                    await asyncio.wait([task])
                self._current = None

    async def _respond(self, event: InputEvent) -> None:
        _responding_to.set(event.event_id)  # this task's own context copy
        try:
            result = call_agent(self._agent, self.ctx, event)
            async with aclosing(iterate(result)) as stream:
                async for item in stream:
                    self.emit(item)
                    if isinstance(item, AgentEndCall) or self._ending:
                        break
        except asyncio.CancelledError:
            self._response_end(event)
            raise
        except Exception:
            logger.exception("agent code raised while handling %s", type(event).__name__)
            self._fail(traceback.format_exc())
            return
        self._response_end(event)

    def _response_end(self, event: InputEvent) -> None:
        frame: dict[str, Any] = {"type": "response_end"}
        if event.event_id is not None:
            frame["responding_to"] = event.event_id
        self._outbox.post(frame)

    # ------------------------------------------------------------ the CallContext side

    def _post(self, frame: dict[str, Any]) -> None:
        responding_to = _responding_to.get()
        if responding_to is not None:
            frame["responding_to"] = responding_to
        self._outbox.post(frame)

    def emit(self, event: Any) -> None:
        """Send one output event (from the agent, a tool, or `ctx.send`)."""
        if self._ending and not isinstance(event, AgentToolReturned):
            return  # after end_call only open tool-call records may still be closed
        if isinstance(event, str):
            event = AgentSendText(event)
        if not isinstance(event, OutputEvent):
            message = f"agent yielded an unsupported object: {event!r:.1000}"
            logger.error(message)
            self._post(sdk_error_frame(message))
            return
        frame = output_frame(event)
        if frame.get("event") == "sdk_error":
            logger.error(frame["metadata"]["message"])
        self._post(frame)
        self.ctx.history.append(event)
        if isinstance(event, AgentEndCall):
            self._end(1000)

    async def call_tool(
        self, tool: Tool, arguments: dict[str, Any], tool_call_id: str | None
    ) -> ToolResult:
        run = run_tool(tool, self.ctx, arguments, self.emit, tool_call_id)
        if tool.is_background:
            # Its own task: cancelling this response only stops the waiting.
            task = asyncio.create_task(run)
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            result = await asyncio.shield(task)
        else:
            result = await run
        if tool.kind == "handoff" and result.ok:
            self._handoff(tool, arguments, result.value)
        return result

    def _handoff(self, tool: Tool, arguments: dict[str, Any], agent: Any) -> None:
        if not is_agent(agent):
            message = f"handoff tool {tool.name} did not return an agent: {agent!r:.1000}"
            logger.error(message)
            self._post(sdk_error_frame(message))
            return
        self._agent = agent
        event = AgentHandedOff(
            tool_name=tool.name, arguments=arguments, event_id=_responding_to.get()
        )
        self.ctx.history.append(event)
        self._enqueue(event)
