"""OTLP export of traces and logs, configured by the standard ``OTEL_*`` variables.

A signal is exported when an endpoint is set for it (``OTEL_EXPORTER_OTLP_ENDPOINT``, or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``…_LOGS_ENDPOINT``), unless
``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER`` / ``OTEL_LOGS_EXPORTER`` is ``none``.
``OTEL_EXPORTER_OTLP_PROTOCOL`` (or the per-signal one) picks ``http/protobuf`` (the
default) or ``grpc``. Headers, certificates, compression, timeouts and the batch
processors' delays and queue sizes are read by the OpenTelemetry SDK itself from their own
standard variables.

Export never touches a call: the SDK's batch processors queue in memory and a thread of
theirs sends. A batch the collector did not take is dropped, counted (``dropped``) and
logged, at most once a minute, never raised.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler, TraceIdRatioBased

from openline import __version__

log = logging.getLogger(__name__)

PROTOCOLS = ("http/protobuf", "grpc")
TRACES, LOGS = "traces", "logs"
# The batch processors' queue when OTEL_BSP_/OTEL_BLRP_MAX_QUEUE_SIZE is not set: a call
# is drawn all at once when it ends (a 10-minute call is a few hundred spans), and the
# SDK's default of 2,048 would turn spans away when a hundred calls end together.
QUEUE_SIZE = 16_384
_QUEUE_VARIABLES = {TRACES: "OTEL_BSP_MAX_QUEUE_SIZE", LOGS: "OTEL_BLRP_MAX_QUEUE_SIZE"}
_WARN_EVERY_S = 60.0


class TelemetryConfigError(ValueError):
    """An ``OTEL_*`` variable openline cannot follow (said at start-up, not mid-call)."""


@dataclass(frozen=True)
class SignalExport:
    signal: str  # traces | logs
    protocol: str


def exports(environ: Mapping[str, str]) -> list[SignalExport]:
    """The signals the environment asks to export, each with its protocol."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    chosen = []
    for signal in (TRACES, LOGS):
        upper = signal.upper()
        endpoint = environ.get(f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        exporter = environ.get(f"OTEL_{upper}_EXPORTER", "otlp").strip().lower()
        if not endpoint or exporter == "none":
            continue
        if exporter != "otlp":
            raise TelemetryConfigError(
                f"OTEL_{upper}_EXPORTER={exporter!r}: openline exports only 'otlp' (or 'none')"
            )
        protocol = (
            environ.get(f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL")
            or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "http/protobuf"
        ).strip()
        if protocol not in PROTOCOLS:
            raise TelemetryConfigError(
                f"OTLP protocol {protocol!r} for {signal}: use one of {', '.join(PROTOCOLS)}"
            )
        chosen.append(SignalExport(signal, protocol))
    return chosen


def check(environ: Mapping[str, str]) -> None:
    """Raise ``TelemetryConfigError`` for any ``OTEL_*`` setting openline cannot follow
    (before start-up, so the command can say so plainly)."""
    exports(environ)
    sampler(environ)
    for signal in (TRACES, LOGS):
        queue_size(signal, environ)


def resource(environ: Mapping[str, str]) -> Resource:
    """``service.name`` from ``OTEL_SERVICE_NAME`` (default ``openline``), the pairs of
    ``OTEL_RESOURCE_ATTRIBUTES``, and openline's version."""
    attributes: dict[str, Any] = {"service.version": __version__}
    for pair in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip():
            attributes[key.strip()] = value.strip()
    attributes["service.name"] = (
        environ.get("OTEL_SERVICE_NAME") or attributes.get("service.name") or "openline"
    )
    return Resource(attributes)


_SAMPLERS = {
    "always_on": lambda _: ALWAYS_ON,
    "always_off": lambda _: ALWAYS_OFF,
    "traceidratio": TraceIdRatioBased,
}


def sampler(environ: Mapping[str, str]) -> Sampler:
    """``OTEL_TRACES_SAMPLER`` (and its ``_ARG``) for calls. A call's trace is a root, so
    the ``parentbased_`` samplers decide as the sampler they wrap."""
    name = environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    make = _SAMPLERS.get(name.removeprefix("parentbased_"))
    if make is None:
        known = ", ".join(f"{prefix}{n}" for prefix in ("", "parentbased_") for n in _SAMPLERS)
        raise TelemetryConfigError(f"OTEL_TRACES_SAMPLER={name!r}: use one of {known}")
    try:
        ratio = float(environ.get("OTEL_TRACES_SAMPLER_ARG") or 1.0)
    except ValueError:
        raise TelemetryConfigError("OTEL_TRACES_SAMPLER_ARG must be a number") from None
    if not 0.0 <= ratio <= 1.0:
        raise TelemetryConfigError("OTEL_TRACES_SAMPLER_ARG must be between 0 and 1")
    return make(ratio)


def queue_size(signal: str, environ: Mapping[str, str]) -> int:
    variable = _QUEUE_VARIABLES[signal]
    try:
        return int(environ.get(variable) or QUEUE_SIZE)
    except ValueError:
        raise TelemetryConfigError(f"{variable} must be a whole number") from None


class Admission:
    """How many items of one signal are in the SDK's batch queue or being exported. An
    item that would not fit is turned away and counted here, not dropped silently by the
    SDK (whose queue has the same size)."""

    def __init__(self, signal: str, capacity: int, on_dropped: Callable[[str, int], None]):
        self.losses = _Losses(signal, on_dropped)
        self._capacity = capacity
        self._held = 0
        self._lock = threading.Lock()

    def admit(self) -> bool:
        with self._lock:
            if self._held >= self._capacity:
                admitted = False
            else:
                self._held += 1
                admitted = True
        if not admitted:
            self.losses.lost(1, "the export queue is full")
        return admitted

    def release(self, count: int) -> None:
        with self._lock:
            self._held = max(0, self._held - count)


class AdmittingSpans(SpanProcessor):
    """The batch processor, behind the admission count."""

    def __init__(self, inner: SpanProcessor, admission: Admission) -> None:
        self._inner = inner
        self._admission = admission

    def on_start(self, span, parent_context=None):
        self._inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self._admission.admit():
            self._inner.on_end(span)

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


class AdmittingLogs(LogRecordProcessor):
    def __init__(self, inner: LogRecordProcessor, admission: Admission) -> None:
        self._inner = inner
        self._admission = admission

    def on_emit(self, log_record):
        if self._admission.admit():
            self._inner.on_emit(log_record)

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


def span_exporter(protocol: str, admission: Admission) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    return _CountedSpans(OTLPSpanExporter(), admission)


def log_exporter(protocol: str, admission: Admission) -> LogRecordExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import (  # type: ignore[assignment]
            OTLPLogExporter,
        )
    return _CountedLogs(OTLPLogExporter(), admission)


class _Losses:
    """Counts what one signal's exporter failed to deliver, and says so in the log."""

    def __init__(self, signal: str, on_dropped: Callable[[str, int], None]) -> None:
        self._signal = signal
        self._on_dropped = on_dropped
        self._warned_at = -_WARN_EVERY_S
        self._since_warning = 0

    def lost(self, count: int, why: str) -> None:
        self._on_dropped(self._signal, count)
        self._since_warning += count
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:
            log.warning(
                "telemetry: dropped %d %s the OTLP collector did not take (%s)",
                self._since_warning,
                "spans" if self._signal == TRACES else "log records",
                why,
            )
            self._warned_at, self._since_warning = now, 0


def _export_or_count(
    admission: Admission, export: Callable[[], Enum], batch: Sequence[Any], success: Enum
) -> bool:
    try:
        result = export()
    except Exception as error:  # noqa: BLE001 - an exporter's bug must not kill its thread
        result, why = None, repr(error)
    else:
        why = "export failed"
    finally:
        admission.release(len(batch))  # out of the queue, sent or not
    if result is not success:
        admission.losses.lost(len(batch), why)
        return False
    return True


class _CountedSpans(SpanExporter):
    def __init__(self, inner: SpanExporter, admission: Admission) -> None:
        self._inner = inner
        self._admission = admission

    def export(self, spans):
        ok = _export_or_count(
            self._admission, lambda: self._inner.export(spans), spans, SpanExportResult.SUCCESS
        )
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


class _CountedLogs(LogRecordExporter):
    def __init__(self, inner: LogRecordExporter, admission: Admission) -> None:
        self._inner = inner
        self._admission = admission

    def export(self, batch):
        ok = _export_or_count(
            self._admission,
            lambda: self._inner.export(batch),
            batch,
            LogRecordExportResult.SUCCESS,
        )
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)
