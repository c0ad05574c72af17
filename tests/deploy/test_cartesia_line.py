"""A cartesia-line agent directory deploys and takes calls unchanged, and Cartesia's
official client reads its deployment."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.deploy.support import deploy_line_agent
from tests.support.calls import TextCall

HERE = Path(__file__).parent
LINE_AGENT = HERE.parent / "interop" / "line_agent.py"


async def test_a_cartesia_line_agent_deploys_unchanged(server, tmp_path):
    directory = tmp_path / "line-agent"
    directory.mkdir()
    shutil.copy(LINE_AGENT, directory / "main.py")
    agent_id = server.create_agent("Line agent")
    deployment = deploy_line_agent(server, agent_id, directory)

    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    assert await call.reply() == "Welcome to the order desk."
    await call.say("where is order Z42")
    assert await call.reply() == "Order Z42 is in transit."
    await call.say("ok bye")
    assert await call.reply() == "Bye now."
    assert await call.closed() == (1000, "call ended by agent, reason: user_said_bye")

    with server.client() as http:
        body = http.get(f"/agents/calls/{call.call_id}").json()
    assert body["deployment_id"] == deployment["id"]
    events = [e["log_event"]["event"] for e in body["transcript"] if "log_event" in e]
    assert events == ["order_processed"]

    python = server.platform.deployments.paths(deployment["id"]).venv / "bin" / "python"
    official = subprocess.run(
        [
            str(python),
            str(HERE / "official_client.py"),
            server.base_url,
            server.api_key,
            agent_id,
            deployment["id"],
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(official.stdout)
    assert seen["listed"] == [[deployment["id"], "deployed", True]]
    assert seen["one"]["id"] == deployment["id"] and seen["one"]["is_live"] is True
    assert seen["one"]["build_logs"] and seen["one"]["source_code_file_id"].startswith("src_")
