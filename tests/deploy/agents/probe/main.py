"""A deployable test agent that tries to read what a sandbox must hide from it.

``targets.json`` beside it lists paths (the test writes it before deploying). At each
call it tries every one (a file: read it; a directory: list it) and greets with a JSON
report: ``{"uid": …, "seen": {path: "read" | "listed: […]" | the error's name}}``.
websockets and the standard library only.
"""

import asyncio
import json
import os
from http import HTTPStatus
from pathlib import Path

from websockets.asyncio.server import serve

TARGETS = json.loads((Path(__file__).parent / "targets.json").read_text())


def attempt(path: str) -> str:
    try:
        if os.path.isdir(path):
            return f"listed: {sorted(os.listdir(path))}"
        with open(path, "rb") as file:
            file.read()
        return "read"
    except OSError as error:
        return type(error).__name__


def process_request(connection, request):
    path = request.path.split("?", 1)[0]
    if path == "/status":
        return connection.respond(HTTPStatus.OK, "ok\n")
    if path != "/ws":
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
    return None


async def handle_call(ws):
    async for raw in ws:
        message = json.loads(raw)
        if message.get("type") == "start":
            report = {"uid": os.getuid(), "seen": {path: attempt(path) for path in TARGETS}}
            print(f"probe report: {json.dumps(report)}", flush=True)
            await ws.send(json.dumps({"type": "message", "content": json.dumps(report)}))


async def main():
    port = int(os.environ["PORT"])
    async with serve(handle_call, "127.0.0.1", port, process_request=process_request):
        await asyncio.Future()


asyncio.run(main())
