"""`openline metrics …` and the metric results in `openline calls get`, against a real
server and a real scripted agent: metrics made with rules, attached, judged after a real
call, listed, exported as CSV, detached; and what bad input says."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

from openline.cli._errors import CliError
from openline.cli.metrics import CsvRows, describe_rule, metric_rule, transcript_rule
from tests.cli.support import make_call

NO_JUDGE = "no LLM judge is configured"


def analysed(server, call_id: str) -> dict:
    """The call once its analysis (summary and every metric result) is stored."""
    with server.client() as http:
        deadline = time.monotonic() + 30
        while True:
            call = http.get(f"/agents/calls/{call_id}").json()
            if call["summary"] is not None:
                return call
            assert time.monotonic() < deadline, f"{call_id} was never analysed"
            time.sleep(0.05)


def row_of(table: str, *cells: str) -> str:
    """The one line of a CLI table that holds every one of ``cells``."""
    lines = [line for line in table.splitlines() if all(cell in line for cell in cells)]
    assert len(lines) == 1, (cells, table)
    return lines[0]


def test_metrics_from_create_to_results(cli, server, agent_id, tmp_path):
    made = cli(
        "metrics",
        "create",
        "scored-high",
        "--prompt",
        "Did the caller score at least 5?",
        "--display-name",
        "Scored high",
        "--metric",
        "score>=5",
    )
    assert made.exit_code == 0, made.output
    first = made.stdout.splitlines()[0]
    assert first.startswith("Created metric scored-high (metric_")
    assert first.endswith("): metric score >= 5")
    assert "openline metrics attach scored-high AGENT" in made.stdout
    rule_file = tmp_path / "hung-up.json"
    rule_file.write_text(json.dumps({"type": "end_reason", "in": ["agent_hangup"]}))
    for args in (
        ("said-shipped", "--transcript", "assistant:has shipped"),
        (
            "looked-up.k1",
            "--rule",
            '{"type": "tool_called", "name": "lookup_order", "arguments": {"order_id": "K1"}}',
        ),
        ("hung-up", "--rule-file", str(rule_file)),
        ("refunded", "--event", "order_refunded"),
        ("polite",),  # no rule: the LLM judge, which this server does not have
    ):
        created = cli("metrics", "create", args[0], "--prompt", f"{args[0]}?", *args[1:])
        assert created.exit_code == 0, created.output

    with server.client() as http:
        api = {
            m["name"]: m for m in http.get("/agents/metrics", params={"limit": 100}).json()["data"]
        }
    assert set(api) == {
        "scored-high",
        "said-shipped",
        "looked-up.k1",
        "hung-up",
        "refunded",
        "polite",
    }
    assert api["scored-high"]["rule"] == {"type": "metric", "name": "score", "op": ">=", "value": 5}
    assert api["scored-high"]["display_name"] == "Scored high"
    assert api["said-shipped"]["rule"] == {
        "type": "transcript",
        "role": "assistant",
        "pattern": "has shipped",
    }
    assert api["hung-up"]["rule"] == {"type": "end_reason", "in": ["agent_hangup"]}
    assert "rule" not in api["polite"]

    duplicate = cli("metrics", "create", "scored-high", "--prompt", "again")
    assert duplicate.exit_code == 1
    assert duplicate.stderr.strip() == (
        "Error: a metric named 'scored-high' exists already (HTTP 409)"
    )

    listed = cli("metrics", "ls")
    assert listed.exit_code == 0
    assert listed.stdout.splitlines()[0].split() == [
        "ID",
        "NAME",
        "DISPLAY",
        "NAME",
        "JUDGED",
        "BY",
        "CREATED",
        "(UTC)",
    ]
    row_of(listed.stdout, api["scored-high"]["id"], "Scored high", "metric score >= 5")
    row_of(listed.stdout, "said-shipped", "assistant turn matches /has shipped/")
    row_of(listed.stdout, "looked-up.k1", 'tool lookup_order called {"order_id": "K1"}')
    row_of(listed.stdout, "hung-up", "end reason in agent_hangup")
    row_of(listed.stdout, "refunded", "event order_refunded")
    row_of(listed.stdout, "polite", "LLM judge")
    as_json = json.loads(cli("metrics", "ls", "--json").stdout)
    assert {m["id"]: m for m in as_json} == {m["id"]: m for m in api.values()}
    none_yet = cli("metrics", "ls", "--agent", "Scripted")
    assert none_yet.exit_code == 0 and "No metrics attached to Scripted" in none_yet.stdout

    shown = cli("metrics", "get", "scored-high")  # by name
    assert shown.exit_code == 0
    for fragment in (
        api["scored-high"]["id"],
        "Did the caller score at least 5?",
        "metric score >= 5",
        json.dumps(api["scored-high"]["rule"]),  # the rule as the API has it
    ):
        assert fragment in shown.stdout, fragment
    by_id = cli("metrics", "get", api["polite"]["id"], "--json")
    assert json.loads(by_id.stdout) == api["polite"]

    for name in api:
        attached = cli("metrics", "attach", name, "Scripted")
        assert attached.exit_code == 0, attached.output
        assert attached.stdout.startswith(f"Attached metric {name} to agent Scripted")
    on_agent = json.loads(cli("metrics", "ls", "--agent", agent_id, "--json").stdout)
    assert sorted(m["name"] for m in on_agent) == sorted(api)

    call_id = make_call(server, agent_id, "score 7", "tool K1", "bye")
    analysed(server, call_id)

    table = cli("metrics", "results")
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[0].split() == [
        "TIME",
        "(UTC)",
        "CALL",
        "METRIC",
        "STATUS",
        "PASSED",
        "VALUE",
        "REASON",
    ]
    row_of(
        table.stdout, call_id, "scored-high", "completed", "✓", "7", "metric 'score' was 7, >= 5"
    )
    row_of(table.stdout, "said-shipped", "completed", "✓", "true", "1 assistant turn matched")
    row_of(table.stdout, "looked-up.k1", "✓", "tool 'lookup_order' with")
    row_of(table.stdout, "hung-up", "✓", "agent_hangup")
    row_of(
        table.stdout, "refunded", "completed", "✗", "false", "event 'order_refunded' never found"
    )
    row_of(table.stdout, "polite", "failed", NO_JUDGE)

    results = json.loads(cli("metrics", "results", "--json").stdout)
    assert {r["metricName"] for r in results} == set(api)
    assert {r["callId"] for r in results} == {call_id}
    with server.client() as http:
        from_api = http.get("/agents/metrics/results", params={"limit": 100}).json()["data"]
    assert results == from_api
    by_name = {r["metricName"]: r for r in results}
    assert by_name["polite"]["status"] == "failed" and by_name["polite"]["passed"] is None
    assert by_name["refunded"]["passed"] is False

    one = json.loads(cli("metrics", "results", "--metric", "scored-high", "--json").stdout)
    assert [r["id"] for r in one] == [by_name["scored-high"]["id"]]
    of_call = cli("metrics", "results", "--call", call_id, "--agent", "Scripted", "--json")
    assert len(json.loads(of_call.stdout)) == len(api)
    assert len(json.loads(cli("metrics", "results", "--since", "1h", "--json").stdout)) == len(api)
    future = cli("metrics", "results", "--start", "2999-01-01")
    assert future.exit_code == 0 and future.stdout.strip() == "No results match."
    limited = cli("metrics", "results", "--limit", "2")
    assert len(limited.stdout.splitlines()) == 3  # the heading and two rows
    assert "Showing the 2 newest; --limit shows more." in limited.stderr

    out = tmp_path / "results.csv"
    exported = cli("metrics", "results", "--export", "csv", "--agent", "Scripted", "-o", str(out))
    assert exported.exit_code == 0, exported.output
    assert f"Exported {len(api)} metric results (csv) to {out}" in exported.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [row["id"] for row in rows] == [r["id"] for r in results]
    scored = next(row for row in rows if row["metricName"] == "scored-high")
    assert (scored["status"], scored["passed"], scored["value"], scored["callId"]) == (
        "completed",
        "true",
        "7",
        call_id,
    )
    assert next(row for row in rows if row["metricName"] == "polite")["reason"].startswith(NO_JUDGE)
    to_stdout = cli("metrics", "results", "--export", "csv", "--metric", "hung-up")
    assert to_stdout.exit_code == 0
    streamed = list(csv.DictReader(io.StringIO(to_stdout.stdout)))
    assert [(row["metricName"], row["passed"]) for row in streamed] == [("hung-up", "true")]
    assert "Exported 1 metric result (csv) to stdout" in to_stdout.stderr

    view = cli("calls", "get", call_id)
    assert view.exit_code == 0
    assert "\n\nMetric results\n" in view.stdout  # a section of its own, after the transcript
    after = view.stdout.split("Metric results", 1)[1]
    assert after.splitlines()[1].split() == ["METRIC", "STATUS", "PASSED", "VALUE", "REASON"]
    row_of(after, "scored-high", "completed", "✓", "7", "metric 'score' was 7, >= 5")
    row_of(after, "refunded", "✗", "never found")
    row_of(after, "polite", "failed", NO_JUDGE)
    with server.client() as http:
        assert json.loads(cli("calls", "get", call_id, "--json").stdout) == (
            http.get(f"/agents/calls/{call_id}").json()
        )

    detached = cli("metrics", "detach", "scored-high", "Scripted")
    assert detached.exit_code == 0
    assert detached.stdout.strip() == "Detached metric scored-high from agent Scripted."
    left = json.loads(cli("metrics", "ls", "--agent", "Scripted", "--json").stdout)
    assert sorted(m["name"] for m in left) == sorted(set(api) - {"scored-high"})
    again = cli("metrics", "detach", "scored-high", "Scripted")
    assert again.exit_code == 1
    assert f"is not attached to agent {agent_id}" in again.stderr
    kept = cli("metrics", "results", "--metric", "scored-high", "--json")
    assert len(json.loads(kept.stdout)) == 1  # detaching keeps the results so far


def test_a_call_without_metrics_shows_no_results_section(cli, server, agent_id):
    call_id = make_call(server, agent_id, "hello", "bye")
    analysed(server, call_id)
    view = cli("calls", "get", call_id)
    assert view.exit_code == 0 and "Metric results" not in view.stdout
    assert cli("metrics", "results").stdout.strip() == "No results yet."
    assert cli("metrics", "ls").stdout.startswith("No metrics yet.")


BAD_INPUT = [
    (("create", "Has Caps", "--prompt", "p"), "Error: invalid request: name: Value error, "),
    (("create", "x", "--prompt", "p", "--rule", "{not json"), "Error: --rule is not valid JSON"),
    (("create", "x", "--prompt", "p", "--rule", "[1]"), "--rule must be a JSON object"),
    (("create", "x", "--prompt", "p", "--rule", '{"type": "vibes"}'), "invalid request: rule"),
    (
        ("create", "x", "--prompt", "p", "--event", "a", "--tool", "b"),
        "Error: give one rule, not --event and --tool",
    ),
    (("create", "x", "--prompt", "p", "--metric", "score~5"), "--metric must be NAME OP"),
    (("create", "x", "--prompt", "p", "--transcript", "robot:hi"), "--transcript must be"),
    (
        ("create", "x", "--prompt", "p", "--transcript", "assistant:(unclosed"),
        "not a regular expression",
    ),
    (("create", "x", "--prompt", "p", "--rule-file", "/nope/rule.json"), "cannot read"),
    (("create", "x", "--prompt", "p", "--end-reason", "lunch"), "invalid request: rule"),
    (("get", "nope"), "Error: no metric with id or name 'nope' (see `openline metrics ls`)"),
    (("get", "metric_nope"), "Error: no metric with id or name 'metric_nope'"),
    (("attach", "nope", "Scripted"), "no metric with id or name 'nope'"),
    (("attach", "known", "Ghost"), "Error: no agent with id or name 'Ghost'"),
    (("attach", "known", "agent_ghost"), "Error: no agent with id 'agent_ghost'"),
    (("detach", "known", "Scripted"), "is not attached to agent"),
    (("ls", "--agent", "Ghost"), "no agent with id or name 'Ghost'"),
    (("results", "--metric", "nope"), "no metric with id or name 'nope'"),
    (("results", "--since", "soon"), "Error: --since: 'soon' is not a time"),
    (("results", "--since", "1h", "--start", "2h"), "give either --since or --start / --end"),
    (
        ("results", "--start", "2026-02-01", "--end", "2026-01-01"),
        "invalid request: start_date is after end_date",
    ),
    (("results", "--export", "csv", "--limit", "3"), "leave out --limit and --json"),
    (("results", "-o", "out.csv"), "-o / --output goes with --export csv"),
]


def test_bad_input_is_one_clear_line(cli, server, agent_id):
    with server.client() as http:
        http.post("/agents/metrics", json={"name": "known", "prompt": "p"}).raise_for_status()
    for args, says in BAD_INPUT:
        failed = cli("metrics", *args)
        assert failed.exit_code == 1, (args, failed.output)
        assert says in failed.stderr, (args, failed.stderr)
        assert failed.stderr.startswith("Error: "), (args, failed.stderr)
        assert len(failed.stderr.strip().splitlines()) == 1, (args, failed.stderr)
    with server.client() as http:
        names = [m["name"] for m in http.get("/agents/metrics").json()["data"]]
    assert names == ["known"]  # nothing refused was made


def test_rule_options_and_descriptions():
    assert metric_rule("score>=5") == {"type": "metric", "name": "score", "op": ">=", "value": 5}
    assert metric_rule(" latency_ms < 2.5 ")["value"] == 2.5
    assert metric_rule("x!=-1")["op"] == "!="
    with pytest.raises(CliError):
        metric_rule("score >= lots")
    assert transcript_rule("User:refund|money back") == {
        "type": "transcript",
        "role": "user",
        "pattern": "refund|money back",
    }
    assert transcript_rule("assistant:a:b")["pattern"] == "a:b"  # the first colon splits
    assert describe_rule(None) == "LLM judge"
    assert (
        describe_rule(
            {
                "type": "transcript",
                "role": "user",
                "pattern": "x",
                "absent": True,
                "ignore_case": False,
            }
        )
        == "no user turn matches /x/ (case-sensitive)"
    )


def test_csv_rows_are_counted_as_they_stream():
    text = 'id,reason\r\nr1,"two\r\nlines"\r\nr2,"a ""quoted"", word"\r\nr3,plain\r\n'
    data = text.encode()
    for size in (1, 2, 3, 7, len(data)):
        rows = CsvRows()
        for start in range(0, len(data), size):
            rows.feed(data[start : start + size])
        assert rows.count == 3, size
    assert CsvRows().feed(b"id,reason\r\n") == 0
