"""A minimal, fast Line-protocol echo agent server, for benchmarks.

On ``start`` it sends nothing; on ``user_state idle`` it replies with the content of
the last ``message`` it got (``{"type": "message", "content": …}``) followed by
``{"type": "response_end"}``; every other message is ignored. Any websocket path is
the call socket (openline opens ``/ws``).

HTTP: ``GET /status`` answers 200 (readiness), and ``POST /chats`` answers 404 so
that openline falls back to ``/ws`` (``harness/agent_link.py``), as it does for
agent servers without a pre-call hook.

The websockets library only parses ``GET`` requests without a body; a ``POST`` with
a body would be dropped without any response, and openline would see the agent as
unreachable. So the connection class below parses non-``GET`` request heads itself
(consuming the body) and hands them to ``process_request`` like any other request.

Run: ``python bench/echo_agent.py --port 8123`` (or ``PORT=8123``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
from collections.abc import Generator
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import Protocol

RESPONSE_END = json.dumps({"type": "response_end"})
_MAX_LINE = 8192
_MAX_BODY = 1 << 20


class _HttpTolerantConnection(ServerConnection):
    """A server connection that also accepts non-GET requests (e.g. ``POST /chats``)."""

    def __init__(self, protocol: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(protocol, *args, **kwargs)
        # Nothing has been received yet: swap the handshake parser for ours.
        protocol.parser = _parse_any_method(protocol)
        next(protocol.parser)


def _parse_any_method(protocol: Any) -> Generator[None]:
    reader = protocol.reader
    while len(reader.buffer) < 4 and not reader.eof:
        yield
    if reader.eof or bytes(reader.buffer[:4]) == b"GET ":
        yield from protocol.parse()  # the library's own handshake parser
        return
    try:
        line = yield from reader.read_line(_MAX_LINE)
        method, path, _ = line.decode("ascii").split(" ", 2)
        headers = Headers()
        while True:
            line = yield from reader.read_line(_MAX_LINE)
            if line in (b"\r\n", b"\n"):
                break
            name, value = line.decode("latin-1").split(":", 1)
            headers[name.strip()] = value.strip()
        length = int(headers.get("Content-Length", "0"))
        if not 0 <= length <= _MAX_BODY:
            raise ValueError("bad Content-Length")
        if length:
            yield from reader.read_exact(length)
    except Exception:  # noqa: BLE001 - not HTTP we understand: drop the connection
        protocol.send_eof()
        protocol.parser = protocol.discard()
        next(protocol.parser)
        yield
        return
    protocol.events.append(Request(path, headers, method=method))
    yield from Protocol.parse(protocol)  # what ServerProtocol.parse does after a request


def _process_request(connection: ServerConnection, request: Request) -> Response | None:
    path = request.path.split("?", 1)[0]
    if request.method != "GET":
        return connection.respond(404, "no /chats hook: use /ws\n")
    if path == "/status":
        response = connection.respond(200, '{"status":"ok","service":"echo-agent"}')
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        return response
    return None  # a websocket handshake


async def _call(websocket: ServerConnection) -> None:
    last = ""
    loads, dumps, send = json.loads, json.dumps, websocket.send
    try:
        async for frame in websocket:
            message = loads(frame)
            kind = message.get("type")
            if kind == "message":
                last = message.get("content") or ""
            elif kind == "user_state" and message.get("value") == "idle":
                await send(dumps({"type": "message", "content": last}))
                await send(RESPONSE_END)
    except ConnectionClosed:
        pass


async def serve_forever(host: str, port: int, backlog: int = 4096) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        _call,
        host,
        port,
        create_connection=_HttpTolerantConnection,
        process_request=_process_request,
        compression=None,
        ping_interval=None,
        max_queue=None,
        backlog=backlog,
    ):
        print(f"echo agent listening on http://{host}:{port}", flush=True)
        await stop


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8123")))
    parser.add_argument("--backlog", type=int, default=4096)
    args = parser.parse_args()
    raise_fd_limit()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve_forever(args.host, args.port, args.backlog))
    else:
        uvloop.run(serve_forever(args.host, args.port, args.backlog))


if __name__ == "__main__":
    main()
