"""Signing in, sessions, CSRF, and that no page shows a secret."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.console.conftest import sign_in, signed_in_client
from tests.console.support import screenshot


def test_wrong_key_is_refused_and_the_right_one_signs_in(page, console_server):
    page.goto("/console/calls")
    page.wait_for_url("**/console/sign-in?next=%2Fconsole%2Fcalls")
    screenshot(page, "01-sign-in")

    sign_in(page, key="ol_not_a_key_at_all", next_path="/console/calls")
    alert = page.get_by_role("alert")
    assert "not valid" in alert.inner_text()
    assert page.get_by_label("API key").input_value() == ""  # the key is never echoed back
    assert not [c for c in page.context.cookies() if c["name"] == "openline_session"]
    screenshot(page, "02-sign-in-refused")

    page.get_by_label("API key").fill(console_server.api_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/calls")  # back where the visitor was going
    session = next(c for c in page.context.cookies() if c["name"] == "openline_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/console"
    assert console_server.api_key not in session["value"]
    csrf = next(c for c in page.context.cookies() if c["name"] == "openline_csrf")
    assert csrf["httpOnly"] and csrf["sameSite"] == "Strict"

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/sign-in?notice=signed_out")
    page.goto("/console/agents")
    page.wait_for_url("**/console/sign-in**")


def test_pages_and_live_routes_need_a_session(console_server):
    with httpx.Client(base_url=console_server.base_url, follow_redirects=False) as http:
        assert http.get("/").headers["location"] == "/console/"
        for path in ("/console/agents", "/console/calls", "/console/playground"):
            reply = http.get(path)
            assert reply.status_code == 303 and "/console/sign-in" in reply.headers["location"]
        assert http.get("/console/api/agents/calls/call_x/stream").status_code == 401
        # A forged session cookie is not a session.
        http.cookies.set("openline_session", "eyJrIjoia2V5X3gifQ.forged", path="/console")
        assert http.get("/console/agents").status_code == 303
        # Only the routes the console needs pass through, even when signed in.
    with signed_in_client(console_server) as (client, _):
        assert client.get("/console/api/agents").status_code == 404
        assert client.get("/console/api/agents/calls").status_code == 404
        assert client.get("/console/agents").status_code == 200
        # The API itself still wants a key, whatever cookie comes along.
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        reply = httpx.get(console_server.base_url + "/agents", headers={"Cookie": cookie})
        assert reply.status_code == 401


def test_signing_out_ends_the_session_on_the_server(console_server):
    with signed_in_client(console_server) as (client, token):
        kept = dict(client.cookies.items())  # what a stolen or copied cookie would be
        assert client.post("/console/sign-out", data={"csrf_token": token}).status_code == 303
    with httpx.Client(base_url=console_server.base_url, follow_redirects=False) as replay:
        for name, value in kept.items():
            replay.cookies.set(name, value, path="/console")
        reply = replay.get("/console/agents")
        assert reply.status_code == 303 and "/console/sign-in" in reply.headers["location"]


def test_forms_without_the_csrf_token_are_refused(console_server):
    with signed_in_client(console_server) as (client, token):
        posts = [
            "/console/sign-out",
            "/console/calls/call_x/analyze",
            "/console/calls/call_x/deliveries/whd_x/redeliver",
        ]
        for path in posts:
            assert client.post(path, data={}).status_code == 403, path
            assert client.post(path, data={"csrf_token": "guess"}).status_code == 403, path
            other_site = client.post(
                path, data={"csrf_token": token}, headers={"Origin": "http://evil.example"}
            )
            assert other_site.status_code == 403, path
        refused = client.post("/console/sign-out", data={})
        assert "Form refused" in refused.text
        assert client.get("/console/agents").status_code == 200  # still signed in
        # The same form with its token goes through.
        assert client.post("/console/sign-out", data={"csrf_token": token}).status_code == 303
    # Signing in is a form too: without the token, even the right key is refused.
    with httpx.Client(base_url=console_server.base_url) as fresh:
        reply = fresh.post("/console/sign-in", data={"key": console_server.api_key})
        assert reply.status_code == 403 and "openline_session" not in reply.cookies


def test_the_playground_opens_calls_with_a_token_minted_for_its_session(console_server):
    with signed_in_client(console_server) as (client, token):
        assert client.post("/console/access-token", data={}).status_code == 403  # no CSRF
        other_site = client.post(
            "/console/access-token",
            data={"csrf_token": token},
            headers={"Origin": "http://evil.example"},
        )
        assert other_site.status_code == 403
        minted = client.post("/console/access-token", data={"csrf_token": token})
        assert minted.status_code == 200 and minted.headers["cache-control"] == "no-store"
        access_token = minted.json()["token"]
    assert console_server.api_key not in access_token
    # It opens the API's own call websocket (told here that the agent does not exist)...
    host = console_server.base_url.removeprefix("http://")
    with connect(f"ws://{host}/agents/stream/agent_x?access_token={access_token}") as socket:
        assert "no agent" in socket.recv(10)
    # ...and nothing else: not the REST API, and there is no cookie-authenticated socket.
    bearer = {"Authorization": f"Bearer {access_token}"}
    assert httpx.get(console_server.base_url + "/agents", headers=bearer).status_code == 401
    with pytest.raises(InvalidStatus):
        connect(f"ws://{host}/console/api/agents/stream/agent_x")
    # Signed out, no token is minted.
    with httpx.Client(base_url=console_server.base_url, follow_redirects=False) as anonymous:
        assert anonymous.post("/console/access-token", data={}).status_code in (303, 403)
