"""Scenario files: every expectation in its long and short form, and every malformed file
refused with its file and line."""

from __future__ import annotations

import textwrap

import pytest

from openline.domain.calls import EndReason
from openline.scenarios.spec import (
    AssistantMatches,
    AssistantSays,
    EndReasonIn,
    EventEmitted,
    MaxLatency,
    MetricPasses,
    MetricValue,
    Say,
    SpecError,
    ToolCalled,
    load_file,
    load_path,
)


def write(folder, name: str, text: str):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_long_and_short_forms(tmp_path):
    path = write(
        tmp_path,
        "all.yaml",
        """\
        name: every kind
        agent: Support
        metadata: {team: a, n: 1}
        caller:
          - hello
          - text: where is A123?
        expect:
          - assistant_says: hi
          - assistant_says: {text: shipped, turn: 2}
          - assistant_matches: "A\\\\d+"
          - assistant_matches: {pattern: "^Hi", turn: 0}
          - tool_called: lookup_order
          - tool_called: {name: lookup_order, arguments: {order_id: A123, n: 2}}
          - event: order_processed
          - event: {name: order_processed, metadata: {level: info}}
          - metric: csat
          - metric: {name: csat, equals: 5}
          - metric: {name: csat, min: 1, max: 5}
          - metric_passes: confirmed
          - metric_passes: {name: confirmed}
          - end_reason: agent_hangup
          - end_reason: [agent_hangup, client_hangup]
          - max_latency: 1.5
          - max_latency: {seconds: 2}
        """,
    )
    [scenario] = load_file(path)
    assert (scenario.name, scenario.agent, scenario.file) == ("every kind", "Support", path)
    assert scenario.metadata == {"team": "a", "n": 1}
    assert scenario.caller == [Say(text="hello"), Say(text="where is A123?")]
    assert scenario.expect == [
        AssistantSays(text="hi"),
        AssistantSays(text="shipped", turn=2),
        AssistantMatches(pattern="A\\d+"),
        AssistantMatches(pattern="^Hi", turn=0),
        ToolCalled(name="lookup_order"),
        ToolCalled(name="lookup_order", arguments={"order_id": "A123", "n": 2}),
        EventEmitted(name="order_processed"),
        EventEmitted(name="order_processed", metadata={"level": "info"}),
        MetricValue(name="csat"),
        MetricValue(name="csat", equals=5),
        MetricValue(name="csat", min=1, max=5),
        MetricPasses(name="confirmed"),
        MetricPasses(name="confirmed"),
        EndReasonIn(any_of=[EndReason.AGENT_HANGUP]),
        EndReasonIn(any_of=[EndReason.AGENT_HANGUP, EndReason.CLIENT_HANGUP]),
        MaxLatency(seconds=1.5),
        MaxLatency(seconds=2),
    ]
    metric = scenario.expect[9]
    assert isinstance(metric, MetricValue) and metric.wants_equal
    assert not scenario.expect[8].wants_equal  # type: ignore[union-attr]
    assert scenario.needs_results


def test_a_list_of_scenarios_and_a_folder_of_files(tmp_path):
    write(
        tmp_path,
        "b.yml",
        """\
        scenarios:
          - {name: two, expect: [{end_reason: agent_hangup}]}
          - {name: three, expect: [{end_reason: agent_hangup}]}
        """,
    )
    write(tmp_path, "a.yaml", "name: one\nexpect: [{end_reason: agent_hangup}]\n")
    write(tmp_path, "notes.md", "not read")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "c.yaml", "not read: [")
    scenarios = load_path(tmp_path)
    assert [s.name for s in scenarios] == ["one", "two", "three"]
    assert [s.file.name for s in scenarios] == ["a.yaml", "b.yml", "b.yml"]
    assert not scenarios[0].needs_results


def test_names_are_unique_across_files(tmp_path):
    write(tmp_path, "a.yaml", "name: same\nexpect: [{end_reason: agent_hangup}]\n")
    write(tmp_path, "b.yaml", "name: same\nexpect: [{end_reason: error}]\n")
    with pytest.raises(SpecError, match=r"b\.yaml: scenario 'same' is also in .*a\.yaml"):
        load_path(tmp_path)


def test_a_folder_without_scenarios_and_a_missing_path(tmp_path):
    with pytest.raises(SpecError, match="no scenario files"):
        load_path(tmp_path)
    with pytest.raises(SpecError, match="no such file or folder"):
        load_path(tmp_path / "missing.yaml")


BAD = [
    ("name: x\ncaller: [hi\n", "3: not valid YAML"),
    ("- a\n- b\n", "1: a scenario is a mapping"),
    ("scenarios: {name: x}\n", "1: `scenarios:` must be the file's only key, a list"),
    (
        "scenarios:\n  - name: x\n    expect: [max_latency: 1]\n  - 3\n",
        "4: a scenario is a mapping",
    ),
    ("name: x\n", "1: scenario 'x': expect: Field required"),
    ("name: x\nexpect: []\n", "2: scenario 'x': expect: List should have at least 1 item"),
    ("name: x\ncolour: red\nexpect: [{max_latency: 1}]\n", "2: scenario 'x': colour: unknown key"),
    (
        "name: x\nexpect:\n  - max_latency: 1\n  - sings: loud\n",
        "4: scenario 'x': expect[1]: unknown expectation 'sings' (known: assistant_says,",
    ),
    (
        "name: x\nexpect:\n  - {assistant_says: hi, tool_called: t}\n",
        "3: scenario 'x': expect[0]: an expectation is a mapping with one key",
    ),
    (
        "name: x\nexpect:\n  - tool_called:\n      name: t\n      args: {}\n",
        "5: scenario 'x': expect[0].tool_called.args: unknown key",
    ),
    (
        "name: x\nexpect:\n  - assistant_matches: '(unclosed'\n",
        "3: scenario 'x': expect[0].assistant_matches.pattern: not a regular expression",
    ),
    (
        "name: x\nexpect:\n  - end_reason: [agent_hangup, bored]\n",
        "3: scenario 'x': expect[0].end_reason.any_of[1]: Input should be",
    ),
    ("name: x\nexpect:\n  - max_latency: 0\n", "greater than 0"),
    (
        "name: x\ncaller:\n  - hi\n  - audio: hello.wav\nexpect: [{max_latency: 1}]\n",
        "4: scenario 'x': caller[1]: audio lines are not supported yet",
    ),
    (
        "name: x\ncaller: [hi]\nexpect:\n  - assistant_says: {text: a, turn: 2}\n",
        "1: scenario 'x': assistant_says names turn 2, but the caller says 1 line",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[expected for _, expected in BAD])
def test_malformed_files_are_refused_with_file_and_line(tmp_path, text, expected):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(SpecError) as refused:
        load_file(path)
    assert str(refused.value).startswith(f"{path}:"), refused.value
    assert expected in str(refused.value), refused.value
