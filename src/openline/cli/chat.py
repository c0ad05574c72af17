"""``openline chat AGENT``: a text call with an agent, in the terminal.

The call goes through the client protocol (``WS /agents/stream/{agent_id}``): each line
you type is a ``user_text`` event with an ``id``, each ``agent_text`` the agent sends is
printed. With ``--events`` the command also follows the call's live tail
(``/agents/calls/{id}/stream``) and shows the whole timeline from it: tool calls, log
events, metrics and log lines as they are recorded.

Turn-taking (``openline.scenarios.caller``, which scenario runs share) — when is the agent
done answering a line (or greeting)? When the server says so: ``agent_done`` naming the
line's id, sent when the agent's ``response_end`` arrives. An agent that never sends
``response_end`` is waited for until it has done nothing for ``--reply-timeout`` seconds
(before its greeting's first output, ``--greeting-timeout``: longer by default, since a
deployment's first call may take seconds to start; 0 for agents that wait for the caller
to speak first). Only then is the next line read (piped input) or the prompt shown
(terminal).
Until the agent starts greeting, a spinner (a plain line when stderr is not a terminal)
says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import threading
from typing import Annotated, Any

import typer
import websockets
from rich.status import Status
from rich.text import Text
from websockets.asyncio.client import ClientConnection

from openline.cli._client import AgentRef, Api, Target, tail_events, target, unreachable
from openline.cli._errors import CliError, cli_errors
from openline.cli._live import CLIENT_VISIBLE_SIGNALS, FactPrinter, TimeOrder
from openline.cli._output import compact, console, err_console, parse_json_object
from openline.scenarios.caller import CallRefused, CallSocket, Replies, Unreachable, open_call

END_WAIT_S = 5.0  # after the call ends, how long to wait for the tail to deliver the rest
CATCH_UP_S = 2.0  # with --events: how long an answer's last facts may take to be shown
PROMPT = "you> "


@cli_errors
def chat(
    ctx: typer.Context,
    agent: AgentRef,
    events: Annotated[
        bool,
        typer.Option("--events", "-e", help="Also show tool calls, events, metrics and logs live."),
    ] = False,
    metadata: Annotated[
        str | None,
        typer.Option(
            help="Call metadata, a JSON object (sent in the start event).", show_default=False
        ),
    ] = None,
    reply_timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Seconds the agent may do nothing before an answer without response_end "
            "counts as done.",
        ),
    ] = 15.0,
    greeting_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds to wait for the agent to start greeting (0: don't wait for a greeting).",
        ),
    ] = 30.0,
) -> None:
    """Talk to an agent by text: a real call, recorded like any other.

    Type a line and press Enter; Ctrl-D or Ctrl-C hangs up.

    Piped input: each line is sent once the agent has answered the previous one;
    the call is hung up at the end of the input, unless the agent hangs up first.
    """
    call_metadata = parse_json_object(metadata, "--metadata") or {}
    where = target(ctx)
    with Api(where) as api:
        found = api.agent(agent)
    session = ChatSession(
        where,
        found,
        show_events=events,
        metadata=call_metadata,
        reply_timeout=reply_timeout,
        greeting_timeout=greeting_timeout,
        interactive=sys.stdin.isatty(),
    )
    raise typer.Exit(asyncio.run(session.run()))


# -- reading lines without blocking the event loop -----------------------------------------------


class LineReader:
    """Reads one line from stdin each time one is asked for, in a daemon thread (so that a
    hang-up never waits for a pending read)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interactive: bool) -> None:
        self._loop = loop
        self._interactive = interactive
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._wanted = threading.Event()
        self._stopped = False
        self._stdin = sys.stdin
        threading.Thread(target=self._run, name="openline-chat-stdin", daemon=True).start()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopped:
                return
            try:
                if self._interactive:
                    line: str | None = input(PROMPT)
                else:
                    raw = self._stdin.readline()
                    line = raw.rstrip("\r\n") if raw else None
            except (EOFError, OSError, ValueError):
                line = None
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
                self._loop.call_soon_threadsafe(self._queue.put_nowait, line)
            if line is None:
                return

    async def next(self) -> str | None:
        """The next line, or None at the end of the input."""
        self._wanted.set()
        return await self._queue.get()

    def stop(self) -> None:
        self._stopped = True
        self._wanted.set()


# -- the call ------------------------------------------------------------------------------------


