"""Telemetry out: Prometheus metrics always, OTLP traces and logs when ``OTEL_*`` says so.

Nothing here is on a call's path. A call's start costs a counter and, with tracing, its
trace ids; its end is drawn into spans, log records and counts in a worker thread after
the call is over, and the SDK's batch processors send from threads of their own.
A failure in any of it is logged and never reaches a call (docs/telemetry.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from opentelemetry._logs import Logger
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from openline.domain.calls import Fact
from openline.telemetry import otlp
from openline.telemetry.logs import emit_call_lines, emit_deployment_line
from openline.telemetry.metrics import Metrics
from openline.telemetry.traces import CallSpan, SpanSink, TraceIds, delivery_span

log = logging.getLogger(__name__)

# A call's trace id and root span id, by call id (None: the call has no trace).
TraceLookup = Callable[[str], tuple[str, str] | None]


class Telemetry:
    def __init__(self) -> None:
        self.metrics = Metrics()
        self._spans: SpanSink | None = None
        self._loggers: LoggerProvider | None = None
        self._logger: Logger | None = None
        self._trace_of: TraceLookup | None = None
        # Drawing spans and reading a delivery's trace: one thread, in the order they came.
        self._work = ThreadPoolExecutor(1, thread_name_prefix="openline-telemetry")

    @classmethod
    def from_environ(cls) -> Telemetry:
        """As this process's ``OTEL_*`` variables say (the SDK reads the rest of them);
        raises ``otlp.TelemetryConfigError`` for settings openline cannot follow."""
        environ = os.environ
        chosen = {export.signal: export.protocol for export in otlp.exports(environ)}
        telemetry = cls()
        dropped = telemetry.metrics.dropped
        resource = otlp.resource(environ)
        if otlp.TRACES in chosen:
            queue = otlp.queue_size(otlp.TRACES, environ)
            admission = otlp.Admission(otlp.TRACES, queue, dropped)
            exporter = otlp.span_exporter(chosen[otlp.TRACES], admission)
            batches = BatchSpanProcessor(exporter, max_queue_size=queue)
            processor = otlp.AdmittingSpans(batches, admission)
            telemetry._spans = SpanSink(processor, resource, otlp.sampler(environ))
        if otlp.LOGS in chosen:
            queue = otlp.queue_size(otlp.LOGS, environ)
            admission = otlp.Admission(otlp.LOGS, queue, dropped)
            exporter_logs = otlp.log_exporter(chosen[otlp.LOGS], admission)
            log_batches = BatchLogRecordProcessor(exporter_logs, max_queue_size=queue)
            loggers = LoggerProvider(resource=resource)
            loggers.add_log_record_processor(otlp.AdmittingLogs(log_batches, admission))
            telemetry._loggers, telemetry._logger = loggers, loggers.get_logger("openline")
        if chosen:
            log.info("telemetry: exporting %s over OTLP", ", ".join(sorted(chosen)))
        return telemetry

    def find_traces_with(self, lookup: TraceLookup) -> None:
        """How a webhook delivery finds the trace of its call."""
        self._trace_of = lookup

    def call_started(
        self, call: Mapping[str, Any], exported_metrics: Iterable[str] = ()
    ) -> CallWatch:
        self.metrics.call_started(call["agent_id"])
        span = None if self._spans is None else CallSpan(self._spans, call)
        if span is not None and not span.sampled:  # nothing of it would be exported
            span = None
        return CallWatch(self, call["agent_id"], span, tuple(exported_metrics))

    def delivery_attempted(
        self,
        call_id: str,
        event: str,
        url: str,
        started_ns: int,
        ended_ns: int,
        outcome: str,
        status_code: int | None,
        error: str | None,
        attempt: int,
    ) -> None:
        self.metrics.delivery(outcome)
        sink, lookup = self._spans, self._trace_of
        if sink is None or lookup is None or not call_id.startswith("call_"):
            return

        def draw() -> None:
            found = lookup(call_id)
            if found is not None:
                ids = TraceIds(*found)
                delivery_span(
                    sink, ids, event, url, started_ns, ended_ns, status_code, error, attempt
                )

        self._run(draw)

    def deployment_line(
        self, deployment_id: str, at: datetime, stream: str, level: str, message: str
    ) -> None:
        if self._logger is not None:
            emit_deployment_line(self._logger, deployment_id, at, stream, level, message)

    def _run(self, work: Callable[[], None]) -> None:
        def safely() -> None:
            try:
                work()
            except Exception:
                log.exception("telemetry: could not record")

        try:
            self._work.submit(safely)
        except RuntimeError:  # shut down: the process is stopping
            pass

    def close(self) -> None:
        """Draw what is left, then send what the batch processors hold."""
        self._work.shutdown(wait=True)
        if self._spans is not None:
            self._spans.processor.shutdown()
        if self._loggers is not None:
            self._loggers.shutdown()


class CallWatch:
    """One call, from its start to its end, as telemetry sees it."""

    def __init__(
        self,
        telemetry: Telemetry,
        agent_id: str,
        span: CallSpan | None,
        exported_metrics: tuple[str, ...],
    ) -> None:
        self._telemetry = telemetry
        self._span = span
        self._exported = exported_metrics
        self._call_agent = agent_id

    @property
    def trace_ids(self) -> TraceIds | None:
        return None if self._span is None else self._span.ids

    def ended(self, call: Mapping[str, Any], facts: Iterable[Fact]) -> None:
        """Count the call and draw its trace, in telemetry's thread (a copy of the facts
        is taken now: the ledger's list is the call's)."""
        telemetry, span, facts = self._telemetry, self._span, list(facts)

        def record() -> None:
            telemetry.metrics.call_ended(call, facts, self._exported)
            span_of = None if span is None else span.finish(call, facts)
            if telemetry._logger is not None:
                emit_call_lines(telemetry._logger, call, facts, span_of)

        telemetry._run(record)

    def abandoned(self) -> None:
        """The call never started (its row could not be stored): nothing to count or draw."""
        self._telemetry.metrics.call_abandoned(self._call_agent)
