"""Deployed agent code runs sandboxed: it cannot read openline's keys, its database,
other deployments or the host's home directory, and it still serves calls."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import time
import uuid
from pathlib import Path

import pytest

from tests.deploy.conftest import AGENTS
from tests.deploy.support import deploy, greeting, wait_log
from tests.support.calls import TextCall
from tests.support.servers import openline_server


def _probe_dir(tmp_path: Path, targets: list[str]) -> Path:
    directory = tmp_path / "probe"
    shutil.copytree(AGENTS / "probe", directory)
    (directory / "targets.json").write_text(json.dumps(targets))
    return directory


@pytest.fixture
def home_file():
    """A file in the home directory of the user openline runs as (``/root`` here)."""
    path = Path.home() / f".openline-probe-{uuid.uuid4().hex}"
    path.write_text("private\n")
    yield path
    path.unlink()


async def test_an_agent_cannot_read_keys_database_or_other_deployments(
    server, echo_dir, tmp_path, home_file
):
    data = server.settings.data_dir.resolve()
    other = deploy(server, server.create_agent("Other"), echo_dir("v1"))
    assert other["status"] == "deployed", other
    other_dir = data / "deployments" / other["id"]
    hidden = [
        data / "credentials",  # the admin API key
        data / "secrets_key",  # opens every agent's env var values
        other_dir / "src" / "main.py",
        other_dir,
        home_file,
        Path(f"/proc/{os.getpid()}/environ"),  # openline's own environment
    ]
    if server.settings.database_url is None:
        hidden.append(data / "openline.db")
    hidden += [path for path in (Path("/run/postgresql"),) if path.exists()]  # its socket
    assert all(path.exists() for path in hidden)  # on the host they are there

    agent_id = server.create_agent("Probe")
    targets = [str(path) for path in hidden] + [str(data), str(data / "deployments")]
    deployment = deploy(server, agent_id, _probe_dir(tmp_path, targets))
    assert deployment["status"] == "deployed", deployment
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    report = json.loads(await call.reply())
    await call.hang_up()

    seen = report["seen"]
    assert {str(path): seen[str(path)] for path in hidden} == {
        str(path): "FileNotFoundError" for path in hidden
    }
    # Of the data dir, only the agent's own deployment is there.
    assert seen[str(data)] == "listed: ['deployments']"
    assert seen[str(data / "deployments")] == f"listed: [{deployment['id']!r}]"
    if os.getuid() == 0:  # openline runs as root: the agent does not
        assert report["uid"] != 0
    start = wait_log(server, deployment["id"], "starting python main.py")
    assert start["level"] == "info" and "in a bubblewrap sandbox" in start["message"]
    wait_log(server, deployment["id"], "probe report:")  # its output is still captured


async def test_an_agent_dies_with_its_sandbox(server, echo_dir):
    """The pid on record is the sandbox's; killing it leaves no agent holding its port."""
    agent_id = server.create_agent("Deployed")
    deployment = deploy(server, agent_id, echo_dir("v1"))
    runner = server.platform.deployments.running(deployment["id"])
    port = int(runner.url.rsplit(":", 1)[1])
    os.kill(runner.process.pid, signal.SIGKILL)
    wait_log(server, deployment["id"], "was killed by SIGKILL")
    deadline = time.monotonic() + 15
    while _listening(port):
        assert time.monotonic() < deadline, f"the agent outlived its sandbox on port {port}"
        await asyncio.sleep(0.1)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_without_bubblewrap_a_deployment_fails_and_says_why(settings, echo_dir, monkeypatch):
    monkeypatch.setenv("OPENLINE_DEPLOY_BWRAP", "no-such-bwrap")
    with openline_server(settings) as server:
        deployment = deploy(server, server.create_agent("Deployed"), echo_dir("v1"))
    assert deployment["status"] == "deploy_error", deployment
    assert "bubblewrap (no-such-bwrap) is not installed" in deployment["deployment_error"]
    assert "OPENLINE_DEPLOY_SANDBOX=false" in deployment["deployment_error"]


async def test_with_the_sandbox_turned_off_each_start_is_a_warning(settings, echo_dir, monkeypatch):
    monkeypatch.setenv("OPENLINE_DEPLOY_SANDBOX", "false")
    with openline_server(settings) as server:
        agent_id = server.create_agent("Deployed")
        deployment = deploy(server, agent_id, echo_dir("v1"))
        assert deployment["status"] == "deployed", deployment
        assert await greeting(server, agent_id) == "hello from v1"
        start = wait_log(server, deployment["id"], "starting python main.py")
    assert start["level"] == "warning"
    assert start["message"].endswith(
        "unsandboxed, as openline's user (OPENLINE_DEPLOY_SANDBOX=false)"
    )
