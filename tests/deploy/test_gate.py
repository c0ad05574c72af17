"""Scenarios run against a given deployment of an agent, live or not, and the deploy gate:
real uploads, real builds, real agent processes, real calls."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from websockets.sync.client import connect

from openline.deploy.archive import pack
from openline.scenarios.caller import CallRefused, open_call
from tests.cli import conftest as cli_fixtures
from tests.console.conftest import signed_in_client
from tests.deploy.conftest import AGENTS
from tests.deploy.support import deploy, get, wait_for, wait_log
from tests.support.servers import openline_server
from tests.support.waiting import wait_until

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


def call_record(server, call_id: str) -> dict:
    with server.client() as http:
        return http.get(f"/agents/calls/{call_id}").json()


def call_of(server, stdout: str) -> dict:
    """The call a run of one scenario made (its console link is in the output)."""
    return call_record(server, re.search(r"/console/calls/(call_\w+)", stdout).group(1))


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


class Release:
    """An HTTP endpoint that answers a GET only once :meth:`open` is called: a call to the
    gate agent with ``metadata.release_url`` waits for it before the agent greets."""

    def __init__(self) -> None:
        opened = self.opened = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                opened.wait(120)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/release"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def open(self) -> None:
        self.opened.set()

    def close(self) -> None:
        self.opened.set()
        self._server.shutdown()


def wait_held(server, deployment_id: str) -> dict:
    return wait_for(server, deployment_id, lambda d: d["status"] == "held", 120, "to be held")


def deployments_of(server, agent_id: str) -> list[dict]:
    with server.client() as http:
        return http.get(f"/agents/{agent_id}/deployments").json()


def greet(server, agent_id: str) -> tuple[str, str]:
    """A call to the agent (its live deployment): its id and the greeting."""
    with connect(f"{server.ws_url}/agents/stream/{agent_id}?access_token={server.api_key}") as ws:
        ws.send(json.dumps({"event": "start"}))
        call_id = json.loads(ws.recv())["call_id"]
        while (event := json.loads(ws.recv()))["event"] != "agent_text":
            pass
    return call_id, event["text"]


def test_the_gate_makes_a_passing_deployment_live_and_refuses_a_failing_one(
    cli, server, gate_dir, scenarios, tmp_path
):
    agent_id = server.create_agent("Gated")
    passed = cli("deploy", "--agent", agent_id, str(gate_dir("good")), "--test", str(scenarios))
    assert passed.exit_code == 0, passed.output
    assert "1 passed, 0 failed" in passed.stdout and "is live" in passed.stdout
    [good] = deployments_of(server, agent_id)
    assert (good["status"], good["is_live"], good["hold"]) == ("deployed", True, False)
    assert good["test_run"]["passed"] is True
    assert [s["name"] for s in good["test_run"]["scenarios"]] == ["answers well"]

    # The broken deployment's scenario call waits for the release: the gate is under way.
    release = Release()
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "answers.yaml").write_text(ANSWERS + f"metadata: {{release_url: '{release.url}'}}\n")
    done: dict = {}
    gate = threading.Thread(
        target=lambda: done.update(
            result=cli(
                "deploy",
                "--agent",
                agent_id,
                str(gate_dir("bad")),
                "--test",
                str(slow),
                "--reply-timeout",
                "60",
            )
        )
    )
    gate.start()
    try:
        held = wait_until(
            lambda: next((d for d in deployments_of(server, agent_id) if d["hold"]), None),
            within=180,
        )
        wait_until(lambda: server.platform.deployments.inflight.count(held["id"]) == 1)
        # A call made meanwhile goes to the live deployment, not to the one under test.
        call_id, greeting = greet(server, agent_id)
        assert greeting == "hello from good"
        assert call_record(server, call_id)["deployment_id"] == good["id"]
        assert get(server, held["id"])["status"] == "held"
    finally:
        release.open()
        gate.join(120)
        release.close()
    result = done["result"]
    assert result.exit_code == 1, result.output
    assert "0 passed, 1 failed" in result.stdout
    assert "does not contain 'good: hello'; the agent said 'bad: hello'" in result.stdout
    reason = "refused by the deploy gate: 1 scenario(s) failed: answers well"
    assert reason in " ".join(result.stderr.split())
    assert "the agent's live deployment is unchanged" in result.stderr

    refused = get(server, held["id"])
    assert (refused["status"], refused["is_live"], refused["hold"]) == (
        "deploy_error",
        False,
        False,
    )
    assert refused["deployment_error"] == reason
    [scenario] = refused["test_run"]["scenarios"]
    assert refused["test_run"]["passed"] is False and scenario["passed"] is False
    assert "the agent said 'bad: hello'" in scenario["failures"][0]
    tested = call_record(server, scenario["call_id"])
    assert tested["deployment_id"] == held["id"] and tested["metadata"]["test_run"]
    assert server.platform.deployments.running(held["id"]) is None  # its process stopped
    assert get(server, good["id"])["is_live"]
    assert greet(server, agent_id)[1] == "hello from good"

    # The deployment's console page shows the test run.
    with signed_in_client(server) as (console, _):
        page = console.get(f"/console/deployments/{held['id']}").text
    run = page.split('<h2 id="test-run-h">Test run</h2>', 1)[1].split("</section>", 1)[0]
    assert "0 of 1 scenarios passed" in run and "answers well" in run and "badge-fail" in run
    assert "bad: hello" in run and f'href="/console/calls/{scenario["call_id"]}"' in run


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_a_held_deployment_runs_beside_the_live_one_until_promoted(server, gate_dir):
    agent_id = server.create_agent("Gated")
    live = deploy(server, agent_id, gate_dir("good"))
    with server.client() as http:
        reply = http.post(
            f"/agents/{agent_id}/deployments",
            params={"hold": "true"},
            content=pack(gate_dir("next")),
            headers={"Content-Type": "application/gzip"},
        )
        assert reply.status_code == 201 and reply.json()["hold"] is True
        held = wait_held(server, reply.json()["id"])
        assert (held["is_live"], held["test_run"]) == (False, None)
        assert get(server, live["id"])["is_live"]
        assert greet(server, agent_id)[1] == "hello from good"

        not_held = http.post(f"/agents/deployments/{live['id']}/test_run", json=RUN)
        assert not_held.status_code == 409
        assert "is not held for its tests (deployed)" in not_held.json()["error"]["message"]
        assert http.post(f"/agents/deployments/{held['id']}/test_run", json={}).status_code == 422
        recorded = http.post(f"/agents/deployments/{held['id']}/test_run", json=RUN).json()
        assert (recorded["status"], recorded["test_run"]["passed"]) == ("held", True)
        assert recorded["test_run"]["scenarios"] == RUN["scenarios"]
        pid = server.platform.deployments.repo.get(held["id"])["pid"]

        assert http.post(f"/agents/deployments/{held['id']}/promote").status_code == 202
    promoted = wait_for(server, held["id"], lambda d: d["is_live"], 60, "to go live")
    assert (promoted["status"], promoted["hold"]) == ("deployed", False)
    assert server.platform.deployments.repo.get(held["id"])["pid"] == pid  # the same process
    assert greet(server, agent_id)[1] == "hello from next"
    assert get(server, live["id"])["status"] == "inactive"


RUN = {
    "run_id": "run_1",
    "scenarios": [
        {"name": "a", "file": "a.yaml", "passed": True, "failures": [], "call_id": "call_1"}
    ],
}


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_a_held_deployment_is_refused_when_openline_restarts(settings, gate_dir):
    with openline_server(settings) as server:
        agent_id = server.create_agent("Gated")
        with server.client() as http:
            reply = http.post(
                f"/agents/{agent_id}/deployments?hold=true",
                content=pack(gate_dir("next")),
                headers={"Content-Type": "application/gzip"},
            )
        wait_held(server, reply.json()["id"])
    with openline_server(settings) as server:
        row = get(server, reply.json()["id"])
        assert (row["status"], row["hold"]) == ("deploy_error", False)
        assert "openline restarted while it was held for its tests" in row["deployment_error"]


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_bad_scenarios_stop_the_gate_before_anything_is_uploaded(cli, server, gate_dir, tmp_path):
    agent_id = server.create_agent("Gated")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nexpect:\n  - sings: loud\n")
    result = cli("deploy", "--agent", agent_id, str(gate_dir("good")), "--test", str(bad))
    assert result.exit_code == 2, result.output
    assert f"{bad}:3: scenario 'x': expect[0]: unknown expectation 'sings'" in result.stderr
    assert deployments_of(server, agent_id) == []
