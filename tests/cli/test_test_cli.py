"""`openline test`: scenario files run as real calls to the scripted agent through a real
server, checked against what it recorded."""

from __future__ import annotations

import re
import textwrap
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest

LOOKUP = """\
    name: order lookup
    agent: Scripted
    metadata: {team: support}
    caller:
      - hello there
      - tool A123
    expect:
      - assistant_says: {text: "Hello from", turn: 0}
      - assistant_says: {text: "you said: hello there", turn: 1}
      - assistant_matches: {pattern: "order \\\\w+ has shipped", turn: 2}
      - tool_called: {name: lookup_order, arguments: {order_id: A123}}
      - event: {name: order_processed, metadata: {level: info}}
      - metric: {name: orders_looked_up, equals: 1, min: 1, max: 1}
      - end_reason: client_hangup
    """

HANGUP = """\
    name: hangs up
    agent: Scripted
    caller: [score 7, bye]
    expect:
      - metric: {name: score, min: 5}
      - event: scored
      - end_reason: [agent_hangup]
    """

WRONG = """\
    name: expects what the agent never says
    agent: Scripted
    caller: [hello]
    expect:
      - assistant_says: {text: "Goodbye", turn: 1}
      - tool_called: lookup_order
    """


def write(folder, name: str, text: str):
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def run_id_of(stdout: str) -> str:
    return re.search(r"test run (run_\w+)", stdout).group(1)


def calls_of(server, run_id: str) -> list[dict]:
    with server.client() as http:
        calls = http.get("/agents/calls", params={"limit": 100}).json()["data"]
        return [
            http.get(f"/agents/calls/{call['id']}").json()
            for call in calls
            if call["metadata"].get("test_run") == run_id
        ]


def test_passing_scenarios_exit_0_and_their_calls_are_marked(cli, server, agent_id, tmp_path):
    folder = tmp_path / "scenarios"
    write(folder, "lookup.yaml", LOOKUP)
    write(folder, "hangup.yml", HANGUP)
    write(folder, "notes.txt", "not a scenario")
    result = cli("test", str(folder))
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if " pass " in f"{line} "]
    assert [row.split("  ")[0] for row in rows] == ["hangs up", "order lookup"]  # file order
    assert "2 passed, 0 failed" in result.stdout
    calls = calls_of(server, run_id_of(result.stdout))
    assert sorted(call["metadata"]["scenario"] for call in calls) == ["hangs up", "order lookup"]
    lookup = next(call for call in calls if call["metadata"]["scenario"] == "order lookup")
    assert lookup["metadata"]["team"] == "support"  # the scenario's own metadata too
    for call in calls:
        assert f"{server.base_url}/console/calls/{call['id']}" in result.stdout


