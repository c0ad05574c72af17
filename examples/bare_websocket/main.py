"""A bare-websocket agent: the agent protocol by hand, no SDK.

Only `websockets` and the standard library. It answers `GET /status`, accepts one
websocket per call on `/ws`, greets on `start`, answers each user turn, and sends
custom events and metrics as raw JSON:

    {"type": "log_event", "event": "event_name", "metadata": {"key": "value"}}
    {"type": "log_metric", "name": "metric_name", "value": "metric_value"}

Its prints carry `call_id=<id>` so openline can attribute them to the call.

Run it:  PORT=8123 python main.py
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response


def status_response() -> Response:
    body = json.dumps(
        {"status": "ok", "timestamp": datetime.now(UTC).isoformat(), "service": "bare-websocket"}
    ).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return Response(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, body)


def process_request(connection: ServerConnection, request: Request) -> Response | None:
    """Plain HTTP on the same port: /status answers, /ws upgrades, the rest is 404."""
    path = request.path.split("?", 1)[0]
    if path == "/status":
        return status_response()
    if path != "/ws":
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
    return None


async def handle_call(ws: ServerConnection) -> None:
    call_id = None
    turns = 0
    heard: list[str] = []

    async def send(message: dict, responding_to: str | None) -> None:
        if responding_to is not None:
            message["responding_to"] = responding_to
        await ws.send(json.dumps(message))

    async for raw in ws:
        msg = json.loads(raw)
        kind = msg.get("type")
        event_id = msg.get("event_id")

        if kind == "start":
            call_id = msg.get("call_id")
            print(f"call_id={call_id} call started", flush=True)
            await send(
                {"type": "message", "content": "Hello from a bare websocket agent!"}, event_id
            )
            await send({"type": "response_end"}, event_id)

        elif kind == "message":
            heard.append(msg.get("content", ""))

        elif kind == "user_state" and msg.get("value") == "speaking":
            heard = []

        elif kind == "user_state" and msg.get("value") == "idle":
            text = " ".join(heard).strip()
            turns += 1
            print(f"call_id={call_id} turn {turns}: {text!r}", flush=True)
            await send(
                {
                    "type": "log_event",
                    "event": "user_turn",
                    "metadata": {"text": text, "turn": turns},
                },
                event_id,
            )
            await send({"type": "log_metric", "name": "turn_count", "value": turns}, event_id)
            if "bye" in text.lower():
                await send({"type": "message", "content": "Goodbye!"}, event_id)
                await send({"type": "end_call", "reason": "agent_ended"}, event_id)
                await send({"type": "response_end"}, event_id)
                await ws.close()
                return
            await send({"type": "message", "content": f"I heard: {text}"}, event_id)
            await send({"type": "response_end"}, event_id)

    print(f"call_id={call_id} platform hung up", flush=True)


async def main() -> None:
    port = int(os.environ.get("PORT", "8000"))
    host = os.environ.get("HOST", "127.0.0.1")
    async with serve(handle_call, host, port, process_request=process_request) as server:
        print(f"bare websocket agent listening on {host}:{port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
