"""A real webhook receiver on loopback, written the way docs/webhooks.md tells users to:
it checks the shared secret and the Standard Webhooks signature, deduplicates by
``webhook-id``, and can be told to misbehave.

Also here: :class:`FlakyProxy`, a raw TCP server that accepts connections and closes or
resets them (a receiver whose network is broken), passing the rest through to a real
receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.servers import free_port, wait_http


@dataclass
class Receiver:
    """What arrives, and how to answer.

    ``script`` answers requests one by one, in arrival order; each entry may have
    ``sleep`` (seconds before answering), ``status``, ``headers``, ``body`` (for a status),
    ``trickle`` (answer 200 at once, then send ``trickle`` bytes one a ``every`` seconds)
    or ``big`` (answer 200 with that many bytes). ``fail_with`` answers every request with
    that status while set (after the script). An event counts as received when it was
    answered with a 2xx, or, for ``sleep``/``trickle``, when the handler got that far
    (the sender may have given up by then: that is what makes a duplicate).
    """

    secret: str
    require_signature: bool = True  # False: the secret alone will do (the page's curl)
    events: list[dict] = field(default_factory=list)  # accepted, deduplicated, in arrival order
    seen_ids: list[str] = field(default_factory=list)  # every webhook-id received, retries too
    arrivals: list[tuple[str, float]] = field(default_factory=list)  # (webhook-id, monotonic)
    refused: list[int] = field(default_factory=list)
    unsigned: int = 0  # requests accepted without a signature
    script: list[dict] = field(default_factory=list)
    fail_with: int | None = None
    delay_s: float = 0.0  # added to every answer
    in_handler: int = 0  # requests being answered right now
    chat: list[dict] = field(default_factory=list)  # what /slack took, in arrival order

    async def handle_chat(self, request: Request) -> Response:
        """A Slack-compatible incoming webhook: its url is its only secret; it answers
        ``ok`` to a ``{"text": …}`` body (and ``fail_with`` while that is set)."""
        if self.fail_with is not None:
            return Response("failing on purpose", status_code=self.fail_with)
        body = json.loads(await request.body())
        if not isinstance(body.get("text"), str):
            return Response("invalid_payload", status_code=400)
        self.chat.append(body)
        return Response("ok", media_type="text/plain")

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("x-webhook-secret") != self.secret:
            self.refused.append(401)
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if "webhook-signature" in request.headers or self.require_signature:
            try:
                Webhook(self.secret.encode()).verify(body, dict(request.headers))
            except WebhookVerificationError:
                self.refused.append(400)
                return JSONResponse({"error": "bad signature"}, status_code=400)
        else:
            self.unsigned += 1
        webhook_id = request.headers.get("webhook-id") or f"unsigned-{len(self.seen_ids)}"
        self.seen_ids.append(webhook_id)
        self.arrivals.append((webhook_id, time.monotonic()))
        self.in_handler += 1
        try:
            return await self._answer(webhook_id, body)
        finally:
            self.in_handler -= 1

    async def _answer(self, webhook_id: str, body: bytes) -> Response:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        action = self.script.pop(0) if self.script else {}
        if not action and self.fail_with is not None:
            return Response("failing on purpose", status_code=self.fail_with)
        if "sleep" in action:
            await asyncio.sleep(action["sleep"])
        if "status" in action:
            return Response(
                action.get("body", "no"),
                status_code=action["status"],
                headers=action.get("headers", {}),
            )
        self._keep(webhook_id, body)
        if "trickle" in action:
            return StreamingResponse(
                _trickle(action["trickle"], action.get("every", 0.1)),
                media_type="application/json",
            )
        if "big" in action:
            return Response(b"x" * action["big"], media_type="text/plain")
        return JSONResponse({"ok": True})

    def _keep(self, webhook_id: str, body: bytes) -> None:
        if webhook_id not in {e["_webhook_id"] for e in self.events}:
            self.events.append(
                json.loads(body) | {"_webhook_id": webhook_id, "_received": time.time()}
            )

    def of_call(self, call_id: str) -> list[dict]:
        return [e for e in self.events if e.get("call_id") == call_id]

    def times_of(self, webhook_id: str) -> list[float]:
        return [at for seen, at in self.arrivals if seen == webhook_id]


async def _trickle(count: int, every: float):
    for _ in range(count):
        yield b" "
        await asyncio.sleep(every)


class ReceiverServer:
    def __init__(self, receiver: Receiver, port: int | None = None) -> None:
        self.receiver = receiver
        self.port = port or free_port()
        self._app = Starlette(
            routes=[
                Route("/hooks", receiver.handle, methods=["POST"]),
                Route("/slack", receiver.handle_chat, methods=["POST"]),
                Route("/status", lambda _: JSONResponse({"ok": True})),
            ]
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> ReceiverServer:
        """Listen (again: a stopped receiver can come back on the same port)."""
        self._server = uvicorn.Server(
            uvicorn.Config(self._app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_http(f"http://127.0.0.1:{self.port}/status")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread:
            self._thread.join(10)


class FlakyProxy:
    """A TCP server on loopback that breaks connections on purpose.

    Each accepted connection takes the next entry of ``script``: ``"close"`` (accept, then
    close at once), ``"reset"`` (read the request, then reset the connection: RST, no
    answer) or ``"pass"`` (relay to ``upstream_port``). With the script used up,
    connections pass.
    """

    def __init__(self, upstream_port: int, script: list[str]) -> None:
        self.upstream_port = upstream_port
        self.script = list(script)
        self.port = free_port()
        self.broken = 0  # connections closed or reset so far
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> FlakyProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            # Relays of kept-alive connections are still waiting: end them here rather
            # than leave them to be destroyed, pending, with the loop.
            relays = asyncio.all_tasks(self._loop)
            for relay in relays:
                relay.cancel()
            self._loop.run_until_complete(asyncio.gather(*relays, return_exceptions=True))
            self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        action = self.script.pop(0) if self.script else "pass"
        if action == "close":
            self.broken += 1
            writer.close()
            return
        if action == "reset":
            self.broken += 1
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader.read(65536), 5)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()
