"""A deployable test agent without the SDK: websockets and the standard library only.

It greets with its version (version.txt beside it), logs the metric ``score`` N when it
hears "score N" (for rule metrics to judge), echoes anything else, and hangs up on "bye".
"""

import asyncio
import json
import os
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path

from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

VERSION = (Path(__file__).parent / "version.txt").read_text().strip()


def process_request(connection, request):
    path = request.path.split("?", 1)[0]
    if path == "/status":
        body = json.dumps(
            {"status": "ok", "timestamp": datetime.now(UTC).isoformat(), "service": "scorer"}
        ).encode()
        headers = Headers(
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return Response(200, "OK", headers, body)
    if path != "/ws":
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
    return None


async def handle_call(ws):
    heard = []

    async def send(message):
        await ws.send(json.dumps(message))

    async for raw in ws:
        message = json.loads(raw)
        kind = message.get("type")
        if kind == "start":
            await send({"type": "message", "content": f"hello from {VERSION}"})
        elif kind == "message":
            heard.append(message.get("content", ""))
        elif kind == "user_state" and message.get("value") == "idle" and heard:
            text = " ".join(heard)
            heard = []
            word, _, rest = text.partition(" ")
            if word == "score":
                await send({"type": "log_metric", "name": "score", "value": float(rest)})
                await send({"type": "message", "content": f"scored {rest}"})
            elif text == "bye":
                await send({"type": "message", "content": "bye"})
                await send({"type": "end_call", "reason": "done"})
                await ws.close()
                return
            else:
                await send({"type": "message", "content": f"{VERSION}: {text}"})


async def main():
    port = int(os.environ.get("PORT", "8000"))
    async with serve(handle_call, "127.0.0.1", port, process_request=process_request):
        print(f"scorer {VERSION} listening on {port}", flush=True)
        await asyncio.Future()


asyncio.run(main())
