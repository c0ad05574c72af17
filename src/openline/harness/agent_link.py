"""The platform's side of one call on an agent server.

``POST /chats`` first when the server has it (it may refuse the call), then the
websocket it names, opened with a ``start`` message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from openline.protocol import agent as wire

AGENT_FRAME_CAP_BYTES = 16 * 1024 * 1024  # larger frames end the call; fields are capped lower


class AgentUnavailable(Exception):
    """The agent server could not take the call; ``str()`` says why, for the caller."""


def _chats_body(start: wire.Start) -> dict[str, Any]:
    """The pre-call hook's request: the start message, as that hook names its fields."""
    return {
        "call_id": start.call_id,
        "from_": start.from_,
        "to": start.to,
        "agent_call_id": start.call_id,
        "agent": start.agent,
        "metadata": start.metadata,
    }


async def connect(
    http: httpx.AsyncClient, base_url: str, call: wire.Start, timeout_s: float
) -> ClientConnection:
    websocket_path = await _pre_call(http, base_url, call, timeout_s)
    url = _websocket_url(base_url, websocket_path, call)
    try:
        connection = await websockets.connect(
            url, open_timeout=timeout_s, max_size=AGENT_FRAME_CAP_BYTES, compression=None
        )
    except (OSError, TimeoutError, websockets.InvalidHandshake) as error:
        raise AgentUnavailable(f"could not open the agent websocket {url}: {error}") from error
    await connection.send(wire.emit(call))
    return connection


async def _pre_call(
    http: httpx.AsyncClient, base_url: str, call: wire.Start, timeout_s: float
) -> str:
    """The websocket path the agent wants; ``/ws`` when it has no ``/chats`` hook."""
    try:
        reply = await http.post(
            urljoin(base_url.rstrip("/") + "/", "chats"), json=_chats_body(call), timeout=timeout_s
        )
    except httpx.RemoteProtocolError:
        return "/ws"  # a bare websocket server may drop an HTTP POST: it has no /chats
    except httpx.HTTPError as error:
        raise AgentUnavailable(f"agent server {base_url} is unreachable: {error}") from error
    if reply.status_code in (404, 405):
        return "/ws"
    if reply.status_code == 403:
        raise AgentUnavailable(f"the agent refused the call: {_excerpt(reply)}")
    if reply.status_code >= 400:
        raise AgentUnavailable(
            f"the agent's /chats failed ({reply.status_code}): {_excerpt(reply)}"
        )
    try:
        return reply.json().get("websocket_url") or "/ws"
    except (ValueError, AttributeError):
        return "/ws"


def _websocket_url(base_url: str, websocket_path: str, call: wire.Start) -> str:
    # A relative websocket_url is relative to the agent's base URL, path included.
    absolute = urljoin(base_url.rstrip("/") + "/", websocket_path.lstrip("/"))
    if websocket_path.startswith(("ws:", "wss:", "http:", "https:")):
        absolute = websocket_path
    scheme, netloc, path, query, _ = urlsplit(absolute)
    scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    # Agents built on old SDKs read the call parameters from the query string.
    legacy = urlencode({"call_id": call.call_id, "from": call.from_, "to": call.to})
    query = f"{query}&{legacy}" if query else legacy
    return urlunsplit((scheme, netloc, path, query, ""))


def _excerpt(reply: httpx.Response) -> str:
    return reply.text[:500] or reply.reason_phrase
