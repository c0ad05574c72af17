"""Deadlines and caps on HTTP connections, below the application.

uvicorn has no deadline for receiving a request: its keep-alive timer stops at the
first byte, so a client sending its headers a byte at a time holds a connection for as
long as it likes ("slow loris"), and nothing caps how many one client holds. ASGI
middleware cannot help (it runs once the headers are in), so this wraps uvicorn's own
HTTP protocol:

- a request's line and headers must arrive within ``header_timeout_s`` of the
  connection opening, or of the previous response ending on a kept-alive connection;
  otherwise the server answers ``408`` and closes;
- one client address may hold ``per_address`` connections at once, websockets
  included; one more is answered ``429`` and closed (``0``: no cap). Behind a reverse
  proxy every client has the proxy's address: cap there instead.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_TOO_MANY = b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_SWEEP_ABOVE = 1024  # addresses on record before the ones with nothing open are dropped


class _OpenConnections:
    """Transports open per client address. A websocket's transport outlives the HTTP
    protocol that upgraded it, so transports are counted until they close, not protocols."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._by_address: dict[str, set[asyncio.BaseTransport]] = {}

    def admit(self, address: str, transport: asyncio.BaseTransport) -> bool:
        if len(self._by_address) > _SWEEP_ABOVE:
            for known in list(self._by_address):
                self._open(known)
        open_now = self._open(address)
        if len(open_now) >= self._cap:
            return False
        self._by_address.setdefault(address, open_now).add(transport)
        return True

    def _open(self, address: str) -> set[asyncio.BaseTransport]:
        transports = self._by_address.pop(address, set())
        transports = {transport for transport in transports if not transport.is_closing()}
        if transports:
            self._by_address[address] = transports
        return transports


def limited_http_protocol(header_timeout_s: float, per_address: int) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class (httptools or h11) with the limits above; pass it
    as ``uvicorn.Config(http=…)``."""
    open_connections = _OpenConnections(per_address) if per_address else None

    class LimitedHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            address = self.client[0] if self.client else None
            if (
                open_connections is not None
                and address
                and not open_connections.admit(address, transport)
            ):
                transport.write(_TOO_MANY)
                transport.close()
                return
            self._await_head()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._in_flight() or self.transport.get_protocol() is not self:  # or upgraded
                self._stop_waiting()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._await_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            super().connection_lost(exc)

        def _await_head(self) -> None:
            self._stop_waiting()
            self._head_timer = self.loop.call_later(header_timeout_s, self._head_too_late)

        def _stop_waiting(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _in_flight(self) -> bool:
            return self.cycle is not None and not self.cycle.response_complete

        def _head_too_late(self) -> None:
            self._head_timer = None
            transport = self.transport
            if transport.is_closing() or transport.get_protocol() is not self or self._in_flight():
                return
            transport.write(_TIMEOUT)
            transport.close()

    return LimitedHTTPProtocol
