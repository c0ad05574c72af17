"""API-key authentication: ``Authorization: Bearer KEY``, ``X-API-Key: KEY``, or (for
browsers opening websockets) an ``access_token`` query parameter."""

from __future__ import annotations

import asyncio
import time

from starlette.requests import HTTPConnection

from openline.api.errors import ApiError
from openline.store.keys import KeyRepo, digest

_CACHE_TTL_S = 60.0


def presented_key(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return connection.headers.get("x-api-key") or connection.query_params.get("access_token")


class Authenticator:
    """Checks keys against the store, remembering recent good ones for a minute."""

    def __init__(self, keys: KeyRepo) -> None:
        self._keys = keys
        self._recent: dict[str, float] = {}

    async def check(self, connection: HTTPConnection) -> None:
        await self.check_key(presented_key(connection))

    async def check_key(self, key: str | None) -> None:
        if not key:
            raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'")
        hashed = digest(key)
        if self._recent.get(hashed, 0.0) > time.monotonic():
            return
        if await asyncio.to_thread(self._keys.verify, key) is None:
            raise ApiError(401, "invalid API key")
        self._recent[hashed] = time.monotonic() + _CACHE_TTL_S
