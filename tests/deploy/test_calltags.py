"""The call-tag hook, run by a real interpreter from a site-packages directory the way a
deployment's venv runs it: it marks only what a call's code writes, and does nothing
unless openline started the process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from openline.deploy.calltags import ENV, install_hook, untag

# A Starlette app, served in-process by its test client: one line outside any call, then
# a pre-call POST /chats, a call's websocket (print, logging, a task it starts) and a
# health check, which belongs to no call.
APP = """
import asyncio, logging, site, sys
site.addsitedir(sys.argv[1])  # what the interpreter does with a venv's site-packages
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
print("outside any call", flush=True)

async def chats(request):
    print("pre-call", (await request.json())["metadata"])
    return JSONResponse({"websocket_url": "/ws"})

async def ws(websocket):
    await websocket.accept()
    print("connected")
    start = await websocket.receive_json()
    logging.info("started %s", start["call_id"])
    await asyncio.create_task(asyncio.sleep(0, print("in a task\\nof two lines")))
    await websocket.close()

async def status(request):
    print("healthy")
    return JSONResponse({"status": "ok"})

app = Starlette(routes=[
    Route("/chats", chats, methods=["POST"]), Route("/status", status),
    WebSocketRoute("/ws", ws),
])
with TestClient(app) as client:
    client.post("/chats", json={"call_id": "call_A", "metadata": "m"})
    with client.websocket_connect("/ws?call_id=call_B") as socket:
        socket.send_json({"type": "start", "call_id": "call_C"})
    client.get("/status")
print(type(sys.stdout).__name__)
"""


def run_app(tmp_path, **env: str) -> tuple[list[str], list[str]]:
    """The app's stdout and stderr lines."""
    venv = tmp_path / "venv"
    site_packages = venv / "lib" / "python3" / "site-packages"
    site_packages.mkdir(parents=True)
    install_hook(venv)
    environ = {k: v for k, v in os.environ.items() if k != ENV} | env
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(APP), str(site_packages)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines(), done.stderr.splitlines()


def test_lines_a_call_writes_are_marked_with_its_id(tmp_path):
    stdout, stderr = run_app(tmp_path, **{ENV: "1"})
    assert [untag(line) for line in stdout] == [
        (None, "outside any call"),
        ("call_A", "pre-call m"),  # the id in the /chats body
        ("call_B", "connected"),  # the id in the websocket URL, before `start`
        ("call_C", "in a task"),  # the id of the start message, from then on
        ("call_C", "of two lines"),
        (None, "healthy"),
        (None, "TaggingStream"),
    ]
    marked = [untag(line) for line in stderr if untag(line)[0] is not None]
    assert marked == [("call_C", "INFO started call_C")]


def test_the_hook_does_nothing_unless_openline_started_the_process(tmp_path):
    stdout, stderr = run_app(tmp_path)
    assert [untag(line)[0] for line in stdout + stderr] == [None] * len(stdout + stderr)
    assert stdout[-1] == "TextIOWrapper"


def test_untag_takes_off_a_mark_and_leaves_other_lines_alone():
    assert untag("\x01call_1\x02hello") == ("call_1", "hello")
    assert untag("\x01call_1\x02") == ("call_1", "")
    for line in ("hello", "\x01\x02hello", "\x01call_1 no end", "a\x01call_1\x02b", ""):
        assert untag(line) == (None, line)
