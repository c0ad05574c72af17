"""A bare-protocol agent that sends exactly the frames a test scripts, in that order.

Each line the caller says is either JSON — a list of frames to send, where
``{"sleep": s}`` pauses, ``{"close": code}`` closes the socket, ``{"raw": text}`` sends
text as it is, and ``"$trigger"`` in a
frame's ``responding_to`` stands for the ``event_id`` of the ``user_state idle`` that
ended the caller's turn — or plain text (a spoken line's transcript), answered with the
next script of the call's ``metadata.answers`` while there is one, else ``You said: …``
without a ``response_end`` (as cartesia-line 0.2.18 and older answer). The greeting is
scripted the same way, in the call's ``metadata.greeting``. Run: ``PORT=8123 python wire_agent.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


async def agent_ws(websocket: WebSocket) -> None:
    await websocket.accept()
    start = json.loads(await websocket.receive_text())
    metadata = start.get("metadata") or {}
    greeting = metadata.get("greeting", [])
    answers = list(metadata.get("answers", []))
    heard: list[str] = []
    try:
        if not await play(websocket, greeting, trigger=None):
            return
        while True:
            message = json.loads(await websocket.receive_text())
            if message["type"] == "message":
                heard.append(message["content"])
            elif (
                message["type"] == "user_state"
                and message["value"] == "idle"
                and heard
                and not await play(websocket, script_for(heard.pop(), answers), message["event_id"])
            ):
                return
    except WebSocketDisconnect:
        return


def script_for(text: str, answers: list[list[Any]]) -> list[Any]:
    try:
        script = json.loads(text)
    except ValueError:
        script = None
    if isinstance(script, list):
        return script
    if answers:
        return answers.pop(0)
    return [{"type": "message", "content": f"You said: {text}", "responding_to": "$trigger"}]


async def play(websocket: WebSocket, frames: list[Any], trigger: str | None) -> bool:
    """Send ``frames``; False once the socket is closed."""
    for frame in frames:
        if "sleep" in frame:
            await asyncio.sleep(frame["sleep"])
        elif "close" in frame:
            await websocket.close(frame["close"])
            return False
        elif "raw" in frame:
            await websocket.send_text(frame["raw"])
        else:
            if frame.get("responding_to") == "$trigger":
                frame = frame | {"responding_to": trigger}
            await websocket.send_json(frame)
    return True


app = Starlette(routes=[WebSocketRoute("/ws", agent_ws)])

if __name__ == "__main__":
    uvicorn.run(
        app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")), log_level="warning"
    )
