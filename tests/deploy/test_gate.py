"""Scenarios run against a given deployment of an agent, live or not: real uploads, real
builds, real agent processes, real calls."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.sync.client import connect

from openline.scenarios.caller import CallRefused, open_call
from tests.cli import conftest as cli_fixtures
from tests.deploy.conftest import AGENTS
from tests.deploy.support import deploy, wait_log

cli = cli_fixtures.cli  # `openline` run in-process against the server (a fixture)

ANSWERS = """\
name: answers well
caller: [hello]
expect:
  - assistant_says: {text: "good: hello", turn: 1}
"""


@pytest.fixture
def gate_dir(tmp_path) -> Callable[[str], Path]:
    """``gate_dir("good")``: a copy of the gate agent that greets and answers as that."""

    def make(version: str) -> Path:
        directory = tmp_path / f"gate-{version}"
        shutil.copytree(AGENTS / "gate", directory)
        (directory / "version.txt").write_text(version)
        return directory

    return make


@pytest.fixture
def scenarios(tmp_path) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "answers.yaml").write_text(ANSWERS)
    return folder


def call_of(server, stdout: str) -> dict:
    call_id = re.search(r"/console/calls/(call_\w+)", stdout).group(1)
    with server.client() as http:
        return http.get(f"/agents/calls/{call_id}").json()


def test_scenarios_call_the_deployment_they_are_given(cli, server, gate_dir, scenarios):
    agent_id = server.create_agent("Gated")
    first = deploy(server, agent_id, gate_dir("good"))
    # A call in flight keeps the first deployment running once the second replaces it.
    with connect(f"{server.ws_url}/agents/stream/{agent_id}?access_token={server.api_key}") as held:
        held.send(json.dumps({"event": "start"}))
        assert json.loads(held.recv())["event"] == "ack"
        second = deploy(server, agent_id, gate_dir("other"))
        assert second["is_live"]

        draining = cli("test", str(scenarios), "--deployment", first["id"])
        assert draining.exit_code == 0, draining.output
        assert call_of(server, draining.stdout)["deployment_id"] == first["id"]
        live = cli("test", str(scenarios), "--deployment", second["id"])
        assert live.exit_code == 1, live.output
        assert "the agent said 'other: hello'" in live.stdout
        assert call_of(server, live.stdout)["deployment_id"] == second["id"]

    wait_log(server, first["id"], "stopped (no call in flight on it any more)")
    stopped = cli("test", str(scenarios), "--deployment", first["id"])
    assert stopped.exit_code == 1, stopped.output
    refusal = f"deployment {first['id']} is not running (inactive)"
    assert refusal in " ".join(stopped.stdout.split())

    other = server.create_agent("Other")
    with pytest.raises(CallRefused, match=f"agent {other} has no deployment '{second['id']}'"):
        asyncio.run(open_call(server, other, {}, second["id"]))
