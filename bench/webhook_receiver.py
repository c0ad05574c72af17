"""The receiver for ``bench/webhooks.py``: answers 200 to every POST to ``/hooks`` and
notes when each ``webhook-id`` first arrived (``time.monotonic``: one clock for every
process on the machine). ``GET /stats`` returns what it saw, ``POST /reset`` forgets it.
Kept free of openline imports so that it starts fast.

    python bench/webhook_receiver.py PORT
"""

from __future__ import annotations

import json
import sys
import time

import uvicorn


def serve_receiver(port: int) -> None:
    first_seen: dict[str, float] = {}
    requests = 0

    async def app(scope, receive, send) -> None:
        nonlocal requests
        if scope["type"] != "http":
            return
        more = True
        body = b""
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path = scope["path"]
        reply = b"{}"
        if path == "/hooks":
            now = time.monotonic()
            requests += 1
            for name, value in scope["headers"]:
                if name == b"webhook-id":
                    first_seen.setdefault(value.decode(), now)
                    break
        elif path == "/stats":
            reply = json.dumps({"requests": requests, "first_seen": first_seen}).encode()
        elif path == "/reset":
            first_seen.clear()
            requests = 0
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": reply})

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=75,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    serve_receiver(int(sys.argv[1]))
