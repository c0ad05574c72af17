"""Where webhooks may go, against a real openline: with the operator setting off (the
default), loopback and private targets are refused when saved, however the address is
spelled, and again when sent (a name resolving to this machine); a test send reports
the status code and timing, never what the endpoint answered."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from openline.config import Settings
from tests.conftest import TEST_KEY
from tests.support.receiver import Receiver, ReceiverServer
from tests.support.servers import RunningServer, openline_server
from tests.webhooks.helpers import (
    FAST,
    SECRET,
    delivery_log,
    hook_agent,
    hooked_agent,
    standard_call,
    wait_for,
)

REFUSED = "address; private targets are refused unless the operator sets "
SETTING = "OPENLINE_WEBHOOK_ALLOW_PRIVATE=true"


def server_settings(tmp_path_factory, allow_private: bool) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("targets") / "data",
        api_key=TEST_KEY,
        start_example_agent=False,
        webhook_allow_private=allow_private,
        **FAST,
    )


@pytest.fixture(scope="module")
def guarded(tmp_path_factory) -> Iterator[RunningServer]:
    """openline as installed: private targets not allowed."""
    with openline_server(server_settings(tmp_path_factory, allow_private=False)) as running:
        yield running


@pytest.fixture(scope="module")
def permissive(tmp_path_factory) -> Iterator[RunningServer]:
    """An operator allowed private targets (a development machine, say)."""
    with openline_server(server_settings(tmp_path_factory, allow_private=True)) as running:
        yield running


def create_webhook(server: RunningServer, url: str) -> dict:
    with server.client() as http:
        created = http.post("/agents/webhooks", json={"url": url, "secret": SECRET})
    assert created.status_code == 201, created.text
    return created.json()


@pytest.fixture
def receiver() -> Iterator[ReceiverServer]:
    server = ReceiverServer(Receiver(SECRET)).start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:5432/", "127.0.0.1 is a loopback "),
        ("http://localhost:8700/agents", "localhost is a loopback "),
        ("https://status.localhost/", "status.localhost is a loopback "),
        ("http://[::1]:6379/", "::1 is a loopback "),
        ("https://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is a loopback "),
        ("https://2852039166/latest/meta-data/", "2852039166 is 169.254.169.254, a link-local "),
        ("https://0xa9.0xfe.0xa9.0xfe/", "0xa9.0xfe.0xa9.0xfe is 169.254.169.254, a link-local "),
        ("https://0251.0376.0251.0376/", "0251.0376.0251.0376 is 169.254.169.254, a link-local "),
        ("https://10.1/", "10.1 is 10.0.0.1, a private "),
        ("https://0x7f.1:5432/", "0x7f.1 is 127.0.0.1, a loopback "),
        ("https://0/", "0 is 0.0.0.0, an unspecified "),
        ("https://169.254.169.254/", "169.254.169.254 is a link-local "),
        ("https://192.168.1.1/", "192.168.1.1 is a private "),
        ("https://[fd00:ec2::254]/", "fd00:ec2::254 is a private "),
        ("https://[fe80::1]/", "fe80::1 is a link-local "),
        ("https://100.64.0.1/", "100.64.0.1 is a carrier-grade NAT "),
        ("https://224.0.0.251/", "224.0.0.251 is a multicast "),
        ("https://１２７。０。０。１/", "127.0.0.1 is a loopback "),  # noqa: RUF001 (fullwidth look-alikes)
    ],
)
def test_private_targets_are_refused_when_saved(guarded, url, says):
    message = f"url: {says}{REFUSED}{SETTING}"
    with guarded.client() as http:
        refused = http.post("/agents/webhooks", json={"url": url})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["message"] == message
        fine = http.post("/agents/webhooks", json={"url": "https://hooks.example.com/in"})
        assert fine.status_code == 201, fine.text
        moved = http.patch(f"/agents/webhooks/{fine.json()['id']}", json={"url": url})
        assert moved.status_code == 422, moved.text
        assert moved.json()["error"]["message"] == message
        kept = http.get(f"/agents/webhooks/{fine.json()['id']}").json()
        assert kept["url"] == "https://hooks.example.com/in"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://1.2.3.256/", "1.2.3.256 is not a valid IPv4 address"),
        ("https://127.0.0.1.1/", "127.0.0.1.1 is not a valid IPv4 address"),
        ("https://hooks example.com/", "hooks example.com is not a valid host name"),
    ],
)
def test_malformed_hosts_are_refused_when_saved(guarded, url, says):
    with guarded.client() as http:
        refused = http.post("/agents/webhooks", json={"url": url})
    assert refused.status_code == 422 and refused.json()["error"]["message"] == f"url: {says}"


async def test_a_name_resolving_to_this_machine_is_refused_when_sent(guarded, agent_url):
    """The name passes at save (DNS can change); the send resolves it and refuses."""
    name = socket.gethostname()  # /etc/hosts (or DNS) puts it on loopback or a private net
    webhook, agent = hook_agent(guarded, f"https://{name}:5432/hooks", agent_url)
    call_id = await standard_call(guarded, agent["id"])
    await wait_for(lambda: delivery_log(guarded, webhook["id"], call_id), what="the first event")
    await wait_for(lambda: delivery_log(guarded, webhook["id"], call_id)[-1]["attempts"])
    first = delivery_log(guarded, webhook["id"], call_id)[-1]
    assert first["event_type"] == "call_started"
    attempt = first["attempts"][0]
    assert attempt["status_code"] is None and attempt["response_excerpt"] is None
    assert attempt["error"].startswith(f"target refused: {name} resolves to ")
    assert attempt["error"].endswith(f"{REFUSED}{SETTING}")


async def test_a_loopback_url_saved_before_the_rule_is_refused_when_sent(
    guarded, agent_url, receiver
):
    """A webhook stored by an older openline (or straight into the database) still
    reaches nothing on this machine: every send checks again."""
    webhook = guarded.platform.webhooks.create(receiver.url, SECRET, "old")
    refusal = f"target refused: 127.0.0.1 is a loopback {REFUSED}{SETTING}"
    with guarded.client() as http:
        tested = http.post(f"/agents/webhooks/{webhook['id']}/test")
    agent = hooked_agent(guarded, webhook["id"], agent_url, name="old")
    assert tested.status_code == 200, tested.text
    assert tested.json()["status"] == "failed"
    assert tested.json()["attempts"][0]["error"] == refusal
    call_id = await standard_call(guarded, agent["id"])
    await wait_for(lambda: delivery_log(guarded, webhook["id"], call_id), what="the first event")
    await wait_for(lambda: delivery_log(guarded, webhook["id"], call_id)[-1]["attempts"])
    (attempt, *_) = delivery_log(guarded, webhook["id"], call_id)[-1]["attempts"]
    assert attempt["error"] == refusal
    assert receiver.receiver.seen_ids == [] and receiver.receiver.refused == []


def test_the_test_send_reports_status_and_timing_never_the_answer(permissive, receiver):
    body = "SELECT secret FROM the_local_service"
    webhook = create_webhook(permissive, receiver.url)
    path = f"/agents/webhooks/{webhook['id']}"
    for status in (200, 500):
        receiver.receiver.script = [{"status": status, "body": body}]
        with permissive.client() as http:
            sent = http.post(f"{path}/test")
            logged = http.get(f"{path}/deliveries", params={"limit": 100})
        assert sent.status_code == 200, sent.text
        (attempt,) = sent.json()["attempts"]
        assert attempt["status_code"] == status and attempt["duration_ms"] > 0
        assert attempt["response_excerpt"] is None
        assert attempt["error"] == (None if status == 200 else "HTTP 500")
        assert body not in sent.text and body not in logged.text


@pytest.fixture
def not_http() -> Iterator[int]:
    """A service that answers anything with a line of its own (as Redis does)."""

    class Answer(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(65536)
            self.request.sendall(b"-ERR secret-from-the-local-service\r\n\r\n")
            while self.request.recv(65536):  # until openline hangs up
                pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Answer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_test_send_does_not_quote_a_service_that_is_not_http(permissive, not_http):
    """httpx's error for a non-HTTP answer quotes its first line; the test send keeps the
    error's name only."""
    webhook = create_webhook(permissive, f"http://127.0.0.1:{not_http}/")
    with permissive.client() as http:
        sent = http.post(f"/agents/webhooks/{webhook['id']}/test")
        logged = http.get(f"/agents/webhooks/{webhook['id']}/deliveries")
    (attempt,) = sent.json()["attempts"]
    assert attempt["status_code"] is None and attempt["error"] == "RemoteProtocolError"
    assert "secret-from-the-local-service" not in sent.text + logged.text