def test_a_failing_expectation_exits_1_and_says_why_in_the_output_and_junit(
    cli, agent_id, tmp_path
):
    folder = tmp_path / "scenarios"
    write(folder, "a_wrong.yaml", WRONG)
    write(folder, "hangup.yaml", HANGUP)
    report = tmp_path / "out" / "junit.xml"
    report.parent.mkdir()
    result = cli("test", str(folder), "--junit", str(report))
    assert result.exit_code == 1, result.output
    assert "1 passed, 1 failed" in result.stdout
    said = "the reply to line 1 ('hello') does not contain 'Goodbye'"
    assert said in result.stdout and "the agent said 'You said: hello'" in result.stdout
    assert "tool 'lookup_order' never found; no tool was called" in result.stdout

    suite = ET.parse(report).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    failure = cases["expects what the agent never says"].find("failure")
    assert failure.get("message").startswith(f"assistant_says: {said}")
    assert failure.text.splitlines()[1].startswith("tool_called: tool 'lookup_order' never found")
    assert cases["expects what the agent never says"].get("classname").endswith("a_wrong.yaml")
    assert cases["hangs up"].find("failure") is None
    assert "/console/calls/call_" in cases["hangs up"].find("system-out").text


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\ncaller: [hi\nexpect: []\n", "bad.yaml:3: not valid YAML"),
        (
            "name: x\nagent: Scripted\ncaller: [hi]\n"
            "expect:\n  - assistant_says: hi\n  - sings: 1\n",
            "bad.yaml:6: scenario 'x': expect[1]: unknown expectation 'sings' (known: ",
        ),
        (
            "name: x\nagent: Scripted\nexpect:\n  - tool_called: {name: t, args: {}}\n",
            "bad.yaml:4: scenario 'x': expect[0].tool_called.args: unknown key",
        ),
        (
            "name: x\nagent: Nobody\nexpect: [{end_reason: agent_hangup}]\n",
            "bad.yaml: scenario 'x': no agent with id or name 'Nobody'",
        ),
        ("name: x\nexpect: [{end_reason: agent_hangup}]\n", "scenario 'x' names no agent"),
    ],
    ids=["yaml", "expectation", "key", "agent", "no-agent"],
)
def test_bad_input_exits_2_naming_the_file(cli, agent_id, tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = cli("test", str(path))
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.stderr.split()), result.stderr
    assert "passed" not in result.stdout  # nothing ran


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_an_unknown_agent_or_deployment_given_on_the_command_line_exits_2(cli, agent_id, tmp_path):
    path = write(tmp_path, "hangup.yaml", HANGUP)
    assert "no agent with id or name 'Ghost'" in cli("test", str(path), "-a", "Ghost").stderr
    missing = cli("test", str(path), "--deployment", "dep_missing")
    assert missing.exit_code == 2 and "no deployment with id 'dep_missing'" in missing.stderr


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_jobs_run_the_calls_side_by_side(cli, server, agent_id, tmp_path):
    # Each call lasts at least the agent's late greeting: run two at once, they overlap.
    for name in ("first", "second"):
        write(
            tmp_path,
            f"{name}.yaml",
            f"""\
            name: {name}
            agent: Scripted
            metadata: {{greet_after: 1}}
            caller: [hello]
            expect: [{{assistant_says: hello}}]
            """,
        )

    def spans(*options: str) -> list[tuple[datetime, datetime]]:
        result = cli("test", str(tmp_path), *options)
        assert result.exit_code == 0, result.output
        calls = calls_of(server, run_id_of(result.stdout))
        times = [(call["start_time"], call["end_time"]) for call in calls]
        return sorted((datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in times)

    (_, first_end), (second_start, _) = spans("-j", "1")
    assert first_end <= second_start  # one after the other
    (_, first_end), (second_start, _) = spans("-j", "2")
    assert second_start < first_end  # both in flight at once


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_the_agent_option_overrides_the_files(cli, server, agent_url, tmp_path):
    other = server.create_agent("Other", self_hosted_deployment_url=agent_url)
    path = write(tmp_path, "hangup.yaml", HANGUP.replace("agent: Scripted", "agent: Missing"))
    result = cli("test", str(path), "--agent", "Other")
    assert result.exit_code == 0, result.output
    [call] = calls_of(server, run_id_of(result.stdout))
    assert call["agent_id"] == other


def test_metric_passes_reads_the_calls_evaluation_results(cli, server, agent_id, tmp_path):
    with server.client() as http:
        for name, rule in [
            ("looked_up", {"type": "tool_called", "name": "lookup_order"}),
            ("said_bye", {"type": "transcript", "role": "user", "pattern": "bye"}),
        ]:
            metric = http.post(
                "/agents/metrics", json={"name": name, "prompt": name, "rule": rule}
            ).json()
            http.post(f"/agents/{agent_id}/metrics/{metric['id']}").raise_for_status()
    write(
        tmp_path,
        "judged.yaml",
        """\
        name: judged
        agent: Scripted
        caller: [tool A1]
        expect:
          - metric_passes: looked_up
          - metric_passes: said_bye
          - metric_passes: {name: never_attached}
        """,
    )
    result = cli("test", str(tmp_path))
    assert result.exit_code == 1, result.output
    problems = [line.strip() for line in result.stdout.splitlines() if line.startswith("  - ")]
    assert problems == [
        "- metric_passes: metric 'said_bye' did not pass: no user turn matched /bye/",
        "- metric_passes: no result for metric 'never_attached': is it attached to the agent?",
    ]


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_a_call_the_server_refuses_is_an_error(cli, server, tmp_path):
    server.create_agent("Nowhere")  # no deployment, no agent server URL
    path = write(tmp_path, "hangup.yaml", HANGUP.replace("agent: Scripted", "agent: Nowhere"))
    report = tmp_path / "junit.xml"
    result = cli("test", str(path), "--junit", str(report))
    assert result.exit_code == 1, result.output
    assert "hangs up  ERROR" in result.stdout
    assert "has no live deployment and no agent server URL" in result.stdout
    suite = ET.parse(report).getroot()
    assert (suite.get("failures"), suite.get("errors")) == ("0", "1")
    assert "no live deployment" in suite.find("testsuite/testcase/error").get("message")


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_a_failed_call_fails_its_scenario(cli, agent_id, tmp_path):
    crash = """\
        name: crashes
        agent: Scripted
        caller: [crash]
        expect: [{assistant_says: {text: hello, turn: 0}}]
        """
    write(tmp_path, "crash.yaml", crash)
    result = cli("test", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert "- the call failed: " in result.stdout
    expected = crash.replace("expect: [", "expect: [{end_reason: error}, ")
    write(tmp_path, "crash.yaml", expected)
    assert cli("test", str(tmp_path)).exit_code == 0
