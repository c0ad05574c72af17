"""A Line-protocol agent server for tests, written against the bare protocol (no SDK).

What it does is chosen by the user's words, so a test can make it greet, answer, call
a tool, log events and metrics, misbehave, crash or hang up. Run: ``PORT=8123 python
scripted_agent.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


async def status(_: Request) -> JSONResponse:
    return JSONResponse(
        {"status": "ok", "timestamp": datetime.now(UTC).isoformat(), "service": "scripted-agent"}
    )


async def chats(request: Request) -> JSONResponse:
    body = await request.json()
    if (body.get("metadata") or {}).get("refuse"):
        return JSONResponse(
            {"error": "not today"},
            status_code=403,
            headers={"X-Cartesia-Error-Source": "agent-code"},
        )
    return JSONResponse({"websocket_url": "/ws", "cartesia_version": "2026-04-03", "metadata": {}})


async def agent_ws(websocket: WebSocket) -> None:
    await websocket.accept()
    start = json.loads(await websocket.receive_text())
    assert start["type"] == "start", start
    send = websocket.send_json
    await asyncio.sleep((start.get("metadata") or {}).get("greet_after", 0))  # a slow start
    await send({"type": "message", "content": f"Hello from {start['agent']['id']}"})
    await send({"type": "response_end"})
    heard: list[str] = []
    try:
        while True:
            message = json.loads(await websocket.receive_text())
            if message["type"] == "message":
                heard.append(message["content"])
            elif message["type"] == "user_state" and message["value"] == "idle" and heard:
                text = heard.pop()
                if await respond(websocket, text, message["event_id"]) == "hangup":
                    return
            elif message["type"] in ("dtmf", "custom"):
                await send(
                    {
                        "type": "log_event",
                        "event": "received_" + message["type"],
                        "metadata": message,
                    }
                )
    except WebSocketDisconnect:
        return


async def respond(websocket: WebSocket, text: str, event_id: str) -> str | None:
    send = websocket.send_json
    word, _, rest = text.partition(" ")
    if word == "tool":
        await send(
            {
                "type": "tool_call",
                "name": "lookup_order",
                "arguments": {"order_id": rest},
                "result": None,
                "id": None,
            }
        )
        await send(
            {
                "type": "log_event",
                "event": "order_processed",
                "metadata": {
                    "level": "info",
                    "message": f"Processed order {rest}",
                    "metadata": {"status": "shipped", "order_id": rest},
                },
            }
        )
        await send(
            {
                "type": "tool_call",
                "name": "lookup_order",
                "arguments": {"order_id": rest},
                "result": "shipped",
                "id": None,
            }
        )
        await send({"type": "log_metric", "name": "orders_looked_up", "value": 1})
        await send({"type": "message", "content": f"Order {rest} has shipped."})
    elif word == "slowtool":  # its result reaches the live tail in a later copy than the call
        call = {"type": "tool_call", "name": "lookup_order", "arguments": {"order_id": rest}}
        await send(call | {"result": None, "id": "slow-1"})
        await asyncio.sleep(0.5)
        await send(call | {"result": "shipped", "id": "slow-1"})
        await send({"type": "message", "content": f"Order {rest} has shipped."})
    elif word == "score":  # a numeric metric and an event, for the analytics
        await send({"type": "log_metric", "name": "score", "value": float(rest)})
        await send({"type": "log_event", "event": "scored", "metadata": {"level": "info"}})
        await send({"type": "message", "content": f"scored {rest}"})
    elif word == "event":
        await send({"type": "log_event", "event": "bare_event", "metadata": {"key": "value"}})
        await send({"type": "log_metric", "name": "metric_name", "value": "metric_value"})
        await send({"type": "message", "content": "logged"})
    elif word == "slow":
        for index in range(int(rest or 3)):
            await send({"type": "message", "content": f"part {index} "})
            await asyncio.sleep(0.05)
    elif word == "late":  # answers after the caller has moved on (kept from being collected)
        LATE.add(asyncio.create_task(answer_late(websocket, event_id, float(rest or 0.5))))
        return None
    elif word == "bye":
        await send({"type": "message", "content": "Goodbye!"})
        await send({"type": "end_call", "reason": "agent_ended"})
        await websocket.close()
        return "hangup"
    elif word == "crash":
        raise RuntimeError("the agent code crashed")
    elif word == "error":
        await send({"type": "error", "content": "Traceback: ValueError: bad things"})
        await websocket.close(1011)
        return "hangup"
    elif word == "vanish":
        await websocket.close(1000)
        return "hangup"
    elif word == "garbage":
        await websocket.send_text("this is not json")
        await websocket.send_text(json.dumps(["a", "list"]))
        await send({"type": "log_metric"})  # missing name
        await send({"type": "made_up_type", "x": 1})
        await send({"type": "message", "content": "still here"})
    elif word == "huge":
        await send({"type": "log_event", "event": "huge", "metadata": {"blob": "x" * 200_000}})
        await send({"type": "message", "content": "y" * 100_000})
    elif word == "logs":
        for n, level in enumerate(["debug", "info", "warning", "error", "info"] * int(rest or 1)):
            await send(
                {
                    "type": "log_record",
                    "level": level,
                    "logger": "agent.code",
                    "message": f"line {n} at {level} 100%_done",
                    "timestamp": datetime.now().timestamp(),
                    "exc_text": "Traceback: boom" if level == "error" else None,
                }
            )
        await send({"type": "message", "content": "logged lines"})
    elif word == "extras":
        await send({"type": "dtmf", "button": "5"})
        await send({"type": "custom", "metadata": {"hello": "client"}})
        await send({"type": "config", "tts": {"voice_id": "v1"}, "language": "fr"})
        await send(
            {"type": "transfer", "transfer_destination": {"type": "phone", "value": "+15550002"}}
        )
        await send(
            {
                "type": "log_record",
                "level": "warning",
                "logger": "agent.main",
                "message": "a line from agent code",
                "timestamp": datetime.now().timestamp(),
                "exc_text": None,
            }
        )
        await send({"type": "message", "content": "extras sent"})
    else:
        await send({"type": "message", "content": f"You said: {text}", "responding_to": event_id})
    await send({"type": "response_end", "responding_to": event_id})
    return None


LATE: set[asyncio.Task] = set()


async def answer_late(websocket: WebSocket, event_id: str, after_s: float) -> None:
    await asyncio.sleep(after_s)
    await websocket.send_json(
        {"type": "message", "content": "a late answer", "responding_to": event_id}
    )
    await websocket.send_json({"type": "response_end", "responding_to": event_id})


app = Starlette(
    routes=[
        Route("/status", status),
        Route("/chats", chats, methods=["POST"]),
        WebSocketRoute("/ws", agent_ws),
    ]
)

if __name__ == "__main__":
    uvicorn.run(
        app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")), log_level="warning"
    )
