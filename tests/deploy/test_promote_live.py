"""Promoting the live deployment restarts it with the agent's current env vars, and the
calls in flight on it finish on the process they started on."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from openline.cli import app
from tests.deploy.support import deploy, get, greeting, wait_log
from tests.support.calls import TextCall
from tests.support.servers import openline_server


def _cli(server, *args: str):
    env = {"OPENLINE_URL": server.base_url, "OPENLINE_API_KEY": server.api_key}
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def _environ(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


def _pid(server, deployment_id: str) -> int:
    return server.platform.deployments.running(deployment_id).process.pid


async def test_promoting_the_live_deployment_restarts_it_with_changed_env_vars(server, echo_dir):
    agent_id = server.create_agent("Deployed")
    assert _cli(server, "env", "set", agent_id, "REGION=us").exit_code == 0
    deployment = deploy(server, agent_id, echo_dir("v1"))
    before = _pid(server, deployment["id"])
    held = await TextCall.open(server.ws_url, agent_id, server.api_key)
    assert await held.reply() == "hello from v1"

    changed = _cli(server, "env", "set", agent_id, "REGION=eu")
    assert "promote the live deployment" in changed.output
    promoted = _cli(server, "deployments", "promote", deployment["id"])
    assert promoted.exit_code == 0, promoted.output
    assert f"{deployment['id']} is live" in promoted.output
    assert "restarting it with the agent's current env vars" in promoted.output

    # A new process runs with the new value; the old one still serves its call …
    after = _pid(server, deployment["id"])
    assert after != before
    assert (_environ(after)["REGION"], _environ(before)["REGION"]) == ("eu", "us")
    row = get(server, deployment["id"])
    assert (row["status"], row["is_live"], row["deployment_error"]) == ("deployed", True, None)
    assert await greeting(server, agent_id) == "hello from v1"
    await held.say("still there?")
    assert await held.reply() == "v1: still there?"
    await held.say("bye")
    await held.reply()
    await held.closed()

    # … and stops once it has none in flight; calls go on, to the new process.
    wait_log(server, deployment["id"], "stopped (no call in flight on it any more)")
    assert not Path(f"/proc/{before}").exists()
    assert _pid(server, deployment["id"]) == after
    assert await greeting(server, agent_id) == "hello from v1"


async def test_stopping_openline_mid_drain_stops_the_process_a_restart_replaced(settings, echo_dir):
    with openline_server(settings) as server:
        agent_id = server.create_agent("Deployed")
        deployment = deploy(server, agent_id, echo_dir("v1"))
        before = _pid(server, deployment["id"])
        held = await TextCall.open(server.ws_url, agent_id, server.api_key)
        assert await held.reply() == "hello from v1"
        assert _cli(server, "deployments", "promote", deployment["id"]).exit_code == 0
        after = _pid(server, deployment["id"])
        assert after != before and Path(f"/proc/{before}").exists()  # draining: held call
    # Its pid is no longer on record (the new process's is): openline stopped it itself.
    assert not Path(f"/proc/{before}").exists()
    assert not Path(f"/proc/{after}").exists()
