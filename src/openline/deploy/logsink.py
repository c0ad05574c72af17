"""A deployment's log: build output, process output and openline's own notes about the
deployment, stored line by line through the batching writer.

Each line gets a timestamp when it is captured, a level (from the line itself when it
names one, else by stream), the values of the agent's secrets masked, and a sequence
number within the deployment (the cursor of the logs API). Process output is rate
limited per deployment: a flood is dropped and counted, never buffered without bound.

Attribution to calls follows docs/agent-protocol.md: a line marked by the call-tag hook
(``calltags``) or naming ``call_id=<id>`` of a call in flight on the deployment goes to
that call; otherwise, unless the process has shown that it marks its calls' lines, a
line captured while exactly one call is in flight goes to that one. Calls whose agent
sends ``log_record`` frames (the SDK) are left out: their lines already arrive
structured. Lines are held for a moment before they are stored so that a call's first
``log_record`` (sent after the SDK's own stderr copy of the same line) is seen before
the line is judged.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from openline.deploy.calltags import untag
from openline.deploy.routing import InFlight
from openline.store import schema
from openline.store.writer import Writer
from openline.telemetry import Telemetry

HOLD_S = 0.3
CALL_ID = re.compile(r"\bcall_id=(call_[0-9A-Za-z]+)")
_LEVEL_WORD = re.compile(
    r"\b(DEBUG|INFO|WARN|WARNING|ERROR|EXCEPTION|CRITICAL|FATAL)\b"
    r"|\blevel=\"?(debug|info|warn|warning|error|critical|fatal)\b",
    re.IGNORECASE,
)
_LEVELS = {
    "debug": "debug",
    "info": "info",
    "warn": "warning",
    "warning": "warning",
    "error": "error",
    "exception": "error",
    "critical": "critical",
    "fatal": "critical",
}
_MIN_SECRET_CHARS = 4  # shorter values ("1", "on") would mask ordinary text


def level_of(stream: str, line: str) -> str:
    """The level a line names near its start (``INFO``, ``level=warn``); else info on
    stdout and error on stderr, where unlabelled lines are mostly tracebacks."""
    for match in _LEVEL_WORD.finditer(line[:120]):
        word = match.group(1)
        if word is None or word.isupper():  # "ERROR" is a level, "error" in prose is not
            return _LEVELS[(word or match.group(2)).lower()]
    if line.startswith("Traceback (most recent call last)"):
        return "error"
    return "error" if stream == "stderr" else "info"


def _named_call(message: str) -> str | None:
    named = CALL_ID.search(message)
    return None if named is None else named.group(1)


@dataclass(slots=True)
class _Line:
    stream: str
    level: str
    message: str
    captured: float  # epoch seconds
    calls: tuple = ()  # the calls in flight when it was captured
    alone: bool = False  # exactly one call was in flight then
    tag: str | None = None  # the call id the hook marked it with


class DeploymentLog:
    def __init__(
        self,
        deployment_id: str,
        writer: Writer,
        inflight: InFlight,
        last_seq: int,
        lines_per_s: int = 500,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.deployment_id = deployment_id
        self._telemetry = telemetry
        self._writer = writer
        self._inflight = inflight
        self._seq = last_seq
        self._rate = lines_per_s
        self._tokens = float(lines_per_s)
        self._refilled = time.monotonic()
        self._dropped = 0
        self._secrets: dict[str, str] = {}
        self._held: deque[_Line] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._last: dict[str, str] = {}  # stream → its last non-blank line
        # The process marks its calls' lines (calltags): an unmarked one is outside any call.
        self._marks_calls = False

    @property
    def last_output(self) -> str | None:
        """The process's last words: its last stderr line, else its last stdout line."""
        last = self._last.get("stderr") or self._last.get("stdout")
        return None if last is None else self._mask(last.strip())[:500]

    def set_secrets(self, variables: dict[str, str]) -> None:
        # Longest first, so a secret containing another is masked whole.
        pairs = [(n, v) for n, v in variables.items() if len(v) >= _MIN_SECRET_CHARS]
        self._secrets = dict(sorted(pairs, key=lambda pair: -len(pair[1])))

    # -- what goes in ----------------------------------------------------------------

    def build(self, level: str, message: str) -> None:
        self._hold(_Line("build", level, message, time.time()))

    def note(self, level: str, message: str) -> None:
        """openline's own line about the deployment (started, healthy, crashed, …)."""
        self._hold(_Line("system", level, message, time.time()))

    def output(self, stream: str, line: str) -> None:
        """A line the process printed."""
        tag, line = untag(line)
        self._marks_calls = self._marks_calls or tag is not None
        if line.strip():
            self._last[stream] = line
        if not self._take_token():
            self._dropped += 1
            return
        if self._dropped:
            self.note("warning", self._dropped_note())
        calls = tuple(self._inflight.calls(self.deployment_id))
        alone = (
            len(calls) == 1
            and self._inflight.count(self.deployment_id) == 1
            and not self._marks_calls
        )
        self._hold(_Line(stream, level_of(stream, line), line, time.time(), calls, alone, tag))

    def flush(self) -> None:
        """Store everything held now (before a status change that readers act on)."""
        if self._dropped:
            self._held.append(_Line("system", "warning", self._dropped_note(), time.time()))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._held:
            self._store(self._held.popleft())

    # -- holding, then storing ----------------------------------------------------------

    def _hold(self, line: _Line) -> None:
        self._held.append(line)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(HOLD_S, self._release)

    def _release(self) -> None:
        self._timer = None
        due = time.time() - HOLD_S
        while self._held and self._held[0].captured <= due:
            self._store(self._held.popleft())
        if self._held:
            wait = max(0.01, self._held[0].captured - due)
            self._timer = asyncio.get_running_loop().call_later(wait, self._release)

    def _store(self, line: _Line) -> None:
        message = self._mask(line.message)
        call = self._call_for(line, message)
        self._seq += 1
        at = datetime.fromtimestamp(line.captured, UTC)
        self._writer.insert(
            schema.deployment_logs,
            {
                "deployment_id": self.deployment_id,
                "seq": self._seq,
                "at": at,
                "stream": line.stream,
                "level": line.level,
                "message": message,
                "call_id": call.call_id if call is not None else None,
            },
            self.deployment_id,
        )
        if call is not None:  # exported with the call's trace when the call is over
            ledger = call.ledger
            ledger.log_record(
                line.level, message, line.stream, None, ledger.since_start(line.captured)
            )
        elif self._telemetry is not None:
            self._telemetry.deployment_line(
                self.deployment_id, at, line.stream, line.level, message
            )

    def _call_for(self, line: _Line, message: str):
        """The call the line belongs to, judged on the calls in flight when it was
        captured (a call may have ended while the line was held)."""
        named = line.tag or _named_call(message)
        if named is not None:
            call = next((c for c in line.calls if c.call_id == named), None)
        else:
            call = line.calls[0] if line.alone else None
        return None if call is None or call.sent_log_records else call

    def _dropped_note(self) -> str:
        dropped, self._dropped = self._dropped, 0
        return f"dropped {dropped} lines of output (over {self._rate} lines/s)"

    def _mask(self, message: str) -> str:
        for name, value in self._secrets.items():
            if value in message:
                message = message.replace(value, f"[redacted {name}]")
        return message

    def _take_token(self) -> bool:
        now = time.monotonic()
        self._tokens = min(float(self._rate), self._tokens + (now - self._refilled) * self._rate)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
