"""Authentication: the API key in a header (``Authorization: Bearer KEY`` or
``X-API-Key: KEY``) on every route; a credential in the ``access_token`` query
parameter only where a browser cannot send a header.

A URL is kept by browsers' histories, proxies and access logs, so the query parameter
is accepted on websockets and on the few GET routes that media elements and
``EventSource`` open by URL, and there an access token (``api/tokens.py``) should
stand in for the key.
"""

from __future__ import annotations

import asyncio
import re
import time

from starlette.requests import HTTPConnection

from openline.api.errors import ApiError
from openline.api.tokens import PREFIX as TOKEN_PREFIX
from openline.api.tokens import AccessTokens
from openline.store.keys import KeyRepo, digest

_CACHE_TTL_S = 60.0
_QUERY_CREDENTIAL_ROUTES = (  # GET routes a browser opens by URL, without headers
    re.compile(r"^/agents/calls/[^/]+/audio$"),
    re.compile(r"^/agents/calls/[^/]+/stream$"),
    re.compile(r"^/agents/deployments/[^/]+/logs/stream$"),
)


def header_key(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return connection.headers.get("x-api-key") or None


def query_credential(connection: HTTPConnection) -> str | None:
    """``?access_token=``, where this route accepts one."""
    if connection.scope["type"] == "http" and (
        connection.scope["method"] not in ("GET", "HEAD")
        or not any(route.match(connection.url.path) for route in _QUERY_CREDENTIAL_ROUTES)
    ):
        return None
    return connection.query_params.get("access_token") or None


def presented_key(connection: HTTPConnection) -> str | None:
    return header_key(connection) or query_credential(connection)


class Authenticator:
    """Checks keys against the store, remembering recent good ones for a minute, and
    access tokens by their signature."""

    def __init__(self, keys: KeyRepo, tokens: AccessTokens) -> None:
        self._keys = keys
        self.tokens = tokens
        self._recent: dict[str, tuple[str, float]] = {}

    async def check(self, connection: HTTPConnection) -> str:
        """The id of the API key ``connection`` authenticates with."""
        key = header_key(connection)
        if key is not None:
            return await self._check_api_key(key)
        return await self.check_key(query_credential(connection))

    async def check_key(self, key: str | None) -> str:
        """A credential given outside the headers (a URL, a start message): the API key
        or an access token with the ``agent`` grant."""
        if not key:
            raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'")
        if key.startswith(TOKEN_PREFIX):
            return await self._check_access_token(key)
        return await self._check_api_key(key)

    async def _check_api_key(self, key: str) -> str:
        hashed = digest(key)
        key_id, until = self._recent.get(hashed, ("", 0.0))
        if until > time.monotonic():
            return key_id
        key_id = await asyncio.to_thread(self._keys.verify, key)
        if key_id is None:
            raise ApiError(401, "invalid API key")
        self._recent[hashed] = (key_id, time.monotonic() + _CACHE_TTL_S)
        return key_id

    async def _check_access_token(self, token: str) -> str:
        found = self.tokens.read(token)
        if found is None:
            raise ApiError(401, "invalid or expired access token")
        if "agent" not in found.grants:
            raise ApiError(401, "this access token has no 'agent' grant")
        if not await asyncio.to_thread(self._keys.exists, found.key_id):
            raise ApiError(401, "invalid or expired access token")
        return found.key_id
