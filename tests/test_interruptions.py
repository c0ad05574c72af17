"""A user turn that starts while the agent is mid-response cancels it; the recorded
assistant turn holds exactly what was sent, and the cancelled response's late
response_end does not close the next answer."""

from __future__ import annotations

import asyncio

from tests.support.calls import TextCall
from tests.support.servers import HERE, agent_process


async def test_barge_in_cancels_the_response_and_records_what_was_sent(server):
    with agent_process(HERE / "storyteller_agent.py") as url:
        with server.client() as http:
            agent = http.post(
                "/agents", json={"name": "stories", "self_hosted_deployment_url": url}
            ).json()
        call = await TextCall.open(server.ws_url, agent["id"], server.api_key)
        assert await call.reply() == "Ask me for a story."
        await call.say("tell me a story")
        heard = [await call.reply(), await call.reply()]
        await call.say("stop, what time is it?")
        after = []
        while (text := await call.reply()).startswith("Sentence"):
            after.append(text)  # at most what was already on the wire
        assert text == "You said: stop, what time is it?"
        assert len(after) <= 1
        await asyncio.sleep(1.6)  # the untouched story would have gone on meanwhile
        await call.hang_up()
        await asyncio.sleep(0.2)
        with server.client() as http:
            body = http.get(f"/agents/calls/{call.call_id}").json()
    assistant = [t for t in body["transcript"] if t["role"] == "assistant"]
    story = assistant[1]
    sent = heard + after
    assert story["text"] == "".join(sent)
    assert [c["text"] for c in story["text_chunks"]] == sent
    assert assistant[0]["end_reason"] == "tts_completed"
    assert assistant[2]["text"] == "You said: stop, what time is it?"
    assert assistant[2]["end_reason"] == "tts_completed"


async def test_an_answer_to_a_turn_the_caller_moved_on_from_is_not_delivered(server, agent_id):
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()  # the greeting
    await call.say("late 0.5")  # answered half a second later, to this turn
    await call.say("are you there")  # the caller moves on first
    assert await call.reply() == "You said: are you there"
    await asyncio.sleep(1.0)  # the late answer has come and gone meanwhile
    await call.hang_up()
    await asyncio.sleep(0.2)
    texts = [event.get("text") for event in call.events if event.get("event") == "agent_text"]
    assert "a late answer" not in texts
    with server.client() as http:
        body = http.get(f"/agents/calls/{call.call_id}").json()
        stream = http.get(f"/agents/calls/{call.call_id}/stream").text
    assert all(turn["text"] != "a late answer" for turn in body["transcript"])
    assert '"type": "dropped_answer"' in stream and "a late answer" in stream
