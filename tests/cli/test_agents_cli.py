"""`openline agents …` against a real server, and how the CLI finds server and key."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from openline.cli import app
from openline.voice.providers import STT_PROVIDERS, TTS_PROVIDERS
from tests.support.servers import free_port


def test_agents_round_trip(cli, agent_url):
    created = cli(
        "agents",
        "create",
        "Support bot",
        "--url",
        agent_url,
        "--description",
        "answers orders",
        "--system-prompt",
        "be terse",
        "--introduction",
        "hi there",
        "--metadata",
        '{"team": "support"}',
        "--json",
    )
    assert created.exit_code == 0, created.output
    agent = json.loads(created.stdout)
    agent_id = agent["id"]
    assert agent_id.startswith("agent_")
    assert agent["self_hosted_deployment_url"] == agent_url
    assert agent["metadata"] == {"team": "support"}

    plain = cli("agents", "create", "Second", "--url", agent_url)
    assert plain.exit_code == 0 and "Created agent agent_" in plain.stdout
    assert "openline chat agent_" in plain.stdout

    listed = cli("agents", "ls")
    assert listed.exit_code == 0
    row = next(line for line in listed.stdout.splitlines() if agent_id in line)
    assert "Support bot" in row and agent_url in row
    names = {a["name"] for a in json.loads(cli("agents", "ls", "--json").stdout)}
    assert names == {"Support bot", "Second"}

    shown = cli("agents", "get", agent_id)
    assert shown.exit_code == 0
    assert "answers orders" in shown.stdout and "be terse" in shown.stdout
    by_name = json.loads(cli("agents", "get", "Support bot", "--json").stdout)
    assert by_name["id"] == agent_id and by_name["introduction"] == "hi there"

    updated = cli(
        "agents",
        "update",
        agent_id,
        "--name",
        "Orders bot",
        "--description",
        "",
        "--metadata",
        '{"team": "orders", "tier": 2}',
    )
    assert updated.exit_code == 0 and f"Updated agent {agent_id} (Orders bot)" in updated.stdout
    after = json.loads(cli("agents", "get", agent_id, "--json").stdout)
    assert after["name"] == "Orders bot"
    assert after["description"] is None  # "" clears
    assert after["metadata"] == {"team": "orders", "tier": 2}
    assert after["system_prompt"] == "be terse"  # untouched

    removed = cli("agents", "rm", "Orders bot")
    assert removed.exit_code == 0 and f"Deleted agent {agent_id}" in removed.stdout
    gone = cli("agents", "get", agent_id)
    assert gone.exit_code == 1
    assert f"Error: no agent with id '{agent_id}'" in gone.stderr
    assert "Traceback" not in gone.output
    assert [a["name"] for a in json.loads(cli("agents", "ls", "--json").stdout)] == ["Second"]


def test_input_errors_and_how_server_and_key_are_found(cli, server):
    bad_json = cli("agents", "create", "X", "--metadata", "{nope")
    assert bad_json.exit_code == 1
    assert bad_json.stderr.startswith("Error: --metadata is not valid JSON")
    not_object = cli("agents", "create", "X", "--metadata", "[1, 2]")
    assert "--metadata must be a JSON object" in not_object.stderr

    refused = cli("agents", "create", "X", "--url", "ftp://example.com")  # the API says 422
    assert refused.exit_code == 1
    assert refused.stderr.strip().splitlines() == [
        (
            "Error: invalid request: self_hosted_deployment_url: Value error, must be an "
            "http:// or https:// URL of the agent server"
        )
    ]
    nothing = cli("agents", "update", "agent_x")
    assert nothing.exit_code == 1 and "nothing to change" in nothing.stderr
    unknown = cli("agents", "rm", "No such name")
    assert unknown.exit_code == 1
    assert "no agent with id or name 'No such name'" in unknown.stderr
    assert json.loads(cli("agents", "ls", "--json").stdout) == []  # nothing was created

    # No key given: the one `openline up` saved in the data dir is used.
    saved = cli(
        "agents",
        "ls",
        env={"OPENLINE_API_KEY": None, "OPENLINE_DATA_DIR": str(server.settings.data_dir)},
    )
    assert saved.exit_code == 0, saved.output

    no_key = cli("agents", "ls", env={"OPENLINE_API_KEY": None})
    assert no_key.exit_code == 1
    assert "missing API key" in no_key.stderr and "credentials" in no_key.stderr

    wrong = cli("agents", "ls", env={"OPENLINE_API_KEY": "ol_wrong"})
    assert wrong.exit_code == 1
    assert "invalid API key" in wrong.stderr and "--api-key" in wrong.stderr

    # Root options win over the environment.
    flag = cli(
        "--url",
        server.base_url,
        "--api-key",
        server.api_key,
        "agents",
        "ls",
        env={"OPENLINE_URL": "http://127.0.0.1:9", "OPENLINE_API_KEY": "ol_wrong"},
    )
    assert flag.exit_code == 0, flag.output


def test_server_down_is_one_clear_line(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(
        app,
        ["calls", "ls"],
        env={"OPENLINE_URL": url, "OPENLINE_API_KEY": "k", "OPENLINE_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        (
            f"Error: cannot reach openline at {url} (connection refused). Start a server "
            "with `openline up`, or point --url / OPENLINE_URL at a running one."
        )
    ]
    chat = CliRunner().invoke(
        app,
        ["chat", "agent_x"],
        input="hello\n",
        env={"OPENLINE_URL": url, "OPENLINE_API_KEY": "k", "OPENLINE_DATA_DIR": str(tmp_path)},
    )
    assert chat.exit_code == 1 and "cannot reach openline" in chat.stderr


def test_agent_voice_settings(cli):
    created = cli(
        "agents",
        "create",
        "Voice bot",
        "--no-recording",
        "--stt-provider",
        STT_PROVIDERS[0],
        "--tts-provider",
        TTS_PROVIDERS[0],
        "--tts-voice",
        "narrator",
        "--tts-language",
        "en-GB",
        "--json",
    )
    assert created.exit_code == 0, created.output
    agent = json.loads(created.stdout)
    assert agent["recording_enabled"] is False
    assert (agent["stt_provider"], agent["tts_provider"]) == (STT_PROVIDERS[0], TTS_PROVIDERS[0])
    assert (agent["tts_voice"], agent["tts_language"]) == ("narrator", "en-GB")

    shown = cli("agents", "get", agent["id"]).stdout
    assert re.search(r"recording\s+off", shown) and re.search(r"voice\s+narrator", shown)

    updated = cli("agents", "update", agent["id"], "--recording", "--stt-provider", "", "--json")
    assert updated.exit_code == 0, updated.output
    changed = json.loads(updated.stdout)
    assert changed["recording_enabled"] is True and changed["stt_provider"] is None
    assert changed["tts_voice"] == "narrator"  # untouched
    shown = cli("agents", "get", agent["id"]).stdout
    assert re.search(r"speech to text\s+platform default", shown)

    bad = cli("agents", "update", agent["id"], "--tts-provider", "nope")
    assert bad.exit_code == 1
    assert "invalid request: tts_provider" in bad.stderr and "unknown provider 'nope'" in bad.stderr


def test_an_agent_opts_its_metrics_in_to_prometheus(cli):
    created = cli("agents", "create", "Shop", "--prometheus-metrics", "order_value, llm_tokens")
    assert created.exit_code == 0, created.output
    agent_id = created.stdout.split()[2]
    shown = cli("agents", "get", agent_id).stdout
    assert re.search(r"prometheus metrics\s+order_value, llm_tokens", shown)
    cleared = cli("agents", "update", agent_id, "--prometheus-metrics", "", "--json")
    assert cleared.exit_code == 0, cleared.output
    assert json.loads(cleared.stdout)["prometheus_metrics"] == []
