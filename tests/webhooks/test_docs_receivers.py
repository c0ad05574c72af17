"""The receivers docs/webhooks.md shows, run as written: they accept what openline sends
(signed, with retries deduplicated) and the monitoring page's curl example with the right
secret, and refuse it (401) with a wrong one."""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from standardwebhooks.webhooks import Webhook

from openline.domain.time import utcnow
from openline.store.delivery_queue import Claimed
from openline.webhooks.dispatcher import Dispatcher
from openline.webhooks.signing import delivery_headers
from openline.webhooks.targets import TargetPolicy
from tests.support.receiver import Receiver, ReceiverServer
from tests.support.servers import free_port, wait_http

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "webhooks.md"
PAGE = ROOT.parent / "shared" / "reference" / "monitoring-page.txt"
SECRET = "whsec_docs_secret_42"

# The monitoring page's "Test your endpoint" body, byte for byte.
PAGE_BODY = """{
    "type": "call_completed",
    "call_id": "ac_test_123",
    "agent_id": "agent_demo",
    "webhook_id": "agent_webhook_test",
    "timestamp": "2026-01-01T00:00:00.000000000Z",
    "call": {
      "id": "ac_test_123",
      "agent_id": "agent_demo",
      "agent_name": "Test Agent",
      "status": "completed",
      "end_reason": "client_hangup",
      "transcript": []
    }
  }"""


def snippet(name: str) -> str:
    """The code block after ``<!-- snippet: NAME -->`` in docs/webhooks.md."""
    found = re.search(
        rf"<!-- snippet: {re.escape(name)} -->\n```python\n(.*?)```", DOCS.read_text(), re.DOTALL
    )
    assert found, f"docs/webhooks.md has no snippet {name}"
    return found.group(1)


@pytest.fixture
def docs_code(tmp_path, monkeypatch) -> Path:
    for name in ("verify.py", "receiver.py", "flask_receiver.py"):
        (tmp_path / name).write_text(snippet(name))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("OPENLINE_WEBHOOK_SECRET", SECRET)
    for module in ("verify", "receiver"):
        sys.modules.pop(module, None)
    yield tmp_path
    for module in ("verify", "receiver"):
        sys.modules.pop(module, None)


@pytest.fixture
def fastapi_receiver(docs_code, monkeypatch) -> Iterator[tuple[str, list[dict]]]:
    """docs' FastAPI receiver under uvicorn; yields its URL and what it handled."""
    module = importlib.import_module("receiver")
    handled: list[dict] = []
    monkeypatch.setattr(module, "handle", handled.append)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(module.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_http(f"http://127.0.0.1:{port}/docs")
    yield f"http://127.0.0.1:{port}/webhooks/openline", handled
    server.should_exit = True
    thread.join(10)


def curl(url: str, secret: str) -> int:
    """The page's curl command, pointed at ``url``; returns the HTTP status."""
    args = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", url]
    args += ["-H", "Content-Type: application/json", "-H", f"x-webhook-secret: {secret}"]
    args += ["-d", PAGE_BODY]
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)
    return int(done.stdout)


def test_the_page_body_is_quoted_exactly():
    docs = DOCS.read_text()
    assert PAGE_BODY in docs
    if PAGE.exists():  # the reference page sits beside the repository
        assert PAGE_BODY in PAGE.read_text()


def test_plain_python_verify_accepts_openline_signatures_only(docs_code):
    verify = importlib.import_module("verify")
    body = json.dumps({"type": "call_started", "call_id": "call_1"}).encode()
    headers = delivery_headers(SECRET, "whd_one", utcnow(), body.decode())
    verify.verify(SECRET, headers, body)
    Webhook(SECRET.encode()).verify(body, headers)  # the library agrees on the same bytes

    def refused(secret, headers, body, **options) -> tuple[int, str]:
        with pytest.raises(verify.Rejected) as caught:
            verify.verify(secret, headers, body, **options)
        return caught.value.status, caught.value.reason

    assert refused("whsec_other_secret", headers, body)[0] == 401
    assert refused(SECRET, headers, body + b" ") == (400, "bad signature")
    assert refused(SECRET, headers | {"webhook-id": "whd_two"}, body) == (400, "bad signature")
    stale = delivery_headers(SECRET, "whd_one", utcnow() - timedelta(minutes=10), body.decode())
    assert refused(SECRET, stale, body)[0] == 400
    secret_only = {"x-webhook-secret": SECRET}
    verify.verify(SECRET, secret_only, body)  # the page's curl test: the secret alone
    assert refused(SECRET, secret_only, body, require_signature=True)[0] == 400
    compile(snippet("flask_receiver.py"), "flask_receiver.py", "exec")  # Flask: not installed


def test_page_curl_example_against_the_docs_fastapi_receiver(fastapi_receiver):
    url, handled = fastapi_receiver
    assert curl(url, SECRET) == 200
    assert handled == [json.loads(PAGE_BODY)]
    assert curl(url, "YOUR_WEBHOOK_SECRET") == 401
    assert curl(url, SECRET[:-1]) == 401
    assert len(handled) == 1


async def test_openline_deliveries_reach_the_docs_fastapi_receiver(fastapi_receiver):
    """openline's real sending code (signing, httpx, excerpt) against the docs' receiver:
    accepted; a retry with the same webhook-id is handled once; a tampered copy is not."""
    url, handled = fastapi_receiver
    policy = TargetPolicy(allow_private=True)  # the receiver is on loopback
    dispatcher = Dispatcher(None, None, policy, (0.0, 5.0), timeout_s=5.0)  # type: ignore[arg-type]
    payload = {"type": "call_started", "call_id": "call_docs", "agent_id": "agent_docs"}
    delivery = Claimed("whd_docs_1", "agent_webhook_docs", "call_docs", url, SECRET, payload, 0)
    try:
        first = await dispatcher.attempt(delivery)
        again = await dispatcher.attempt(delivery)
    finally:
        await dispatcher.close()
    assert first.delivered and first.status_code == 200 and first.response_excerpt
    assert again.delivered  # a retry is acknowledged...
    assert handled == [payload]  # ...and not handled twice
    body = json.dumps(payload)
    headers = delivery_headers(SECRET, "whd_docs_2", utcnow(), body)
    tampered = await asyncio.to_thread(
        httpx.post, url, content=body.replace("call_docs", "call_evil"), headers=headers
    )
    assert tampered.status_code == 400 and tampered.json() == {"error": "bad signature"}
    assert handled == [payload]


def test_page_curl_example_against_the_test_receiver():
    server = ReceiverServer(Receiver(SECRET, require_signature=False)).start()
    try:
        assert curl(server.url, SECRET) == 200
        assert curl(server.url, "YOUR_WEBHOOK_SECRET") == 401
    finally:
        server.stop()
    assert [e["call_id"] for e in server.receiver.events] == ["ac_test_123"]
    assert server.receiver.unsigned == 1 and server.receiver.refused == [401]
