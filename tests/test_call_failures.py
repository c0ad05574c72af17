"""A call that goes wrong ends with a clear reason, keeps what it recorded, and leaves
other calls alone."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import websockets

from tests.support.calls import TextCall
from tests.support.servers import openline_server


def _call(server, call_id: str) -> dict:
    with server.client() as http:
        return http.get(f"/agents/calls/{call_id}").json()


def _metrics(body: dict) -> dict:
    return {
        e["log_metric"]["name"]: e["log_metric"]["value"]
        for e in body["transcript"]
        if "log_metric" in e
    }


@pytest.mark.parametrize(
    ("word", "message_part"),
    [
        ("crash", "the agent connection closed unexpectedly"),
        ("error", "Traceback: ValueError: bad things"),
        ("vanish", "the agent closed the connection (code 1000)"),
    ],
)
async def test_agent_failure_fails_only_its_own_call(server, agent_id, word, message_part):
    bystander = await TextCall.open(server.ws_url, agent_id, server.api_key)
    victim = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await victim.reply()
    await victim.say("hello")
    await victim.reply()
    await victim.say(word)
    error = await victim.next_event("error")
    assert message_part in error["message"]
    assert (await victim.closed())[0] == 1011

    body = _call(server, victim.call_id)
    assert body["status"] == "failed" and body["end_reason"] == "error"
    assert message_part in body["error_message"]
    assert _metrics(body)["system_call_success"] is False
    texts = [e["text"] for e in body["transcript"] if e["role"] == "user"]
    assert texts == ["hello", word]  # what was recorded before the failure is kept

    await bystander.reply()
    await bystander.say("still fine?")
    assert await bystander.reply() == "You said: still fine?"
    await bystander.hang_up()


async def test_agent_refusing_the_call(server, agent_id):
    call = await TextCall.open(server.ws_url, agent_id, server.api_key, metadata={"refuse": True})
    assert call.ack["event"] == "error"
    assert "refused the call" in call.ack["message"]
    body = _call(server, call.ack["call_id"])
    assert body["status"] == "failed" and "not today" in body["error_message"]


async def test_unreachable_agent_server(server):
    with server.client() as http:
        agent = http.post(
            "/agents", json={"name": "gone", "self_hosted_deployment_url": "http://127.0.0.1:9"}
        ).json()
    call = await TextCall.open(server.ws_url, agent["id"], server.api_key)
    assert call.ack["event"] == "error" and "unreachable" in call.ack["message"]
    assert _call(server, call.ack["call_id"])["end_reason"] == "error"


async def test_malformed_agent_messages_are_rejected_and_the_call_goes_on(server, agent_id):
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    await call.say("garbage")
    assert await call.reply() == "still here"
    await call.say("bye")
    await call.closed()
    with server.client() as http:
        stream = http.get(f"/agents/calls/{call.call_id}/stream").text
    assert stream.count('"type": "validation_error"') == 3
    assert '"type": "made_up_type"' in stream
    assert _call(server, call.call_id)["status"] == "completed"


async def test_huge_agent_payloads_are_stored_truncated(server, agent_id):
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    await call.say("huge")
    assert len(await call.reply()) == 100_000  # forwarded whole to the client
    await call.hang_up()
    await asyncio.sleep(0.2)
    body = _call(server, call.call_id)
    event = next(e["log_event"] for e in body["transcript"] if "log_event" in e)
    assert event["metadata"]["_truncated"] is True and event["metadata"]["_size"] > 200_000
    assistant = [e for e in body["transcript"] if e["role"] == "assistant"][-1]
    assert assistant["text"].endswith(f"[truncated {100_000 - 65_536} chars]")


async def test_bad_client_messages_get_error_events(server, agent_id):
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    await call.connection.send("{not json")
    assert "not valid JSON" in (await call.next_event("error"))["message"]
    await call.connection.send("[1, 2]")
    assert "JSON object" in (await call.next_event("error"))["message"]
    await call.send({"event": "teleport"})
    assert "unknown event 'teleport'" in (await call.next_event("error"))["message"]
    await call.send({"event": "user_text", "text": 5})
    assert "string field 'text'" in (await call.next_event("error"))["message"]
    await call.send({"event": "media_input", "media": {"payload": "AAAA"}})
    assert (await call.next_event("error"))["code"] == "unsupported_media"
    await call.connection.send("x" * (1_048_576 + 1))
    assert "over the" in (await call.next_event("error"))["message"]
    await call.say("after all that")
    assert await call.reply() == "You said: after all that"
    await call.hang_up()


async def test_client_hang_up_completes_the_call(server, agent_id):
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    await call.hang_up()
    for _ in range(100):
        body = _call(server, call.call_id)
        if body["status"] != "started":
            break
        await asyncio.sleep(0.05)
    assert (body["status"], body["end_reason"]) == ("completed", "client_hangup")
    assert _metrics(body)["system_call_success"] is True


@pytest.mark.parametrize(
    ("limits", "reason"),
    [({"idle_timeout_s": 0.5}, "inactivity"), ({"max_call_duration_s": 0.7}, "max_duration")],
)
async def test_idle_and_overlong_calls_are_ended(settings, agent_url, limits, reason):
    with openline_server(settings.model_copy(update=limits)) as server:
        with server.client() as http:
            agent = http.post(
                "/agents", json={"name": "a", "self_hosted_deployment_url": agent_url}
            ).json()
        call = await TextCall.open(server.ws_url, agent["id"], server.api_key)
        await call.reply()
        if reason == "max_duration":  # keep talking: only the duration cap can end it,
            # whenever it falls among these lines (a loaded machine answers them slower)
            with contextlib.suppress(websockets.ConnectionClosed):
                for _ in range(50):
                    await call.say("keep going")
                    await call.reply()
                    await asyncio.sleep(0.2)
        assert await call.closed() == (1000, f"call ended: {reason}")
        body = _call(server, call.call_id)
        assert (body["status"], body["end_reason"]) == ("completed", reason)


async def test_agent_extras_reach_the_client_and_the_record(server, agent_id):
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    await call.send({"event": "dtmf", "dtmf": "7"})
    await call.send({"event": "custom", "metadata": {"cart": 3}})
    await call.say("extras")
    assert await call.reply() == "extras sent"
    kinds = {e["event"] for e in call.events}
    assert {"dtmf", "custom", "transfer_call"} <= kinds
    transfer = next(e for e in call.events if e["event"] == "transfer_call")
    assert transfer["transfer"] == {"type": "phone", "value": "+15550002"}
    await call.say("bye")
    await call.closed()
    with server.client() as http:
        stream = http.get(f"/agents/calls/{call.call_id}/stream").text
    for expected in (
        '"button": "7"',
        '"cart": 3',
        '"language": "fr"',
        "a line from agent code",
        '"event": "received_dtmf"',
        '"type": "end_call"',
    ):
        assert expected in stream


@pytest.mark.parametrize(
    ("path", "first", "problem"),
    [
        ("agent_nope", {"event": "start"}, "no agent with id 'agent_nope'"),
        (None, {"event": "user_text", "text": "hi"}, "first message must be a valid start"),
        (None, {"event": "start", "config": {"input_format": "opus"}}, "input_format"),
    ],
)
async def test_calls_that_cannot_start(server, agent_id, path, first, problem):
    import json

    import websockets

    url = f"{server.ws_url}/agents/stream/{path or agent_id}?access_token={server.api_key}"
    async with websockets.connect(url) as connection:
        # An unknown agent is refused as soon as the socket opens: the refusal may close it
        # before the start goes out, and is still read below.
        with contextlib.suppress(websockets.ConnectionClosed):
            await connection.send(json.dumps(first))
        error = json.loads(await connection.recv())
        assert problem in error["message"]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await connection.recv()
    assert closed.value.rcvd.code == 1008


async def test_call_needs_a_valid_key(server, agent_id):
    import json

    import websockets

    url = f"{server.ws_url}/agents/stream/{agent_id}?access_token=wrong"
    async with websockets.connect(url) as connection:
        assert "invalid API key" in json.loads(await connection.recv())["message"]
