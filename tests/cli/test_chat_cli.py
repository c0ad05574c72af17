"""`openline chat`: a real text call from the terminal, lines piped on stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest


def _call(server, call_id: str) -> dict:
    with server.client() as http:
        return http.get(f"/agents/calls/{call_id}").json()


def _call_id(stdout: str) -> str:
    line = next(line for line in stdout.splitlines() if line.startswith("Call id: "))
    return line.split()[2]


def test_chat_piped_lines_until_the_agent_hangs_up(cli, server, agent_id):
    result = cli("chat", agent_id, input="hello there\ntool A123\nbye\n")
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.stdout.splitlines()]
    conversation = [line for line in lines if line.startswith(("agent:", "you:"))]
    assert conversation == [
        f"agent: Hello from {agent_id}",
        "you: hello there",
        "agent: You said: hello there",  # each line waits for the answer to the one before
        "you: tool A123",
        "agent: Order A123 has shipped.",
        "you: bye",
        "agent: Goodbye!",
    ]
    assert "The agent hung up (reason: agent_ended)." in lines
    call_id = _call_id(result.stdout)
    assert lines[-1] == f"Call id: {call_id}  (openline calls get {call_id})"

    body = _call(server, call_id)
    assert body["end_reason"] == "agent_hangup" and body["agent_end_reason"] == "agent_ended"
    users = [e["text"] for e in body["transcript"] if e["role"] == "user"]
    assert users == ["hello there", "tool A123", "bye"]


def test_chat_events_shows_tools_events_and_metrics_in_time_order(cli, server, agent_id):
    result = cli("chat", agent_id, "--events", input="tool A123\nevent\n")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()

    def index(fragment: str) -> int:
        found = [i for i, line in enumerate(lines) if fragment in line]
        assert found, f"no line with {fragment!r} in:\n{result.stdout}\n{result.stderr}"
        return found[0]

    tool = index('tool      lookup_order {"order_id": "A123"}')
    event = index("event     order_processed [info] Processed order A123")
    returned = index("result    lookup_order -> shipped")
    metric = index("metric    orders_looked_up = 1")
    answer = index("assistant Order A123 has shipped.")
    asked = index("user      tool A123")
    assert asked < tool < event < returned < metric < answer, result.stdout
    assert "->" not in lines[tool]  # the result has its own line, at its own time
    assert index("event     bare_event") > answer
    assert index('metric    metric_name = "metric_value"') > answer
    assert "metric    system_call_success = true" in result.stdout
    # Every timeline line starts with the call time.
    assert lines[tool].split()[0].count(":") == 1 and "." in lines[tool].split()[0]
    assert "You hung up." in result.stdout  # end of input hangs up
    body = _call(server, _call_id(result.stdout))
    assert body["end_reason"] == "client_hangup"


def test_chat_events_shows_a_tool_result_that_comes_later_the_same_way(cli, agent_id):
    # The tail delivers the call alone, then the call again with its result.
    result = cli("chat", agent_id, "--events", input="slowtool B7\n")
    assert result.exit_code == 0, result.output
    labelled = ("user", "assistant", "tool", "result")
    timeline = [
        line.split(None, 1)[1] for line in result.stdout.splitlines() if _label(line) in labelled
    ]
    assert timeline == [
        f"assistant Hello from {agent_id}",
        "user      slowtool B7",
        'tool      lookup_order {"order_id": "B7"}',
        "result    lookup_order -> shipped",
        "assistant Order B7 has shipped.",
    ], result.stdout


def _label(line: str) -> str | None:
    """The kind of a timeline line (``mm:ss.mmm  label  text``), None for other lines."""
    words = line.split(None, 2)
    return words[1] if len(words) > 1 and words[0][2:3] == ":" else None


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_chat_waits_for_a_late_greeting_before_sending_the_first_line(cli, server, agent_id):
    # The agent greets 3 s after the call starts, like a deployment's first call.
    slow_start = '{"greet_after": 3}'
    result = cli("chat", agent_id, "--metadata", slow_start, input="hello there\n")
    assert result.exit_code == 0, result.output
    conversation = [
        line for line in result.stdout.splitlines() if line.startswith(("agent:", "you:"))
    ]
    assert conversation == [
        f"agent: Hello from {agent_id}",
        "you: hello there",
        "agent: You said: hello there",
    ]
    assert "Waiting for Scripted to greet" in result.stderr

    body = _call(server, _call_id(result.stdout))
    assistant = [e["text"] for e in body["transcript"] if e["role"] == "assistant"]
    assert assistant == [f"Hello from {agent_id}", "You said: hello there"]


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_chat_goes_on_after_a_bounded_wait_when_the_agent_never_ends_its_answer(
    cli, server, wire_url
):
    # Plain lines are answered "You said: …" with no response_end, the greeting has none.
    agent = server.create_agent("wire", self_hosted_deployment_url=wire_url)
    greeting = json.dumps({"greeting": [{"type": "message", "content": "Hi."}]})
    started = time.monotonic()
    result = cli(
        "chat", agent, "--metadata", greeting, "--reply-timeout", "0.5", input="one\ntwo\n"
    )
    assert result.exit_code == 0, result.output
    conversation = [
        line for line in result.stdout.splitlines() if line.startswith(("agent:", "you:"))
    ]
    assert conversation == [
        "agent: Hi.",
        "you: one",
        "agent: You said: one",
        "you: two",
        "agent: You said: two",
    ]
    assert result.stderr.count("no response_end") == 1  # said once, not for every answer
    assert time.monotonic() - started < 15


def test_chat_failures_exit_1_with_the_reason(cli, agent_id):
    refused = cli("chat", agent_id, "--metadata", '{"refuse": true}', input="hello\n")
    assert refused.exit_code == 1
    assert "Error: the call could not start:" in refused.stderr
    assert "not today" in refused.stderr and "(recorded as call_" in refused.stderr

    crashed = cli("chat", agent_id, input="hello\ncrash\nnever sent\n")
    assert crashed.exit_code == 1
    assert "agent: You said: hello" in crashed.stdout
    assert "Call failed: the agent connection closed unexpectedly" in crashed.stderr
    assert "never sent" not in crashed.stdout
    assert "Call id: call_" in crashed.stdout

    unknown = cli("chat", "agent_nope", input="hello\n")
    assert unknown.exit_code == 1 and "Error: no agent with id 'agent_nope'" in unknown.stderr


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_chat_as_a_real_process_reading_stdin(server, agent_id, tmp_path):
    env = os.environ | {
        "OPENLINE_URL": server.base_url,
        "OPENLINE_API_KEY": server.api_key,
        "OPENLINE_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "openline", "chat", "Scripted"],  # by name
        input="hello there\nbye\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "agent: You said: hello there" in done.stdout
    assert "The agent hung up (reason: agent_ended)." in done.stdout
    assert "Traceback" not in done.stderr