class ChatSession:
    def __init__(
        self,
        target: Target,
        agent: dict,
        *,
        show_events: bool,
        metadata: dict[str, Any],
        reply_timeout: float,
        greeting_timeout: float,
        interactive: bool,
    ) -> None:
        self.target = target
        self.agent = agent
        self.show_events = show_events
        self.metadata = metadata
        self.reply_timeout = reply_timeout
        self.greeting_timeout = greeting_timeout
        self.interactive = interactive
        self.call_id: str | None = None
        self.replies = Replies()
        self.batches = 0  # live-tail batches shown so far (--events)
        self.said_no_done = False  # the note about an agent without response_end is out
        self.printer = FactPrinter(skip_signals=CLIENT_VISIBLE_SIGNALS)
        self.ordered = TimeOrder(self._say)
        self.changed = asyncio.Event()  # the tail showed more, or ended: re-check
        self.closed = asyncio.Event()  # the call's socket is closed
        self.hangup = asyncio.Event()  # the user asked to hang up (Ctrl-C)
        self.tail_ended = asyncio.Event()
        self.tail_failed = False
        self.final_call: dict | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.errors: list[str] = []
        self.prompting = False
        self.waiting: Status | None = None  # the spinner shown until the greeting starts
        self.we_hung_up = False

    # -- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._trap_ctrl_c(loop)
        try:
            call = await self._open()
            tasks = [asyncio.create_task(self._read_socket(call.socket))]
            if self.show_events:
                tasks.append(asyncio.create_task(self._follow_tail()))
            else:
                self.tail_ended.set()
            reader = LineReader(loop, self.interactive)
            try:
                await self._converse(call, reader)
                await self._finish(call.socket)
            finally:
                reader.stop()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signal.SIGINT)
        return self._report()

    def _trap_ctrl_c(self, loop: asyncio.AbstractEventLoop) -> None:
        def on_ctrl_c() -> None:
            self.hangup.set()
            self.changed.set()
            self.replies.poke()
            loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C interrupts for real

        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGINT, on_ctrl_c)

    async def _open(self) -> CallSocket:
        try:
            call = await open_call(self.target, self.agent["id"], self.metadata)
        except CallRefused as error:
            raise CliError(str(error)) from None
        except Unreachable as error:
            raise unreachable(self.target.url, error.error) from None
        self.call_id, self.errors = call.call_id, call.errors
        console.print(
            Text.assemble(
                ("Calling ", "dim"),
                (self.agent.get("name") or self.agent["id"], "bold"),
                (f" — call {self.call_id}. ", "dim"),
                ("Ctrl-D or Ctrl-C hangs up." if self.interactive else "", "dim"),
            )
        )
        return call

    async def _converse(self, call: CallSocket, reader: LineReader) -> None:
        if self.greeting_timeout > 0:
            self._show_waiting()
            try:
                await self._wait_reply(0, self.greeting_timeout)
            finally:
                self._stop_waiting()
        lines_sent = 0
        while not self.closed.is_set() and not self.hangup.is_set():
            line = await self._next_line(reader)
            if line is None:
                break
            if not line.strip():
                continue
            if not self.interactive and not self.show_events:
                self._say(Text.assemble(("you: ", "bold green"), line))
            lines_sent += 1
            try:
                await call.say(line, lines_sent)
            except websockets.ConnectionClosed:
                break
            await self._wait_reply(lines_sent, self.reply_timeout)

    async def _next_line(self, reader: LineReader) -> str | None:
        self.prompting = self.interactive
        getting = asyncio.ensure_future(reader.next())
        stops = [
            asyncio.ensure_future(self.closed.wait()),
            asyncio.ensure_future(self.hangup.wait()),
        ]
        try:
            await asyncio.wait([getting, *stops], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.prompting = False
            for waiter in stops:
                waiter.cancel()
        if getting.done():
            line = getting.result()
            if line is None and self.interactive:
                console.print()  # Ctrl-D leaves the cursor after the prompt
            return line
        getting.cancel()
        if self.interactive:
            console.print()  # leave the prompt line
        return None

    async def _wait_reply(self, lines_sent: int, start_timeout: float) -> None:
        try:
            await self._wait_reply_done(lines_sent, start_timeout)
        finally:
            self.ordered.flush()

    async def _wait_reply_done(self, lines_sent: int, start_timeout: float) -> None:
        outcome = await self.replies.wait(
            lines_sent, start_timeout, self.reply_timeout, stop=self.hangup
        )
        if outcome == "done":
            await self._catch_up()
        elif outcome == "quiet":
            self._note_no_done(lines_sent)

    async def _catch_up(self) -> None:
        """With --events, let the tail show the answer's last facts before going on."""
        if self.tail_ended.is_set():
            return
        loop = asyncio.get_running_loop()
        shown, give_up = self.batches, loop.time() + CATCH_UP_S
        while self.batches == shown and not self.tail_ended.is_set():
            self.changed.clear()
            remaining = give_up - loop.time()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)

    def _note_no_done(self, lines_sent: int) -> None:
        if self.replies.active_at == float("-inf") or self.said_no_done:
            return  # the agent said nothing: no answer is not a missing response_end
        self.said_no_done = True
        what = "answer" if lines_sent else "greeting"
        err_console.print(
            f"(the agent never said its {what} was over — no response_end —, so chat goes "
            f"on after {self.reply_timeout:g}s without output: --reply-timeout)",
            style="dim",
        )

    async def _finish(self, socket: ClientConnection) -> None:
        if not self.closed.is_set():
            self.we_hung_up = True
            with contextlib.suppress(Exception):
                await socket.close(1000, "client hung up")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), END_WAIT_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.tail_ended.wait(), END_WAIT_S)
        self.ordered.flush()

    # -- the two listeners -------------------------------------------------------------------------

    async def _read_socket(self, socket: ClientConnection) -> None:
        try:
            async for raw in socket:
                try:
                    event = json.loads(raw)
                except ValueError:
                    continue
                self.replies.on_event(event)
                self._on_call_event(event)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()
            self.changed.set()
            self.replies.close()
            self.close_code, self.close_reason = socket.close_code, socket.close_reason or ""

    def _on_call_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "agent_text":
            if not self._text_from_tail():
                self._say(Text.assemble(("agent: ", "bold cyan"), str(event.get("text", ""))))
        elif kind == "error":
            message = str(event.get("message", "error"))
            self.errors.append(message)
            if not event.get("call_id"):  # with call_id: the call failed, said at the end
                err_console.print(Text(f"error: {message}", style="red"))
        elif kind == "dtmf":
            self._say(Text(f"agent pressed {event.get('dtmf')}", style="yellow"))
        elif kind == "custom":
            self._say(Text(f"agent sent custom {compact(event.get('metadata'))}", style="yellow"))
        elif kind == "transfer_call":
            self._say(
                Text(f"agent transfers the call: {compact(event.get('transfer'))}", style="yellow")
            )

    async def _follow_tail(self) -> None:
        assert self.call_id is not None
        problem: str | None = "the stream ended early"
        try:
            batch: list[dict[str, Any]] = []
            async for event in tail_events(self.target, self.call_id):
                if event.event == "fact" and isinstance(event.data, dict):
                    batch.append(event.data)
                elif event.event == "caught_up":
                    # A batch is taken whole: the turn that closes an answer can come
                    # before the tool calls made in it (it was opened by the first).
                    self._on_batch(batch)
                    batch = []
                elif event.event == "end":
                    self._on_batch(batch)
                    self.final_call = event.data if isinstance(event.data, dict) else None
                    problem = None
                    return
        except CliError as error:
            problem = str(error)
        finally:
            if problem is not None:
                self.tail_failed = True
                if self.show_events and not self.closed.is_set():
                    err_console.print(
                        f"[yellow]The live tail stopped ({problem}): events are not shown.[/]"
                    )
            self.tail_ended.set()
            self.changed.set()

    def _on_batch(self, facts: list[dict[str, Any]]) -> None:
        for fact in facts:
            self._on_fact(fact)
        self.ordered.flush()
        self.batches += 1
        self.changed.set()

    def _on_fact(self, fact: dict[str, Any]) -> None:
        is_user_turn = fact.get("kind") == "turn" and fact.get("role") == "user"
        if not is_user_turn:
            self.replies.active()  # a slow tool call is the agent at work, too
        lines = self.printer.apply(fact)
        if not (is_user_turn and self.interactive):
            self.ordered.add(lines)

    # -- output ------------------------------------------------------------------------------------

    def _text_from_tail(self) -> bool:
        """With --events the whole conversation is printed from the tail, in recorded order."""
        return self.show_events and not self.tail_failed

    def _show_waiting(self) -> None:
        name = self.agent.get("name") or self.agent["id"]
        message = (
            f"Waiting for {name} to greet (up to {self.greeting_timeout:g}s; "
            "--greeting-timeout 0 skips this)…"
        )
        if err_console.is_terminal:
            self.waiting = err_console.status(message, spinner="dots")
            self.waiting.start()
        else:
            err_console.print(message, style="dim")

    def _stop_waiting(self) -> None:
        if self.waiting is not None:
            self.waiting.stop()
            self.waiting = None

    def _say(self, text: Text) -> None:
        self._stop_waiting()  # the agent has started: the spinner's line is free for its words
        if self.prompting:
            console.print()
        console.print(text)

    def _report(self) -> int:
        call = self.final_call or {}
        end_reason = call.get("end_reason")
        failed = call.get("status") == "failed" or (
            not call and (self.close_code not in (None, 1000) or bool(self.errors))
        )
        if failed:
            message = call.get("error_message") or "; ".join(self.errors) or self.close_reason
            err_console.print(f"[bold red]Call failed:[/] {message or 'unknown error'}")
        elif end_reason == "agent_hangup" or (
            not call and self.close_reason.startswith("call ended by agent")
        ):
            reason = call.get("agent_end_reason")
            if reason is None and "reason: " in self.close_reason:
                reason = self.close_reason.split("reason: ", 1)[1]
            console.print(
                "The agent hung up" + (f" (reason: {reason})." if reason else "."), style="bold"
            )
        elif end_reason == "client_hangup" or (not call and self.we_hung_up):
            console.print("You hung up.", style="bold")
        else:
            shown = end_reason or self.close_reason.removeprefix("call ended: ")
            console.print(f"Call ended: {shown or 'the connection closed'}.", style="bold")
        if self.call_id:
            console.print(f"Call id: {self.call_id}  (openline calls get {self.call_id})")
        return 1 if failed else 0
