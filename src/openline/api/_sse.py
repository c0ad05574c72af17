"""Server-sent events, the way the live tails send them."""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import StreamingResponse

KEEPALIVE_S = 15.0  # a comment this often keeps proxies from closing a quiet stream
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class EventStream(StreamingResponse):
    """A live tail; as a route's ``response_class`` it documents the media type too."""

    media_type = "text/event-stream"


def documented(*names: str) -> dict:
    """A live tail route's ``responses``: the events it sends, each with JSON data."""
    event = {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"enum": list(names)},
            "data": {"type": "string", "contentMediaType": "application/json"},
        },
    }
    return {200: {"content": {EventStream.media_type: {"schema": event}}}}


def event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


async def next_change(changed: asyncio.Event, request: Request) -> str | None:
    """Wait for ``changed``: "" when it came, a keepalive comment to send after a quiet
    spell, None when the client has gone."""
    try:
        await asyncio.wait_for(changed.wait(), KEEPALIVE_S)
    except TimeoutError:
        return None if await request.is_disconnected() else ": keepalive\n\n"
    return ""
