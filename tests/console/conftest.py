"""Console fixtures: one openline server per test module (SQLite: the store's behaviour
on both databases is covered by the other suites; here the browser is what is tested),
one Chromium for the session, a fresh browser context per test."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from openline.config import Settings
from tests.conftest import TEST_KEY
from tests.console.support import text_call, wait_for
from tests.support.receiver import Receiver, ReceiverServer
from tests.support.servers import RunningServer, openline_server

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 800}  # a laptop screen


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is missing: run scripts/bootstrap.sh (it installs Debian's chromium)")
    return found


@contextmanager
def chromium(*extra_args: str) -> Iterator[Browser]:
    """Debian's Chromium, headless; a module may add flags (a fake microphone)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=[*CHROMIUM_ARGS, *extra_args]
        )
        yield launched
        launched.close()


# Per module, not per session: sync Playwright keeps an event loop running in this thread
# while it is started, which the asyncio tests collected after these would trip over.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def console_server(tmp_path_factory) -> Iterator[RunningServer]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("console") / "data",
        api_key=TEST_KEY,
        start_example_agent=False,
        webhook_allow_private=True,  # the scenario's webhook receiver is on loopback
    )
    with openline_server(settings) as running:
        yield running


@pytest.fixture
def page(browser: Browser, console_server: RunningServer) -> Iterator[Page]:
    context = browser.new_context(base_url=console_server.base_url, viewport=VIEWPORT)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def sign_in(page: Page, key: str = TEST_KEY, next_path: str = "") -> None:
    page.goto("/console/sign-in" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture(scope="module")
def session_cookies(console_server: RunningServer) -> list[dict]:
    """The cookies of a console session (signed in once per module, over HTTP)."""
    with signed_in_client(console_server) as (client, _):
        return [
            {
                "name": cookie.name,
                "value": cookie.value,
                "domain": "127.0.0.1",
                "path": "/console",
                "httpOnly": True,
                "sameSite": "Strict",
            }
            for cookie in client.cookies.jar
        ]


@pytest.fixture
def console(page: Page, session_cookies: list[dict]) -> Page:
    """A page signed in to the console, on the agents page."""
    page.context.add_cookies(session_cookies)
    page.goto("/console/agents")
    return page


@contextmanager
def signed_in_client(server: RunningServer) -> Iterator[tuple[httpx.Client, str]]:
    """An HTTP client holding a console session, and its CSRF token."""
    with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) as client:
        form = client.get("/console/sign-in").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        reply = client.post("/console/sign-in", data={"csrf_token": token, "key": server.api_key})
        assert reply.status_code == 303, reply.text
        page = client.get("/console/agents").text
        yield client, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


# -- a few real calls, made once per module -------------------------------------------------

WEBHOOK_SECRET = "whsec_console_test_secret_42"
ENV_VALUE = "sk-live-console-env-value-7731"


@dataclass
class Scenario:
    agent_id: str  # "Order desk": webhook attached, made the main call
    other_agent_id: str  # "Small talk": no webhook
    webhook_id: str
    webhook_secret: str
    env_value: str
    main_call: str  # tool call, event + metric, log lines, agent hangs up
    plain_call: str  # small talk, the caller hangs up
    failed_call: str  # the agent crashes
    receiver: Receiver
    receiver_url: str


@pytest.fixture(scope="module")
def scenario(console_server: RunningServer, agent_url: str) -> Iterator[Scenario]:
    receiver_server = ReceiverServer(Receiver(WEBHOOK_SECRET)).start()
    with console_server.client() as http:
        webhook = http.post(
            "/agents/webhooks",
            json={"url": receiver_server.url, "secret": WEBHOOK_SECRET, "display_name": "Receiver"},
        ).json()
        agent = http.post(
            "/agents",
            json={
                "name": "Order desk",
                "description": "Looks up orders.",
                "self_hosted_deployment_url": agent_url,
                "webhook_id": webhook["id"],
                "introduction": "hi",
            },
        ).json()
        other = http.post(
            "/agents", json={"name": "Small talk", "self_hosted_deployment_url": agent_url}
        ).json()
        http.patch(f"/agents/{agent['id']}/env", json={"ORDER_API_TOKEN": ENV_VALUE})

    ws, key = console_server.ws_url, console_server.api_key
    with text_call(ws, agent["id"], key) as main:
        main.next("agent_text")  # the greeting
        main.say("tool A123")
        main.say("event")
        main.say("logs 1")
        main.say("bye")
        main.closed()
    with text_call(ws, other["id"], key) as plain:
        plain.next("agent_text")
        plain.say("what a lovely day")
    with text_call(ws, other["id"], key) as failed:
        failed.next("agent_text")
        failed.say("crash")
        failed.closed()

    calls = console_server.platform.calls
    wait_for(lambda: (calls.get(main.call_id) or {}).get("summary"), what="the summary")
    wait_for(
        lambda: any(
            e["type"] == "post_call_analysis"
            for e in receiver_server.receiver.of_call(main.call_id)
        ),
        what="the webhooks",
    )
    wait_for(
        lambda: all(
            (calls.get(c) or {}).get("status") not in (None, "started")
            for c in (plain.call_id, failed.call_id)
        ),
        what="the calls to end",
    )
    yield Scenario(
        agent_id=agent["id"],
        other_agent_id=other["id"],
        webhook_id=webhook["id"],
        webhook_secret=WEBHOOK_SECRET,
        env_value=ENV_VALUE,
        main_call=main.call_id,
        plain_call=plain.call_id,
        failed_call=failed.call_id,
        receiver=receiver_server.receiver,
        receiver_url=receiver_server.url,
    )
    receiver_server.stop()
