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
import math
import re
import time

from starlette.requests import HTTPConnection

from openline.api.attempts import FailedAttempts
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
    access tokens by their signature; an address that keeps failing is made to wait."""

    def __init__(self, keys: KeyRepo, tokens: AccessTokens, attempts: FailedAttempts) -> None:
        self._keys = keys
        self.tokens = tokens
        self._attempts = attempts
        self._recent: dict[str, tuple[str, float]] = {}

    async def check(self, connection: HTTPConnection) -> str:
        """The id of the API key ``connection`` authenticates with."""
        address = client_address(connection)
        key = header_key(connection)
        if key is not None:
            return await self.check_api_key(key, address)
        return await self.check_key(query_credential(connection), address)

    async def check_key(self, key: str | None, address: str | None = None) -> str:
        """A credential given outside the headers (a URL, a start message): the API key
        or an access token with the ``agent`` grant."""
        if not key:
            raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'")
        if key.startswith(TOKEN_PREFIX):
            return await self._counted(self._check_access_token(key), address)
        return await self.check_api_key(key, address)

    async def check_api_key(self, key: str, address: str | None = None) -> str:
        hashed = digest(key)
        key_id, until = self._recent.get(hashed, ("", 0.0))
        if until > time.monotonic() and (address is None or not self._attempts.wait_s(address)):
            return key_id
        return await self._counted(self._look_up(key, hashed), address)

    async def _counted(self, checking, address: str | None) -> str:
        """``checking``'s answer, unless ``address`` must wait; a refusal counts. (No
        address, no count: the caller did not say where the attempt came from.)"""
        if address is None:
            return await checking
        wait = self._attempts.wait_s(address)
        if wait:
            checking.close()
            raise ApiError(
                429,
                f"too many failed attempts from this address: try again in {math.ceil(wait)} s",
                code="rate_limited",
            )
        try:
            key_id = await checking
        except ApiError:
            self._attempts.failed(address)
            raise
        self._attempts.succeeded(address)
        return key_id

    async def _look_up(self, key: str, hashed: str) -> str:
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


def client_address(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client else "unknown"
