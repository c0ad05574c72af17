"""A deployable test agent for the deploy gate: websockets and the standard library only.

It greets with its version (version.txt beside it), answers each line with
"<version>: <line>" and says when each answer is over (response_end), and hangs up on
"bye". Deployed as "good" it passes the gate's scenarios; as "bad" it answers wrongly.
A call whose metadata has `release_url` is greeted only once a GET of that URL has been
answered: a test holds a scenario's call open that way while it checks what happens
meanwhile.
"""

import asyncio
import json
import os
import urllib.request
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
            {"status": "ok", "timestamp": datetime.now(UTC).isoformat(), "service": "gate"}
        ).encode()
        headers = Headers(
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return Response(200, "OK", headers, body)
    if path != "/ws":
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
    return None


def wait_for_release(url):
    with urllib.request.urlopen(url, timeout=120):
        pass


async def handle_call(ws):
    heard = []

    async def answer(text, event_id=None):
        await ws.send(json.dumps({"type": "message", "content": text}))
        await ws.send(json.dumps({"type": "response_end", "responding_to": event_id}))

    async for raw in ws:
        message = json.loads(raw)
        kind = message.get("type")
        if kind == "start":
            release_url = (message.get("metadata") or {}).get("release_url")
            if release_url:
                await asyncio.to_thread(wait_for_release, release_url)
            await answer(f"hello from {VERSION}")
        elif kind == "message":
            heard.append(message.get("content", ""))
        elif kind == "user_state" and message.get("value") == "idle" and heard:
            text = " ".join(heard)
            heard = []
            if text == "bye":
                await ws.send(json.dumps({"type": "end_call", "reason": "done"}))
                await ws.close()
                return
            await answer(f"{VERSION}: {text}", message.get("event_id"))


async def main():
    port = int(os.environ.get("PORT", "8000"))
    async with serve(handle_call, "127.0.0.1", port, process_request=process_request):
        print(f"gate agent {VERSION} listening on {port}", flush=True)
        await asyncio.Future()


asyncio.run(main())
