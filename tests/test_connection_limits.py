"""Connections that never get going are closed after a deadline, and one address can
hold only so many: slow headers (slow loris), websockets that never start a call (or,
on the Twilio bridge, never authenticate), too many connections from one client."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator

import pytest
import websockets

from openline.api.start_deadline import START_TIMEOUT
from openline.config import Settings
from tests.conftest import TEST_KEY
from tests.support.calls import TextCall
from tests.support.servers import RunningServer, openline_server

DEADLINE_S = 1.0


@contextlib.contextmanager
def server_with(tmp_path, **limits: float) -> Iterator[RunningServer]:
    settings = Settings(data_dir=tmp_path / "data", api_key=TEST_KEY, **limits)
    with openline_server(settings) as running:
        yield running


@pytest.fixture
def quick_deadlines(tmp_path) -> Iterator[RunningServer]:
    with server_with(
        tmp_path, request_header_timeout_s=DEADLINE_S, websocket_start_timeout_s=DEADLINE_S
    ) as running:
        yield running


def raw_connection(server: RunningServer, source: str = "127.0.0.1") -> socket.socket:
    port = int(server.base_url.rsplit(":", 1)[1])
    connection = socket.create_connection(
        ("127.0.0.1", port), timeout=30, source_address=(source, 0)
    )
    return connection


async def admitted_connection(server: RunningServer) -> socket.socket:
    """A connection the server serves, once it has one to spare."""
    while True:
        connection = raw_connection(server)
        connection.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = connection.recv(4096)
        if answer.startswith(b"HTTP/1.1 200 "):
            return connection
        assert answer.startswith(b"HTTP/1.1 429 ")
        connection.close()
        await asyncio.sleep(0.05)


def everything_until_closed(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(4096):
        received += chunk
    return received


def test_slow_headers_are_cut_off_at_the_deadline(quick_deadlines):
    slow = [raw_connection(quick_deadlines) for _ in range(30)]
    for connection in slow:
        connection.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n")
    for _ in range(int(3 * DEADLINE_S / 0.2)):  # a byte now and then, as slow loris does
        for connection in slow:
            with contextlib.suppress(OSError):  # closed by the server already
                connection.sendall(b"X")
        time.sleep(0.2)
    for connection in slow:
        assert everything_until_closed(connection).startswith(b"HTTP/1.1 408 ")
        connection.close()
    # A request that arrives in time is served, and so is the next one on the same
    # connection, even after a pause shorter than the deadline.
    with raw_connection(quick_deadlines) as prompt:
        for _ in range(2):
            prompt.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
            assert prompt.recv(4096).startswith(b"HTTP/1.1 200 ")
            time.sleep(DEADLINE_S / 10)


async def test_websockets_that_never_start_a_call_are_closed(quick_deadlines, agent_url):
    agent_id = quick_deadlines.create_agent("a", self_hosted_deployment_url=agent_url)
    ws = quick_deadlines.ws_url
    idle = [
        await websockets.connect(f"{ws}/agents/stream/{agent_id}?access_token={TEST_KEY}")
        for _ in range(20)
    ]
    # The Twilio bridge authenticates in its start event: these never do.
    idle += [await websockets.connect(f"{ws}/twilio/stream/{agent_id}") for _ in range(5)]
    for connection in idle:
        await asyncio.wait_for(connection.wait_closed(), 30)
        assert connection.close_code == START_TIMEOUT
        assert "no call started within 1 s" in connection.close_reason
    # A call that started in time goes on past the deadline.
    call = await TextCall.open(ws, agent_id, TEST_KEY)
    await asyncio.sleep(2 * DEADLINE_S)
    await call.say("still there?")
    assert await call.reply()
    await call.hang_up()


async def test_one_address_holds_at_most_the_cap(tmp_path, agent_url):
    with server_with(
        tmp_path, max_connections_per_address=4, request_header_timeout_s=60
    ) as server:
        agent_id = server.create_agent("a", self_hosted_deployment_url=agent_url)
        url = f"{server.ws_url}/agents/stream/{agent_id}?access_token={TEST_KEY}"
        sockets = [await websockets.connect(url) for _ in range(2)]  # websockets count too
        held = [raw_connection(server, "127.0.0.5") for _ in range(2)]
        held += [raw_connection(server, "127.0.0.1") for _ in range(2)]
        refused = raw_connection(server)
        assert everything_until_closed(refused).startswith(b"HTTP/1.1 429 ")
        with raw_connection(server, "127.0.0.5") as elsewhere:  # another address: its own cap
            elsewhere.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
            assert elsewhere.recv(4096).startswith(b"HTTP/1.1 200 ")
        await sockets[0].close()
        held[2].close()
        for _ in range(2):  # two places freed (once the server has seen the closes)
            held.append(await admitted_connection(server))
        for connection in held:
            connection.close()
        await sockets[1].close()
