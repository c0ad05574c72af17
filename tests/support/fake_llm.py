"""OpenAI-compatible chat completions on loopback, for the summarizer and the judge."""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.servers import free_port, wait_http

# What the fake answers a request with: the message's content (str), the whole message
# (dict: e.g. a refusal), or an HTTP error status (int).
Answer = str | dict | int
Answerer = Callable[[dict], Answer | Awaitable[Answer]]


class FakeLlm:
    def __init__(self, answer: Answerer) -> None:
        self.answer = answer
        self.requests: list[dict] = []  # each body, with its Authorization header as "_auth"

    async def complete(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append(body | {"_auth": request.headers.get("authorization")})
        answer = self.answer(body)
        if inspect.isawaitable(answer):
            answer = await answer
        if isinstance(answer, int):
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=answer)
        message = answer if isinstance(answer, dict) else {"role": "assistant", "content": answer}
        return JSONResponse(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            }
        )


def is_judging(body: dict[str, Any]) -> bool:
    """A judge's request (a system message with the judging instructions), not a summary's."""
    return body["messages"][0]["role"] == "system"


@contextlib.contextmanager
def serve_llm(fake: FakeLlm) -> Iterator[str]:
    """Serve ``fake``; yields its base URL (``…/v1``)."""
    port = free_port()
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", fake.complete, methods=["POST"]),
            Route("/status", lambda _: JSONResponse({"ok": True})),
        ]
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_http(f"http://127.0.0.1:{port}/status")
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)
