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
