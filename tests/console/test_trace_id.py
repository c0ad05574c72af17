"""The call page shows the OpenTelemetry trace id of a call whose server exports traces,
to find the call in the trace backend (no browser: the page as served)."""

from __future__ import annotations

import pytest

from tests.console.conftest import signed_in_client
from tests.console.support import text_call, wait_for
from tests.support.otlp import http_receiver
from tests.support.servers import RunningServer, openline_server

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


def call_page(server: RunningServer, agent_url: str) -> tuple[str | None, str, str]:
    """A short finished call's trace id (from the API), its page, and its page's live header."""
    agent_id = server.create_agent("Scripted", self_hosted_deployment_url=agent_url)
    with text_call(server.ws_url, agent_id, server.api_key) as call:
        call.next("agent_text")  # the greeting; then the caller hangs up
    calls = server.platform.calls
    wait_for(
        lambda: (calls.get(call.call_id) or {}).get("status") not in (None, "started"),
        what="the call to end",
    )
    with server.client() as http:
        trace_id = http.get(f"/agents/calls/{call.call_id}").json()["trace_id"]
    with signed_in_client(server) as (client, _):
        page = client.get(f"/console/calls/{call.call_id}").text
        live = client.get(f"/console/calls/{call.call_id}/live?since_rev=-1&final=1").json()
    return trace_id, page, live["header"]


@SQLITE
def test_a_traced_call_shows_its_trace_id(settings, agent_url, monkeypatch):
    with http_receiver() as receiver:
        receiver.send_here(monkeypatch)
        with openline_server(settings) as server:
            trace_id, page, header = call_page(server, agent_url)
    assert trace_id and len(trace_id) == 32
    shown = f'<dt>Trace</dt><dd><code data-trace-id="{trace_id}">{trace_id}</code></dd>'
    assert shown in page
    assert shown in header  # a live call's facts, redrawn in place, keep it


@SQLITE
def test_an_untraced_call_shows_no_trace(settings, agent_url, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    with openline_server(settings) as server:
        trace_id, page, header = call_page(server, agent_url)
    assert trace_id is None
    assert "<dt>Trace</dt>" not in page and "data-trace-id" not in page + header
