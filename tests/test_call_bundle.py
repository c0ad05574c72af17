"""``GET /agents/calls/{id}/bundle``: one zip of everything recorded of a call, each part
in the shape of its own API route."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from openline import __version__
from tests.support.calls import TextCall, ended
from tests.support.recordings import record_call
from tests.support.waiting import eventually
from tests.webhooks.helpers import hook_agent

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
PARTS = {
    "call.json",
    "tool_calls.json",
    "events.json",
    "metrics.json",
    "signals.json",
    "logs.json",
    "webhook_deliveries.json",
    "analysis.json",
    "deployment.json",
    "transcript.txt",
    "manifest.json",
}


def bundle_of(server, call_id: str) -> zipfile.ZipFile:
    reply = server.get(f"/agents/calls/{call_id}/bundle")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/zip"
    assert f'filename="{call_id}.zip"' in reply.headers["content-disposition"]
    return zipfile.ZipFile(io.BytesIO(reply.content))


def part(bundle: zipfile.ZipFile, name: str):
    return json.loads(bundle.read(name))


async def test_a_bundle_holds_the_whole_record_of_a_call(server, agent_url, receiver):
    _, agent = hook_agent(server, receiver.url, agent_url)
    call = await TextCall.open(server.ws_url, agent["id"], server.api_key)
    await call.reply()
    await call.say("tool 42")
    await call.reply()
    await call.say("logs")
    await call.reply()
    await call.hang_up()
    record = await ended(server, call.call_id)
    with server.client() as http:
        # The webhook deliveries and the summary come after the end: bundle once they are in.
        await eventually(lambda: http.get(f"/agents/calls/{call.call_id}").json()["summary"])
        record = http.get(f"/agents/calls/{call.call_id}").json()

    def delivered() -> zipfile.ZipFile | None:
        bundle = bundle_of(server, call.call_id)
        deliveries = part(bundle, "webhook_deliveries.json")
        types = {d["event_type"] for d in deliveries}
        done = all(d["status"] == "delivered" for d in deliveries)
        return bundle if done and "post_call_analysis" in types else None

    bundle = await eventually(delivered)
    assert set(bundle.namelist()) == PARTS  # a text call has no recording
    assert part(bundle, "call.json") == record
    first = next(e for e in record["transcript"] if e["role"] == "assistant")
    assert record["conversation"]["time_to_first_agent_audio_s"] == first["start_timestamp"]
    manifest = part(bundle, "manifest.json")
    assert manifest["openline_version"] == __version__ and manifest["call_id"] == call.call_id
    assert set(manifest["files"]) == PARTS
    [tool] = part(bundle, "tool_calls.json")
    assert (tool["name"], tool["arguments"], tool["result"]) == (
        "lookup_order",
        {"order_id": "42"},
        "shipped",
    )
    assert [e["event"] for e in part(bundle, "events.json")] == ["order_processed"]
    assert "orders_looked_up" in {m["name"] for m in part(bundle, "metrics.json")}
    logs = part(bundle, "logs.json")
    assert [line["level"] for line in logs] == ["debug", "info", "warning", "error", "info"]
    assert logs == server.get(f"/agents/calls/{call.call_id}/logs").json()["data"]
    deliveries = part(bundle, "webhook_deliveries.json")
    assert deliveries[0]["event_type"] == "call_started"
    assert all(d["status"] == "delivered" and d["attempts"] for d in deliveries)
    analysis = part(bundle, "analysis.json")
    assert analysis["summary"] == record["summary"] and analysis["status"] == "done"
    assert part(bundle, "deployment.json") is None  # a self-hosted agent
    text = bundle.read("transcript.txt").decode()
    assert "Order 42 has shipped." in text and "lookup_order" in text


@SQLITE
def test_a_bundle_carries_the_recording_as_stored(server, agent_id):
    from tests.cli.support import make_call

    call_id = make_call(server, agent_id, "hello")
    content = record_call(server.platform.blobs, call_id, seconds=2.0)
    bundle = bundle_of(server, call_id)
    assert bundle.read("recording.wav") == content
    assert "recording.wav" in part(bundle, "manifest.json")["files"]
    assert bundle.getinfo("recording.wav").compress_type == zipfile.ZIP_STORED


@SQLITE
async def test_no_bundle_of_an_unknown_call_or_one_in_progress(server, agent_id):
    with server.client() as http:
        missing = http.get("/agents/calls/call_nope/bundle")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        call = await TextCall.open(server.ws_url, agent_id, server.api_key)
        await call.reply()
        running = http.get(f"/agents/calls/{call.call_id}/bundle")
        assert running.status_code == 409
        assert "in progress" in running.json()["error"]["message"]
        await call.hang_up()
