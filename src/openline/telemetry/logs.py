"""Log lines as OTLP log records: a call's lines with the call's trace context (the turn
they were logged in, else the call), a deployment's other lines with its ids."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from opentelemetry import trace
from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.trace import Span

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
    call_id: str,
    facts: Iterable[Fact],
    span_of: Callable[[Fact], Span],
    at_ns: Callable[[float], int],
) -> None:
    """``span_of``: the span a fact of the call belongs to; ``at_ns``: a moment of the call
    in epoch nanoseconds."""
    for line in (fact for fact in facts if type(fact) is LogRecord):
        attributes = {"openline.call.id": call_id}
        if line.logger:
            attributes["code.namespace"] = line.logger
        if line.exc_text:
            attributes["exception.stacktrace"] = line.exc_text
        logger.emit(
            timestamp=at_ns(line.timestamp),
            context=trace.set_span_in_context(span_of(line)),
            severity_number=_SEVERITIES.get(line.level, SeverityNumber.INFO),
            severity_text=line.level.upper(),
            body=line.message,
            attributes=attributes,
        )


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
