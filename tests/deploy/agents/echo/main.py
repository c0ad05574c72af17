"""A deployable test agent without the SDK: websockets and the standard library only.

It greets with its version (version.txt beside it), echoes what it hears, prints log
lines with and without `call_id=`, prints its TOKEN env var when asked (to prove that
values are masked in logs), and hangs up on "bye".
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
            {"status": "ok", "timestamp": datetime.now(UTC).isoformat(), "service": "echo"}
        ).encode()
        headers = Headers(
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return Response(200, "OK", headers, body)
    if path != "/ws":
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
    return None


async def handle_call(ws):
    call_id = None
    heard = []

    async def say(text, **extra):
        await ws.send(json.dumps({"type": "message", "content": text} | extra))

    async for raw in ws:
        message = json.loads(raw)
        kind = message.get("type")
        if kind == "start":
            call_id = message.get("call_id")
            print(f"call_id={call_id} call started on {VERSION}", flush=True)
            print(f"a line that names no call ({VERSION})", flush=True)
            await say(f"hello from {VERSION}")
        elif kind == "message":
            heard.append(message.get("content", ""))
        elif kind == "user_state" and message.get("value") == "idle" and heard:
            text = " ".join(heard)
            heard = []
            print(f"call_id={call_id} heard {text!r}", flush=True)
            if text == "secret":
                print(f"the token is {os.environ.get('TOKEN')}", flush=True)
                await say("printed")
            elif text == "warn":
                print(f"WARNING call_id={call_id} something odd", flush=True)
                await say("warned")
            elif text == "bye":
                await say("bye")
                await ws.send(json.dumps({"type": "end_call", "reason": "done"}))
                await ws.close()
                return
            else:
                await say(f"{VERSION}: {text}")


async def main():
    port = int(os.environ.get("PORT", "8000"))
    async with serve(handle_call, "127.0.0.1", port, process_request=process_request):
        print(f"echo {VERSION} listening on {port}", flush=True)
        await asyncio.Future()


asyncio.run(main())
