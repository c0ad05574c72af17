"""Telemetry tests: openline servers exporting to a real OTLP receiver on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.otlp import OtlpReceiver, grpc_receiver, http_receiver
from tests.support.servers import RunningServer, openline_server


@pytest.fixture
def otlp(monkeypatch) -> Iterator[OtlpReceiver]:
    """An OTLP/HTTP receiver, and the OTEL_* variables that send the server's telemetry
    to it (read when the platform opens)."""
    with http_receiver() as receiver:
        receiver.send_here(monkeypatch)
        yield receiver


@pytest.fixture
def otlp_grpc(monkeypatch) -> Iterator[OtlpReceiver]:
    with grpc_receiver() as receiver:
        receiver.send_here(monkeypatch)
        yield receiver


@pytest.fixture
def traced(otlp, settings) -> Iterator[RunningServer]:
    """A server exporting traces and logs to ``otlp``."""
    with openline_server(settings) as running:
        yield running
