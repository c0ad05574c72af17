"""Log lines as OTLP log records: a call's lines with the call's trace context (the turn
they were logged in, else the call), a deployment's other lines with its ids."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext

from openline.domain.calls import Fact, LogRecord

_SEVERITIES = {
    "debug": SeverityNumber.DEBUG,
    "info": SeverityNumber.INFO,
    "warning": SeverityNumber.WARN,
    "error": SeverityNumber.ERROR,
    "critical": SeverityNumber.FATAL,
}


def emit_call_lines(
    logger: Logger,
    call: Mapping[str, Any],
    facts: Iterable[Fact],
    span_of: Callable[[Fact], SpanContext] | None,
) -> None:
    """``span_of``: the span of the call's trace a fact belongs to (None: not traced)."""
    start_ns = round(call["start_time"].timestamp() * 1e9)
    for line in (fact for fact in facts if type(fact) is LogRecord):
        attributes = {"openline.call.id": call["id"], "gen_ai.agent.id": call["agent_id"]}
        if line.logger:
            attributes["code.namespace"] = line.logger
        if line.exc_text:
            attributes["exception.stacktrace"] = line.exc_text
        logger.emit(
            timestamp=start_ns + round(line.timestamp * 1e9),
            context=None if span_of is None else _within(span_of(line)),
            severity_number=_SEVERITIES.get(line.level, SeverityNumber.INFO),
            severity_text=line.level.upper(),
            body=line.message,
            attributes=attributes,
        )


def _within(span: SpanContext) -> Context:
    return trace.set_span_in_context(NonRecordingSpan(span))


def emit_deployment_line(
    logger: Logger,
    deployment_id: str,
    at: datetime,
    stream: str,
    level: str,
    message: str,
) -> None:
    logger.emit(
        timestamp=round(at.timestamp() * 1e9),
        severity_number=_SEVERITIES.get(level, SeverityNumber.INFO),
        severity_text=level.upper(),
        body=message,
        attributes={"openline.deployment.id": deployment_id, "openline.log.stream": stream},
    )
