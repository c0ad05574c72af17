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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from openline import __version__

log = logging.getLogger(__name__)

PROTOCOLS = ("http/protobuf", "grpc")
TRACES, LOGS = "traces", "logs"
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


def span_exporter(protocol: str, on_dropped: Callable[[str, int], None]) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    return _CountedSpans(OTLPSpanExporter(), on_dropped)


def log_exporter(protocol: str, on_dropped: Callable[[str, int], None]) -> LogRecordExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import (  # type: ignore[assignment]
            OTLPLogExporter,
        )
    return _CountedLogs(OTLPLogExporter(), on_dropped)


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
    losses: _Losses, export: Callable[[], Enum], batch: Sequence[Any], success: Enum
) -> bool:
    try:
        result = export()
    except Exception as error:  # noqa: BLE001 - an exporter's bug must not kill its thread
        losses.lost(len(batch), repr(error))
        return False
    if result is not success:
        losses.lost(len(batch), "export failed")
        return False
    return True


class _CountedSpans(SpanExporter):
    def __init__(self, inner: SpanExporter, on_dropped: Callable[[str, int], None]) -> None:
        self._inner = inner
        self._losses = _Losses(TRACES, on_dropped)

    def export(self, spans):
        ok = _export_or_count(
            self._losses, lambda: self._inner.export(spans), spans, SpanExportResult.SUCCESS
        )
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


class _CountedLogs(LogRecordExporter):
    def __init__(self, inner: LogRecordExporter, on_dropped: Callable[[str, int], None]) -> None:
        self._inner = inner
        self._losses = _Losses(LOGS, on_dropped)

    def export(self, batch):
        ok = _export_or_count(
            self._losses, lambda: self._inner.export(batch), batch, LogRecordExportResult.SUCCESS
        )
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)
