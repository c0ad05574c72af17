"""A real webhook receiver on loopback, written the way docs/webhooks.md tells users to:
it checks the shared secret and the Standard Webhooks signature, deduplicates by
``webhook-id``, and can be told to misbehave."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.servers import free_port, wait_http


@dataclass
class Receiver:
    secret: str
    events: list[dict] = field(default_factory=list)  # accepted, deduplicated, in arrival order
    seen_ids: list[str] = field(default_factory=list)  # every webhook-id received, retries too
    refused: list[int] = field(default_factory=list)
    # Scripted misbehaviour: each entry answers one request, then plain 200s resume.
    script: list[dict] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("x-webhook-secret") != self.secret:
            self.refused.append(401)
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            Webhook(self.secret.encode()).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.refused.append(400)
            return JSONResponse({"error": "bad signature"}, status_code=400)
        webhook_id = request.headers["webhook-id"]
        self.seen_ids.append(webhook_id)
        if self.script:
            action = self.script.pop(0)
            if "sleep" in action:
                await asyncio.sleep(action["sleep"])
            if "status" in action:
                return Response(
                    action.get("body", "no"),
                    status_code=action["status"],
                    headers=action.get("headers", {}),
                )
        if webhook_id not in {e["_webhook_id"] for e in self.events}:
            self.events.append(
                json.loads(body) | {"_webhook_id": webhook_id, "_received": time.time()}
            )
        return JSONResponse({"ok": True})

    def of_call(self, call_id: str) -> list[dict]:
        return [e for e in self.events if e["call_id"] == call_id]


class ReceiverServer:
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.port = free_port()
        app = Starlette(
            routes=[
                Route("/hooks", receiver.handle, methods=["POST"]),
                Route("/status", lambda _: JSONResponse({"ok": True})),
            ]
        )
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> ReceiverServer:
        self._server.should_exit = False
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_http(f"http://127.0.0.1:{self.port}/status")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread:
            self._thread.join(10)
