"""A client frame nested too deep to decode safely gets an error event; the call goes on,
and frames nested as deep as the limit are handled as usual."""

from __future__ import annotations

import json

import pytest

from openline.protocol.bounded_json import MAX_DEPTH
from tests.support.calls import TextCall

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


def _nested(depth: int) -> object:
    value: object = "leaf ]]]] in a string does not nest"
    for level in range(depth - 1):
        value = [value] if level % 2 else {"inner": value}
    return value


@SQLITE
async def test_a_frame_nested_too_deep_gets_an_error_and_the_call_goes_on(server, agent_id):
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    await call.connection.send('{"event": "custom", "metadata": ' + "[" * 3000 + "]" * 3000 + "}")
    error = await call.next_event("error")
    assert error["message"] == f"message is nested deeper than {MAX_DEPTH} levels"
    await call.say("after all that")
    assert await call.reply() == "You said: after all that"
    # The frame itself is an object, so its metadata may nest one level less than the limit.
    deepest = json.dumps({"event": "custom", "metadata": _nested(MAX_DEPTH - 1)})
    await call.connection.send(deepest)
    await call.say("still here")
    assert await call.reply() == "You said: still here"
    assert [event for event in call.events if event["event"] == "error"] == [error]
    await call.hang_up()
