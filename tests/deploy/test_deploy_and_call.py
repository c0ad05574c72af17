"""Deploy agent code, call it through openline, read its runtime and per-call logs."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from datetime import datetime

from typer.testing import CliRunner

from openline.cli import app
from tests.deploy.support import deploy, log_lines, messages, wait_log
from tests.support.calls import TextCall
from tests.support.env_vars import stored_values


def _at(line: dict) -> datetime:
    return datetime.fromisoformat(line["timestamp"])


def cli(server, *args: str, input: str | None = None):
    env = {"OPENLINE_URL": server.base_url, "OPENLINE_API_KEY": server.api_key}
    return CliRunner().invoke(app, list(args), env=env, input=input, catch_exceptions=False)


async def test_sdk_example_deploys_with_the_cli_and_takes_calls(server, order_status_dir):
    agent_id = server.create_agent("Orders")
    result = cli(server, "deploy", str(order_status_dir), "--agent", "Orders")
    assert result.exit_code == 0, result.output
    # The build log streamed live, then the verdict.
    assert "installing dependencies from pyproject.toml" in result.output
    assert "-e " in result.output  # openline itself: editable, from its source tree
    assert "healthy after" in result.output
    assert " is live: new calls to " + agent_id in result.output

    with server.client() as http:
        (deployment,) = http.get(f"/agents/{agent_id}/deployments").json()
        shown = http.get(f"/agents/{agent_id}").json()
        (listed,) = [a for a in http.get("/agents").json()["summaries"] if a["id"] == agent_id]
    assert shown["deployment_count"] == listed["deployment_count"] == 1
    assert deployment["status"] == "deployed" and deployment["is_live"]
    assert deployment["id"].startswith("dep_")
    assert "Installed" in deployment["build_logs"]
    for name in ("build_started_at", "build_completed_at", "deployment_completed_at"):
        assert deployment[name] is not None

    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    assert "order number" in await call.reply()
    await call.say("where is A123?")
    assert "A123 is shipped" in await call.reply()
    await call.say("bye")
    await call.reply()
    assert await call.closed() == (1000, "call ended by agent, reason: agent_ended")

    with server.client() as http:
        body = http.get(f"/agents/calls/{call.call_id}").json()
        call_logs = http.get(f"/agents/calls/{call.call_id}/logs").json()["data"]
    assert body["deployment_id"] == deployment["id"]
    assert body["status"] == "completed"
    # Per-call logs: the SDK's own records, each once (its stderr copy is not attributed).
    assert [line["message"] for line in call_logs] == [
        "call started from websocket",
        "looking up order A123",
        "caller said goodbye",
    ]
    # Runtime logs: the same lines as the process printed them, on the deployment only.
    line = wait_log(server, deployment["id"], "looking up order A123")
    assert line["stream"] == "stderr" and line["level"] == "info" and line["call_id"] is None

    result = cli(server, "logs", "Orders", "--grep", "order A123")
    assert result.exit_code == 0, result.output
    assert "INFO    stderr" in result.output and "looking up order A123" in result.output
    listed = cli(server, "deployments", "ls", "Orders")
    assert deployment["id"] in listed.output and "deployed" in listed.output

    # The call's debug bundle names the deployment that ran it, with its build log's tail.
    reply = server.get(f"/agents/calls/{call.call_id}/bundle")
    assert reply.status_code == 200, reply.text
    with zipfile.ZipFile(io.BytesIO(reply.content)) as bundle:
        ran = json.loads(bundle.read("deployment.json"))
    assert ran["id"] == deployment["id"] and ran["status"] == "deployed"
    tail = [line["message"] for line in ran["build_log_tail"]]
    assert any("installing dependencies from pyproject.toml" in line for line in tail)
    assert {line["stream"] for line in ran["build_log_tail"]} == {"build"}


async def test_env_vars_are_injected_masked_and_never_shown(server, echo_dir, tmp_path):
    agent_id = server.create_agent("Deployed")
    secret = "tok-0123456789-secret"
    env_file = tmp_path / "agent.env"
    env_file.write_text(f'export TOKEN="{secret}"\n# a comment\nMODE=test\n')
    assert cli(server, "env", "set", agent_id, "--from", str(env_file)).exit_code == 0
    assert cli(server, "env", "set", agent_id, "EXTRA=1", "ASKED", input="typed\n").exit_code == 0
    removed = cli(server, "env", "rm", agent_id, "EXTRA")
    assert removed.exit_code == 0 and secret not in removed.output
    with server.client() as http:
        assert http.patch(f"/agents/{agent_id}/env", json={"MODE": "api"}).status_code == 200
    # At rest, every value is sealed: a database dump shows none of them.
    stored = stored_values(server.platform.engine)
    assert sorted(stored) == [(agent_id, "ASKED"), (agent_id, "MODE"), (agent_id, "TOKEN")]
    for value in stored.values():
        assert value.startswith("fernet:") and secret not in value and "typed" not in value

    deployment = deploy(server, agent_id, echo_dir("v1"))
    assert deployment["status"] == "deployed", deployment
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    assert await call.reply() == "hello from v1"
    await call.say("secret")
    assert await call.reply() == "printed"
    await call.hang_up()

    line = wait_log(server, deployment["id"], "the token is")
    assert line["message"] == "the token is [redacted TOKEN]"
    with server.client() as http:
        names = http.get(f"/agents/{agent_id}/env").json()
        everything = json.dumps(
            [
                names,
                http.get(f"/agents/{agent_id}/deployments").json(),
                log_lines(server, deployment["id"]),
                http.get(f"/agents/calls/{call.call_id}/logs").json(),
            ]
        )
        refused = http.patch(f"/agents/{agent_id}/env", json={"PORT": "1"})
        bad = http.patch(f"/agents/{agent_id}/env", json={"1BAD": "x"})
    assert [row["name"] for row in names["data"]] == ["ASKED", "MODE", "TOKEN"]
    assert set(names["data"][0]) == {"name", "created_at", "updated_at"}
    assert secret not in everything and "typed" not in everything
    assert "starting python main.py on port" in everything
    assert "(env vars: ASKED, MODE, TOKEN)" in everything  # names, never values
    assert refused.status_code == 422 and bad.status_code == 422
    shown = cli(server, "env", "ls", agent_id)
    assert "TOKEN" in shown.output and secret not in shown.output


async def test_output_lines_are_attributed_to_calls_and_searchable(server, echo_dir):
    agent_id = server.create_agent("Deployed")
    deployment = deploy(server, agent_id, echo_dir("v1"))
    dep = deployment["id"]

    one = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await one.reply()
    # Alone on the deployment: even a line that names no call is this call's.
    unnamed = wait_log(server, dep, "a line that names no call")
    assert unnamed["call_id"] == one.call_id

    two = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await two.reply()
    await two.say("warn")
    assert await two.reply() == "warned"
    await asyncio.sleep(0.5)
    lines = log_lines(server, dep, q="names no call")
    assert [line["call_id"] for line in lines] == [one.call_id, None]  # two calls: ambiguous
    warned = wait_log(server, dep, "something odd")
    assert (warned["call_id"], warned["level"]) == (two.call_id, "warning")
    await one.hang_up()
    await two.hang_up()
    await asyncio.sleep(0.3)

    with server.client() as http:
        per_call = http.get(f"/agents/calls/{two.call_id}/logs").json()["data"]
        filtered = http.get(
            f"/agents/deployments/{dep}/logs", params={"call_id": two.call_id}
        ).json()["data"]
        warnings = http.get(f"/agents/deployments/{dep}/logs", params={"level": "warning"}).json()[
            "data"
        ]
        builds = http.get(f"/agents/deployments/{dep}/logs", params={"stream": "build"}).json()
        first = http.get(f"/agents/deployments/{dep}/logs", params={"limit": 3}).json()
        rest = http.get(
            f"/agents/deployments/{dep}/logs", params={"after": first["next_page"], "limit": 1000}
        ).json()
        last_two = http.get(f"/agents/deployments/{dep}/logs", params={"tail": True, "limit": 2})
        cutoff = warned["timestamp"]
        before = http.get(f"/agents/deployments/{dep}/logs", params={"until": cutoff}).json()
        after = http.get(f"/agents/deployments/{dep}/logs", params={"since": cutoff}).json()
    assert [line["message"] for line in per_call] == [
        f"call_id={two.call_id} call started on v1",
        f"call_id={two.call_id} heard 'warn'",
        f"WARNING call_id={two.call_id} something odd",
    ]
    assert [line["logger"] for line in per_call] == ["stdout"] * 3
    assert {line["call_id"] for line in filtered} == {two.call_id}
    assert [line["message"] for line in warnings] == [warned["message"]]
    assert {line["stream"] for line in builds["data"]} == {"build"}
    assert first["has_more"] and [line["seq"] for line in first["data"]] == [1, 2, 3]
    assert rest["data"][0]["seq"] == 4
    assert [line["seq"] for line in last_two.json()["data"]] == [
        line["seq"] for line in rest["data"][-2:]
    ]
    assert all(_at(line) < _at(warned) for line in before["data"])
    assert after["data"][0]["message"] == warned["message"]
    assert "WARNING" not in " ".join(messages(server, dep, stream="build"))


async def test_logs_follow_prints_lines_as_they_come_until_the_deployment_stops(server, echo_dir):
    agent_id = server.create_agent("Deployed")
    first = deploy(server, agent_id, echo_dir("v1"))
    following = asyncio.create_task(
        asyncio.to_thread(cli, server, "logs", first["id"], "-f", "--stream", "runtime")
    )
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    await call.say("followed")
    assert await call.reply() == "v1: followed"
    await call.hang_up()
    wait_log(server, first["id"], "heard 'followed'")
    # Replaced, drained, stopped: the tail ends by itself.
    assert deploy(server, agent_id, echo_dir("v2"))["status"] == "deployed"
    result = await asyncio.wait_for(following, 30)
    assert result.exit_code == 0, result.output
    assert f"call_id={call.call_id} heard 'followed'  [{call.call_id}]" in result.output
    assert "stopped (no call in flight on it any more)" in result.output
    assert result.output.rstrip().endswith(f"({first['id']} has stopped)")
    assert "build " not in result.output  # --stream runtime
