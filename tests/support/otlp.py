"""A real OTLP receiver on loopback, over HTTP/protobuf or gRPC: it decodes what
openline exports with opentelemetry-proto, as a collector would, and keeps it."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.support.servers import free_port


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[tuple[str, int, dict[str, Any]]]
    status_code: int  # 0 unset, 1 ok, 2 error
    resource: dict[str, Any]

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


@dataclass
class LogLine:
    body: Any
    severity: str
    trace_id: str
    span_id: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass
class Received:
    spans: list[Span] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)
    requests: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    def add_traces(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        with self.lock:
            self.requests += 1
            for resource_spans in request.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope in resource_spans.scope_spans:
                    self.spans.extend(_span(span, resource) for span in scope.spans)

    def add_logs(self, request: logs_service_pb2.ExportLogsServiceRequest) -> None:
        with self.lock:
            self.requests += 1
            for resource_logs in request.resource_logs:
                for scope in resource_logs.scope_logs:
                    self.logs.extend(_log(record) for record in scope.log_records)

    def trace(self, trace_id: str) -> list[Span]:
        with self.lock:
            return [span for span in self.spans if span.trace_id == trace_id]

    def wait_for(
        self, found: Callable[[Received], Any], timeout: float = 20.0, what: str = ""
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                result = found(self)
            if result:
                return result
            time.sleep(0.05)
        raise AssertionError(f"the OTLP receiver never got {what or found}")


def whole_trace(received: Received, trace_id: str) -> list[Span]:
    """The call's spans, once its root has arrived (the root ends last)."""
    return received.wait_for(
        lambda r: any(s.name == "call" for s in r.trace(trace_id)) and r.trace(trace_id),
        what=f"the root span of trace {trace_id}",
    )


def children(spans: list[Span], parent: Span) -> list[Span]:
    return sorted((s for s in spans if s.parent_id == parent.span_id), key=lambda s: s.start_ns)


def offset(span: Span, root: Span) -> float:
    return (span.start_ns - root.start_ns) / 1e9


class _HttpHandler(BaseHTTPRequestHandler):
    received: Received

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/v1/traces":
            self.received.add_traces(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
            reply = trace_service_pb2.ExportTraceServiceResponse()
        elif self.path == "/v1/logs":
            self.received.add_logs(logs_service_pb2.ExportLogsServiceRequest.FromString(body))
            reply = logs_service_pb2.ExportLogsServiceResponse()  # type: ignore[assignment]
        else:
            self.send_error(404)
            return
        payload = reply.SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:  # quiet
        pass


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, received: Received) -> None:
        self.received = received

    def Export(self, request, context):  # the generated service names it so
        self.received.add_traces(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class _Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, received: Received) -> None:
        self.received = received

    def Export(self, request, context):
        self.received.add_logs(request)
        return logs_service_pb2.ExportLogsServiceResponse()


@dataclass
class OtlpReceiver:
    endpoint: str  # what OTEL_EXPORTER_OTLP_ENDPOINT says
    protocol: str
    received: Received
    stop: Callable[[], None]  # takes the receiver down (a collector gone); may be repeated

    def send_here(self, monkeypatch) -> None:
        """Set the variables that send this process's telemetry here (read when a
        platform opens)."""
        for name, setting in self.environ().items():
            monkeypatch.setenv(name, setting)

    def environ(self) -> dict[str, str]:
        """The variables that send a process's telemetry here, quickly."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": self.protocol,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_BLRP_SCHEDULE_DELAY": "100",
            "OTEL_SERVICE_NAME": "openline-under-test",
        }


@contextlib.contextmanager
def http_receiver() -> Iterator[OtlpReceiver]:
    received = Received()
    handler = type("Handler", (_HttpHandler,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    stopped = threading.Event()

    def stop() -> None:
        if not stopped.is_set():
            stopped.set()
            server.shutdown()
            server.server_close()  # connections are refused from now on

    try:
        yield OtlpReceiver(url, "http/protobuf", received, stop)
    finally:
        stop()


@contextlib.contextmanager
def grpc_receiver() -> Iterator[OtlpReceiver]:
    received = Received()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(received), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Logs(received), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield OtlpReceiver(f"http://127.0.0.1:{port}", "grpc", received, lambda: server.stop(None))
    finally:
        server.stop(grace=None)


def _span(span: Any, resource: dict[str, Any]) -> Span:
    return Span(
        name=span.name,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex(),
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        attributes=_attributes(span.attributes),
        events=[(e.name, e.time_unix_nano, _attributes(e.attributes)) for e in span.events],
        status_code=span.status.code,
        resource=resource,
    )


def _log(record: Any) -> LogLine:
    return LogLine(
        body=_value(record.body),
        severity=record.severity_text,
        trace_id=record.trace_id.hex(),
        span_id=record.span_id.hex(),
        time_ns=record.time_unix_nano,
        attributes=_attributes(record.attributes),
    )


def _attributes(pairs: Iterator[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)
