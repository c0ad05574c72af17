"""Deploying, waiting and reading logs for the deployment tests."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from openline.deploy.archive import pack
from tests.support.calls import TextCall

SETTLED = {"deployed", "build_error", "deploy_error", "skipped", "inactive"}
LINE_REQUIREMENTS = "cartesia-line==0.2.19\ncartesia==4.2.0\n"
# What uv says when it cannot reach the package index.
OFFLINE = ("Failed to fetch", "Could not connect", "dns error", "error sending request")


async def greeting(server, agent_id: str) -> str:
    """What the agent says first on a new text call (hung up after it)."""
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    said = await call.reply()
    await call.hang_up()
    return said


def upload(server, agent_id: str, body: bytes) -> dict:
    with server.client() as http:
        reply = http.post(
            f"/agents/{agent_id}/deployments",
            content=body,
            headers={"Content-Type": "application/gzip"},
        )
        assert reply.status_code == 201, reply.text
        return reply.json()


def deploy(server, agent_id: str, directory: Path, timeout_s: float = 120) -> dict:
    """Upload ``directory`` and wait until the deployment settles."""
    return wait_settled(server, upload(server, agent_id, pack(directory))["id"], timeout_s)


def deploy_line_agent(server, agent_id: str, directory: Path) -> dict:
    """Deploy a cartesia-line agent (``main.py`` in ``directory``) with the real SDK from
    PyPI; skips the test when the package index cannot be reached."""
    (directory / "requirements.txt").write_text(LINE_REQUIREMENTS)
    deployment = deploy(server, agent_id, directory, timeout_s=300)
    if deployment["status"] == "build_error" and any(
        text in line for line in messages(server, deployment["id"]) for text in OFFLINE
    ):
        pytest.skip(f"the package index is unreachable: {deployment['build_error']}")
    assert deployment["status"] == "deployed", deployment
    return deployment


def get(server, deployment_id: str) -> dict:
    with server.client() as http:
        return http.get(f"/agents/deployments/{deployment_id}").json()


def wait_settled(server, deployment_id: str, timeout_s: float = 120) -> dict:
    return wait_for(server, deployment_id, lambda d: d["status"] in SETTLED, timeout_s, "to settle")


def wait_for(server, deployment_id: str, test, timeout_s: float = 30, what: str = "") -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        row = get(server, deployment_id)
        if test(row):
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"{deployment_id} did not {what or 'change'}: {row}")
        time.sleep(0.1)


def log_lines(server, deployment_id: str, **params) -> list[dict]:
    with server.client() as http:
        reply = http.get(
            f"/agents/deployments/{deployment_id}/logs", params={"limit": 1000} | params
        )
        reply.raise_for_status()
        return reply.json()["data"]


def wait_log(server, deployment_id: str, text: str, timeout_s: float = 15) -> dict:
    """The first line containing ``text``, once it is stored."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log_lines(server, deployment_id, q=text):
            return line
        time.sleep(0.1)
    messages = [line["message"] for line in log_lines(server, deployment_id)]
    raise AssertionError(f"no {text!r} in the log of {deployment_id}: {messages}")


def messages(server, deployment_id: str, **params) -> list[str]:
    return [line["message"] for line in log_lines(server, deployment_id, **params)]
