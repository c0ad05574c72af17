"""`openline stats` (totals, groups, series, --compare) and `openline analytics rebuild`
against a real server, on both databases: real calls through the scripted agent, and
calls of two deployments written into the server's database the way a call's end writes
them, then tallied by the server's own keeper."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from openline.cli import app
from openline.cli.stats import sparkline
from openline.domain.time import rfc3339, utcnow
from openline.store import schema
from openline.store.rollups import queue_tallies
from tests.cli.support import make_call
from tests.store.test_rollups import store_call, store_results
from tests.support.waiting import wait_until

# Written calls: dep_a's are odd numbers, dep_b's even (see facts_of in test_rollups):
# n s long, response latency n/100 s, failed when n % 4 == 2, the assistant's last turn
# interrupted when n % 4 == 0, the tool failing when n % 10 == 0.
DEP_A = {"dep_a": (1, 3, 5, 7)}
DEP_B = {"dep_b": (10, 12, 14, 16)}


def analytics(server, **params) -> dict:
    with server.client() as http:
        reply = http.get("/agents/analytics", params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


def tallied(server, count: int, **params) -> dict:
    """The report once the server's keeper has tallied ``count`` calls (a few seconds after
    their end)."""
    return wait_until(
        lambda: (
            (found := analytics(server, **params))["totals"]["calls"]["count"] == count and found
        ),
        within=30,
    )


@pytest.fixture
def two_deployments(server, agent_id) -> str:
    """Eight ended calls of ``agent_id`` started ten minutes ago, four per deployment."""
    start = utcnow() - timedelta(minutes=10)
    for deployment, numbers in (DEP_A | DEP_B).items():
        for n in numbers:
            store_call(
                server.platform.engine, n, start + timedelta(seconds=n), deployment,
                agent_id=agent_id, agent_name="Scripted",
            )  # fmt: skip
    tallied(server, 8, agent_id=agent_id)
    return agent_id


def row(output: str, first: str) -> list[str]:
    """The table row starting with ``first``, split on runs of two spaces or more."""
    return cells(next(line for line in output.splitlines() if line.startswith(first)))


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split("  ") if cell.strip()]


def test_stats_of_real_calls(cli, server, agent_id):
    for score in (1, 3):
        make_call(server, agent_id, f"score {score}", "tool Q1", "bye")
    make_call(server, agent_id, "crash")
    tallied(server, 3, agent_id=agent_id)

    shown = cli("stats", "Scripted", "--since", "1h")
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert out.startswith(f"Fleet analytics: Scripted ({agent_id})")
    assert row(out, "calls ") == ["calls", "3"]
    assert row(out, "completed") == ["completed", "2"]
    assert row(out, "failed") == ["failed", "1"]
    assert row(out, "failure rate") == ["failure rate", "33.3 %"]
    assert row(out, "end reasons") == ["end reasons", "agent_hangup 2, error 1"]
    assert row(out, "interrupted") == ["interrupted", "0 (0.0 %)"]
    assert row(out, "response")[:2] == ["response", "6"]  # score, tool, bye, twice
    assert row(out, "tts_ttfb") == ["tts_ttfb", "0", "-", "-", "-", "-"]  # text calls
    assert row(out, "lookup_order") == ["lookup_order", "2", "0", "0.0 %"]
    assert row(out, "score")[:5] == ["score", "2", "2", "1", "3"]  # count, mean, min, max
    assert row(out, "system_call_success") == ["system_call_success", "3", "true 2, false 1"]
    assert row(out, "scored") == ["scored", "2", "info 2"]
    assert "Series (a mark per minute, " in out
    series = out[out.index("Series") :]
    calls, failed = row(series, "calls"), row(series, "failed")
    # The three calls fall in one minute, or in two when the test crosses a minute's end.
    minutes = analytics(server, agent_id=agent_id, bucket="minute")["series"]
    busy = [entry["calls"]["count"] for entry in minutes if entry["calls"]["count"]]
    assert calls[1].strip("▁") == sparkline(busy) and calls[2] == f"peak {max(busy)}"
    assert failed[1].strip("▁") == "█" and failed[2] == "peak 1"

    long = cli("stats", "--since", "30h", "--bucket", "minute").stdout  # 1800 buckets
    assert "Series (a mark per 11 minutes, 180" in long  # folded to fit 200 columns
    # in one mark, unless the minutes the calls fell in are split between two marks
    peaks = {"peak 3", f"peak {max(busy)}"}
    assert row(long[long.index("Series") :], "calls")[2] in peaks

    everyone = cli("stats", "--by", "agent", "--since", "1h")
    assert everyone.exit_code == 0, everyone.output
    assert everyone.stdout.startswith("Fleet analytics: every agent")
    assert row(everyone.stdout, f"Scripted ({agent_id})")[1:5] == ["3", "2", "1", "33.3 %"]
    by_deployment = cli("stats", agent_id, "--by", "deployment", "--since", "1h").stdout
    assert row(by_deployment, "(no deployment)")[1:5] == ["3", "2", "1", "33.3 %"]


def test_sparklines_scale_to_the_peak():
    assert sparkline([0, 1, 8, None, 4]) == "▁▂█ ▅"  # above zero at least ▂; None a blank
    assert sparkline([0, 0]) == "▁▁" and sparkline([None]) == " "


def test_stats_json_is_the_api_reply(cli, server, agent_id):
    make_call(server, agent_id, "score 5", "bye")
    params = {"start": rfc3339(utcnow() - timedelta(hours=2)), "end": rfc3339(utcnow())}
    expected = tallied(server, 1, agent_id=agent_id, group_by="deployment_id", **params)
    printed = cli(
        "stats", "Scripted", "--start", params["start"], "--end", params["end"],
        "--by", "deployment", "--json",
    )  # fmt: skip
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == expected
    assert expected["bucket"] == "minute"


def test_stats_refuses_what_it_cannot_answer(cli, server, agent_id):
    cases = [
        (("--since", "yesterday"), "--since: 'yesterday' is not a time"),
        (("--since", "2h", "--start", "3h"), "either --since or --start / --end"),
        (("nobody",), "no agent with id or name 'nobody'"),
        (("agent_nobody",), "agent_nobody"),
        (("--metadata", "nocolon"), "invalid request: metadata: 'nocolon' is not key:value"),
        (("--start", "1h", "--end", "2h"), "invalid request: start must be before end"),
        (("--since", "30d", "--bucket", "minute"), "use a coarser bucket"),
        (("--compare", "dep_a", "dep_b"), "--compare needs the AGENT"),
        (("Scripted", "--compare", "a", "b", "--by", "agent"), "leave out --by"),
    ]
    for args, message in cases:
        refused = cli("stats", *args)
        assert refused.exit_code == 1, (args, refused.output)
        assert refused.stderr.startswith("Error: ") and message in refused.stderr, args
        assert "Traceback" not in refused.output


def test_compare_marks_what_got_worse(cli, server, two_deployments):
    agent_id = two_deployments
    shown = cli("stats", "Scripted", "--compare", "dep_a", "dep_b")
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert out.startswith(f"Scripted ({agent_id}): dep_b against dep_a")
    assert row(out, "MEASURE") == ["MEASURE", "dep_a", "dep_b", "CHANGE"]
    assert row(out, "calls count") == ["calls count", "4", "4", "±0 %"]
    assert row(out, "calls failure rate") == [
        "calls failure rate", "0.0 %", "50.0 %", "from 0", "▲ worse",
    ]  # fmt: skip
    assert row(out, "turns interrupted share") == [
        "turns interrupted share", "0.0 %", "16.7 %", "from 0", "▲ worse",
    ]  # fmt: skip
    for q in ("p50", "p95", "p99"):
        assert row(out, f"latency response {q}")[-1] == "▲ worse"
        assert row(out, f"latency tts_ttfb {q}") == [
            f"latency tts_ttfb {q}",
            "200 ms",
            "200 ms",
            "±0 %",
        ]  # the same in both: not worse
    assert row(out, "tool lookup error rate") == [
        "tool lookup error rate", "0.0 %", "25.0 %", "from 0", "▲ worse",
    ]  # fmt: skip
    assert row(out, "metric score mean") == ["metric score mean", "4", "13", "+225.0 %"]
    assert row(out, "event order_processed per call") == [
        "event order_processed per call", "1", "1", "±0 %",
    ]  # fmt: skip
    worse = [line for line in out.splitlines() if line.endswith("▲ worse")]
    assert len(worse) == 6
    assert "6 measures worse by more than 10 %." in out

    reverse = cli("stats", agent_id, "--compare", "dep_b", "dep_a")
    assert "▲ worse" not in reverse.stdout
    assert "Nothing got worse by more than 10 %." in reverse.stdout

    compared = json.loads(cli("stats", "Scripted", "--compare", "dep_a", "dep_b", "--json").stdout)
    assert compared["agent_id"] == agent_id
    assert compared["before"]["deployment_id"] == "dep_a"
    assert compared["after"]["calls"] == {
        "count": 4, "completed": 2, "failed": 2,
        "end_reasons": {"error": 2, "agent_hangup": 2},
    }  # fmt: skip
    changes = {change["measure"]: change for change in compared["changes"]}
    assert changes["failure rate"] == {
        "section": "calls", "measure": "failure rate", "before": 0.0, "after": 0.5, "worse": True,
    }  # fmt: skip
    p95 = changes["response p95"]  # nearest rank: 0.07 s and 0.16 s, within 1 %
    assert p95["before"] == pytest.approx(0.07, rel=0.01)
    assert p95["after"] == pytest.approx(0.16, rel=0.01)
    assert changes["tts_ttfb p95"]["worse"] is False
    assert changes["score mean"] == {
        "section": "metrics", "measure": "score mean", "before": 4.0, "after": 13.0, "worse": None,
    }  # fmt: skip
    assert sorted(m for m, change in changes.items() if change["worse"]) == [
        "failure rate", "interrupted share", "lookup error rate",
        "response p50", "response p95", "response p99",
    ]  # fmt: skip


def test_compare_says_which_deployment_has_no_calls(cli, server, two_deployments):
    missing = cli("stats", "Scripted", "--compare", "dep_a", "dep_zzz")
    assert missing.exit_code == 1
    assert "no ended calls of Scripted" in missing.stderr and "from dep_zzz between" in (
        missing.stderr
    )
    assert "deployments with calls: dep_a, dep_b" in missing.stderr
    old = cli("stats", "Scripted", "--compare", "dep_a", "dep_b", "--since", "2d", "--end", "1d")
    assert old.exit_code == 1 and "either --since or --start / --end" in old.stderr
    earlier = cli(
        "stats", "Scripted", "--compare", "dep_a", "dep_b", "--start", "2d", "--end", "1d"
    )
    assert earlier.exit_code == 1 and "from dep_a or dep_b between" in earlier.stderr


def test_stats_by_deployment_and_metadata(cli, server, two_deployments):
    shown = cli("stats", "Scripted", "--by", "deployment")
    assert shown.exit_code == 0, shown.output
    assert row(shown.stdout, "dep_a")[:5] == ["dep_a", "4", "4", "0", "0.0 %"]
    assert row(shown.stdout, "dep_b")[:5] == ["dep_b", "4", "2", "2", "50.0 %"]
    assert row(shown.stdout, "calls ") == ["calls", "8"]
    autumn = cli("stats", "Scripted", "--metadata", "campaign:autumn")  # the even calls
    assert "metadata campaign:autumn" in autumn.stdout.splitlines()[0]
    assert row(autumn.stdout, "calls ") == ["calls", "4"]
    none = cli("stats", "Scripted", "--metadata", "campaign:winter")
    assert none.exit_code == 0 and "No ended calls in this range." in none.stdout


def rebuild_env(server) -> dict[str, str]:
    return {"OPENLINE_DATABASE_URL": server.settings.database_url or ""}


def test_rebuild_remakes_what_the_api_answers(cli, server, two_deployments):
    params = {
        "agent_id": two_deployments,
        "start": rfc3339(utcnow() - timedelta(hours=1)),
        "end": rfc3339(utcnow()),
        "group_by": "deployment_id",
    }
    before = analytics(server, **params)
    engine = server.platform.engine
    with engine.begin() as connection:
        connection.execute(schema.analytics_rollups.delete())
        connection.execute(schema.call_tallies.delete())
    assert analytics(server, **params)["totals"]["calls"]["count"] == 0

    data_dir = str(server.settings.data_dir)
    rebuilt = cli("analytics", "rebuild", "--data-dir", data_dir, env=rebuild_env(server))
    assert rebuilt.exit_code == 0, rebuilt.output
    assert rebuilt.stdout.startswith("Rebuilt fleet analytics from 8 calls in ")
    assert analytics(server, **params) == before
    again = cli("analytics", "rebuild", "--data-dir", data_dir, env=rebuild_env(server))
    assert again.exit_code == 0 and analytics(server, **params) == before


def test_rebuild_needs_the_servers_database(tmp_path):
    refused = CliRunner().invoke(
        app,
        ["analytics", "rebuild", "--data-dir", str(tmp_path / "nothing")],
        env={"OPENLINE_DATABASE_URL": ""},
    )
    assert refused.exit_code == 1
    assert "Error: no openline database at" in refused.stderr
    assert not (tmp_path / "nothing").exists()  # and it made none


@pytest.fixture
def evaluated_deployments(server, two_deployments) -> str:
    """The two deployments' calls judged: ``scored-high`` passes all of dep_a's and half
    of dep_b's, ``judge`` errs on every call; and a test run's call of dep_a that fails."""
    engine = server.platform.engine
    store_call(
        engine, 9, utcnow() - timedelta(minutes=9), "dep_a", agent_id=two_deployments,
        metadata={"test_run": "run_1"},
    )  # fmt: skip
    verdicts = {1: "pass", 3: "pass", 5: "pass", 7: "pass", 9: "fail"}
    verdicts |= {10: "pass", 12: "pass", 14: "fail", 16: "fail"}
    for n, verdict in verdicts.items():
        store_results(engine, f"call_{n:04d}", scored_high=verdict, judge="error")
    with engine.begin() as connection:  # as the analysis does once a call's are final
        queue_tallies(connection, [f"call_{n:04d}" for n in verdicts], utcnow())

    def judged() -> bool:
        found = analytics(server, agent_id=two_deployments, include_test_runs="true")
        return found["totals"]["evaluations"].get("scored-high", {}).get("judged") == 9

    wait_until(judged, within=30, every=0.2)
    return two_deployments


def test_stats_shows_pass_rates_per_evaluation_and_deployment(cli, server, evaluated_deployments):
    shown = cli("stats", "Scripted", "--by", "deployment")
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert row(out, "EVALUATION") == [
        "EVALUATION", "JUDGED", "PASSED", "FAILED", "ERRORED", "PASS RATE",
    ]  # fmt: skip
    assert row(out, "scored-high") == ["scored-high", "8", "6", "2", "0", "75.0 %"]
    assert row(out, "judge") == ["judge", "8", "0", "0", "8", "-"]
    by = out[out.index("Evaluations by deployment") :]
    assert row(by, "DEPLOYMENT") == [
        "DEPLOYMENT", "EVALUATION", "JUDGED", "PASSED", "FAILED", "ERRORED", "PASS RATE",
    ]  # fmt: skip
    rows = [cells(line) for line in by.splitlines()[2:] if line.startswith("dep_")]
    assert ["dep_a", "scored-high", "4", "4", "0", "0", "100.0 %"] in rows
    assert ["dep_b", "scored-high", "4", "2", "2", "0", "50.0 %"] in rows
    assert ["dep_b", "judge", "4", "0", "0", "4", "-"] in rows

    with_tests = cli("stats", "Scripted", "--include-test-runs").stdout
    assert "test runs included" in with_tests.splitlines()[0]
    assert row(with_tests, "calls ") == ["calls", "9"]
    assert row(with_tests, "scored-high") == ["scored-high", "9", "6", "3", "0", "66.7 %"]
    assert "test runs included" not in out.splitlines()[0]


def test_compare_shows_pass_rates_side_by_side(cli, server, evaluated_deployments):
    out = cli("stats", "Scripted", "--compare", "dep_a", "dep_b").stdout
    assert row(out, "evaluation scored-high pass rate") == [
        "evaluation scored-high pass rate", "100.0 %", "50.0 %", "-50.0 pts", "▲ worse",
    ]  # fmt: skip
    assert "evaluation judge" not in out  # only errors: no rate
    assert "7 measures worse by more than 10 % (pass rates: 10 points)." in out
    reverse = cli("stats", "Scripted", "--compare", "dep_b", "dep_a").stdout
    assert row(reverse, "evaluation scored-high pass rate")[1:] == [
        "50.0 %", "100.0 %", "+50.0 pts",
    ]  # fmt: skip
    compared = json.loads(cli("stats", "Scripted", "--compare", "dep_a", "dep_b", "--json").stdout)
    changes = {change["measure"]: change for change in compared["changes"]}
    assert changes["scored-high pass rate"] == {
        "section": "evaluations", "measure": "scored-high pass rate",
        "before": 1.0, "after": 0.5, "worse": True,
    }  # fmt: skip
    assert compared["after"]["evaluations"]["scored-high"]["pass_rate"] == 0.5
