"""The platform's side of one call on an agent server (reference §1).

``POST /chats`` first when the server has it (it may refuse the call), then the
websocket it names, opened with a ``start`` message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

AGENT_FRAME_CAP_BYTES = 16 * 1024 * 1024  # larger frames end the call; fields are capped lower


class AgentUnavailable(Exception):
    """The agent server could not take the call; ``str()`` says why, for the caller."""


@dataclass
class CallStart:
    call_id: str
    agent: dict[str, Any]
    from_: str
    to: str
    metadata: dict[str, Any]
    api_base_url: str

    def start_message(self) -> dict[str, Any]:
        return {
            "type": "start",
            "call_id": self.call_id,
            "from": self.from_,
            "to": self.to,
            "agent_call_id": self.call_id,
            "agent": {
                "id": self.agent["id"],
                "system_prompt": self.agent.get("system_prompt"),
                "introduction": self.agent.get("introduction"),
            },
            "metadata": self.metadata,
            "agent_token": None,
            "api_base_url": self.api_base_url,
        }

    def chats_body(self) -> dict[str, Any]:
        start = self.start_message()
        return {
            "call_id": self.call_id,
            "from_": self.from_,
            "to": self.to,
            "agent_call_id": self.call_id,
            "agent": start["agent"],
            "metadata": self.metadata,
        }


async def connect(
    http: httpx.AsyncClient, base_url: str, call: CallStart, timeout_s: float
) -> ClientConnection:
    websocket_path = await _pre_call(http, base_url, call, timeout_s)
    url = _websocket_url(base_url, websocket_path, call)
    try:
        connection = await websockets.connect(
            url, open_timeout=timeout_s, max_size=AGENT_FRAME_CAP_BYTES, compression=None
        )
    except (OSError, TimeoutError, websockets.InvalidHandshake) as error:
        raise AgentUnavailable(f"could not open the agent websocket {url}: {error}") from error
    await connection.send(json.dumps(call.start_message()))
    return connection


async def _pre_call(
    http: httpx.AsyncClient, base_url: str, call: CallStart, timeout_s: float
) -> str:
    """The websocket path the agent wants; ``/ws`` when it has no ``/chats`` hook."""
    try:
        reply = await http.post(
            urljoin(base_url.rstrip("/") + "/", "chats"), json=call.chats_body(), timeout=timeout_s
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


def _websocket_url(base_url: str, websocket_path: str, call: CallStart) -> str:
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
