"""Per-call logs: log lines emitted while handling a call are sent on that call.

The session binds a sink in a `ContextVar` for the tasks that handle one call, so
two concurrent calls in one process each get their own lines, and lines emitted
outside any call are left to the normal handlers. stdlib `logging` is captured by a
handler on the root logger; `loguru` (when installed) by a sink.

Each line becomes the openline wire extension
`{"type":"log_record","level","logger","message","timestamp","exc_text"}`.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

from ._wire import capped

__all__ = [
    "CallLogHandler",
    "bind_call",
    "current_call_id",
    "install_call_logging",
    "unbind_call",
]

PostLog = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class _CallSink:
    call_id: str | None
    post: PostLog


_sink: ContextVar[_CallSink | None] = ContextVar("openline_call_log_sink", default=None)


def current_call_id() -> str | None:
    """The id of the call being handled by the current task, if any."""
    sink = _sink.get()
    return sink.call_id if sink else None


def bind_call(call_id: str | None, post: PostLog) -> Token[_CallSink | None]:
    """Route log lines of the current context (and tasks it creates) to `post`."""
    return _sink.set(_CallSink(call_id, post))


def unbind_call(token: Token[_CallSink | None]) -> None:
    _sink.reset(token)


def unbound() -> Token[_CallSink | None]:
    """Detach the current context from any call (for the socket writer itself)."""
    return _sink.set(None)


def level_name(levelno: int) -> str:
    if levelno >= logging.CRITICAL:
        return "critical"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


def _frame(level: int, logger: str, message: str, ts: float, exc: str | None) -> dict:
    return {
        "type": "log_record",
        "level": level_name(level),
        "logger": logger,
        "message": capped(message),
        "timestamp": ts,
        "exc_text": capped(exc) if exc else None,
    }


class CallLogHandler(logging.Handler):
    """Sends stdlib log records emitted inside a call to that call. Never raises."""

    _formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        sink = _sink.get()
        if sink is None:
            return
        try:
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - bad %-args in user code: keep the raw message
                message = str(record.msg)
            exc = None
            if record.exc_info:
                exc = self._formatter.formatException(record.exc_info)
            elif record.exc_text:
                exc = record.exc_text
            if record.stack_info:
                exc = f"{exc}\n{record.stack_info}" if exc else record.stack_info
            sink.post(_frame(record.levelno, record.name, message, record.created, exc))
        except Exception:  # noqa: BLE001, S110 - logging must never raise into user code
            pass


def _loguru_sink(message: Any) -> None:
    sink = _sink.get()
    if sink is None:
        return
    try:
        record = message.record
        exc = None
        if record["exception"] is not None:
            etype, value, tb = record["exception"]
            exc = "".join(traceback.format_exception(etype, value, tb))
        sink.post(
            _frame(
                record["level"].no,
                record["name"] or "loguru",
                record["message"],
                record["time"].timestamp(),
                exc,
            )
        )
    except Exception:  # noqa: BLE001, S110 - logging must never raise into user code
        pass


_installed = False
_install_lock = threading.Lock()


def install_call_logging() -> None:
    """Capture logging and loguru lines for calls. Idempotent; called at app start.

    The user's logging set-up is kept. Only when the root logger is untouched (level
    WARNING, Python's default) is it lowered to INFO, so `logger.info(...)` lines
    reach the call; and when it has no handler a stderr handler is added, so lines
    still appear in the deployment log.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True
        root = logging.getLogger()
        if root.level == logging.WARNING:
            root.setLevel(logging.INFO)
        if not root.handlers:
            stderr = logging.StreamHandler(sys.stderr)
            stderr.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            root.addHandler(stderr)
        root.addHandler(CallLogHandler())
        try:
            from loguru import logger as loguru_logger
        except ImportError:
            return
        loguru_logger.add(
            _loguru_sink,
            level="DEBUG",
            format="{message}",
            filter=lambda _record: _sink.get() is not None,
            catch=True,
        )
