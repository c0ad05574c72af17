"""`openline calls get` shows the trace id of a call whose server exports traces."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.support import make_call
from tests.support.otlp import http_receiver
from tests.support.servers import RunningServer, openline_server


@pytest.fixture
def server(settings, monkeypatch) -> Iterator[RunningServer]:
    """Here, the server `cli` and `agent_id` use exports its traces to a loopback receiver
    (the OTEL_* variables are read when the platform opens, so they are set first)."""
    with http_receiver() as receiver:
        receiver.send_here(monkeypatch)
        with openline_server(settings) as running:
            yield running


def test_calls_get_shows_the_trace_id(cli, server, agent_id):
    call_id = make_call(server, agent_id, "bye")
    with server.client() as http:
        trace_id = http.get(f"/agents/calls/{call_id}").json()["trace_id"]
    assert trace_id and len(trace_id) == 32

    view = cli("calls", "get", call_id)
    assert view.exit_code == 0
    [row] = [line for line in view.stdout.splitlines() if line.startswith("trace id")]
    assert row.split() == ["trace", "id", trace_id]
