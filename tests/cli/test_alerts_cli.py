"""`openline alerts …` against a real server (its evaluator running every 0.2 s) and a
real webhook receiver."""

from __future__ import annotations

import json

import pytest
from rich.text import Text

from openline.cli.alerts import reading, state_text
from openline.config import Settings
from tests.conftest import TEST_KEY
from tests.support.waiting import wait_until
from tests.webhooks.helpers import SECRET

SLACK = "https://hooks.slack.com/services/T000/B000/XXXX"


# Replaces the root fixture: one server on SQLite (the CLI only talks HTTP; the alerts
# API's own tests cover PostgreSQL), evaluating rules every 0.2 s instead of 30.
@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        api_key=TEST_KEY,
        start_example_agent=False,
        webhook_allow_private=True,
        alert_interval_s=0.2,
    )


@pytest.fixture
def support_bot(server) -> str:
    return server.create_agent("Support bot", self_hosted_deployment_url="http://127.0.0.1:9")


def api_rule(server, rule_id: str) -> dict:
    with server.client() as http:
        reply = http.get(f"/agents/alerts/{rule_id}")
        reply.raise_for_status()
        return reply.json()


def created_id(result) -> str:
    """The id in ``Created alert alert_… NAME: …``."""
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("Created alert alert_"), first
    return first.split()[2]


def row_of(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if name in line)


def test_a_threshold_rule_created_then_listed_and_shown(cli, server, support_bot, receiver):
    hook = cli("webhooks", "create", receiver.url, "--secret", SECRET, "--name", "crm", "--json")
    hook_id = json.loads(hook.stdout)["id"]

    made = cli(
        "alerts", "create", "support failing", "--agent", "Support bot",
        "--metadata", "team:support", "--measure", "failure_rate", "--above", "0.2",
        "--window", "15m", "--min-calls", "5", "--resolve-threshold", "0.1",
        "--webhook", "crm", "--slack", SLACK, "--email", "oncall@example.com",
    )  # fmt: skip
    rule_id = created_id(made)
    lines = made.stdout.splitlines()
    assert lines[0] == f"Created alert {rule_id} support failing: failure rate > 0.2 over 15m"
    assert lines[1] == "Notifies:"
    assert lines[2] == f"  json {receiver.url} ({hook_id})"
    assert lines[3].startswith(f"  slack {SLACK} (agent_webhook_")
    assert lines[4].startswith("  email mailto:oncall@example.com (agent_webhook_")

    stored = api_rule(server, rule_id)
    assert stored["kind"] == "threshold" and stored["enabled"] is True
    assert stored["scope"] == {
        "agent_id": support_bot,
        "deployment_id": None,
        "metadata": {"team": "support"},
    }
    assert stored["measure"] == {"type": "failure_rate"}
    assert (stored["comparison"], stored["threshold"], stored["resolve_threshold"]) == (
        ">",
        0.2,
        0.1,
    )
    assert (stored["window"], stored["window_s"], stored["min_calls"]) == ("15m", 900, 5)
    assert [t["format"] for t in stored["targets"]] == ["json", "slack", "email"]

    # No calls yet: evaluated, no value, still ok.
    wait_until(lambda: api_rule(server, rule_id)["evaluated_at"], within=20)
    listed = cli("alerts", "ls")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.split("\n")[0].split() == [
        "ID", "NAME", "STATE", "VALUE", "WINDOW", "SCOPE", "CALLS", "EVALUATED", "(UTC)",
    ]  # fmt: skip
    cells = row_of(listed.stdout, rule_id).split()
    assert cells[1:13] == [
        "support", "failing", "ok", "-", ">", "0.2", "15m", "agent", "Support", "bot,",
        "team:support", "0",
    ]  # fmt: skip

    shown = cli("alerts", "get", "support failing")
    assert shown.exit_code == 0, shown.output
    fields = dict(line.split(None, 1) for line in shown.stdout.splitlines() if " " in line)
    assert fields["description"].strip() == "failure rate > 0.2 over 15m"
    assert fields["state"].strip() == "ok"
    assert fields["measure"].strip() == '{"type": "failure_rate"}'
    assert f"json {receiver.url} ({hook_id})" in shown.stdout
    assert f"slack {SLACK}" in shown.stdout and "email mailto:oncall@example.com" in shown.stdout
    assert json.loads(cli("alerts", "get", rule_id, "--json").stdout)["id"] == rule_id
    assert [r["id"] for r in json.loads(cli("alerts", "ls", "--json").stdout)] == [rule_id]


def test_an_objective_and_a_latency_rule(cli, server):
    made = cli(
        "alerts", "create", "answers fast", "--objective", "response:1.2", "--ratio", "0.95",
        "--period", "7d", "--min-calls", "1",
    )  # fmt: skip
    rule_id = created_id(made)
    assert "No targets" in made.stdout
    stored = api_rule(server, rule_id)
    assert stored["kind"] == "objective"
    assert {k: stored["objective"][k] for k in ("latency", "target_s", "ratio", "period")} == {
        "latency": "response",
        "target_s": 1.2,
        "ratio": 0.95,
        "period": "7d",
    }
    shown = cli("alerts", "get", "answers fast")
    assert shown.exit_code == 0, shown.output
    assert "budget left" in shown.stdout and '"target_s": 1.2' in shown.stdout
    row = row_of(cli("alerts", "ls").stdout, rule_id)
    assert "7d objective" in row and "burn rate" in row

    slow = cli(
        "alerts", "create", "slow tts", "--measure", "latency", "--latency", "tts_ttfb",
        "--at-least", "0.8", "--disabled", "--json",
    )  # fmt: skip
    assert slow.exit_code == 0, slow.output
    made_slow = json.loads(slow.stdout)
    assert made_slow["measure"] == {"type": "latency", "latency": "tts_ttfb", "quantile": "p95"}
    assert made_slow["enabled"] is False and made_slow["comparison"] == ">="
    assert "ok (disabled)" in row_of(cli("alerts", "ls").stdout, made_slow["id"])


def test_rules_are_named_by_id_or_exact_name(cli, server):
    first = created_id(
        cli("alerts", "create", "dead line", "--measure", "call_count", "--below", "1")
    )
    # A name may look like an id: it is found by name when no rule has that id.
    second = created_id(
        cli("alerts", "create", "alert_lookalike", "--measure", "call_count", "--below", "2")
    )
    assert json.loads(cli("alerts", "get", "dead line", "--json").stdout)["id"] == first
    assert json.loads(cli("alerts", "get", first, "--json").stdout)["name"] == "dead line"
    assert json.loads(cli("alerts", "get", "alert_lookalike", "--json").stdout)["id"] == second

    unknown = cli("alerts", "get", "dead")
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == (
        "Error: no alert with id or name 'dead' (see `openline alerts ls`)"
    )
    again = cli("alerts", "create", "dead line", "--measure", "call_count", "--below", "1")
    assert again.exit_code == 1 and again.stderr.startswith("Error: ")
    assert "dead line" in again.stderr and "Traceback" not in again.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ("--measure", "bogus", "--above", "1"),
            "Error: invalid request: measure.type: unknown measure 'bogus'; one of "
            "failure_rate, call_count, end_reason_share, latency, metric, event_count, pass_rate",
        ),
        (
            ("--measure", "failure_rate", "--above", "0.2", "--window", "2s"),
            "Error: invalid request: window: '2s' is not between 1 minute and 31 days",
        ),
        (
            ("--measure", "failure_rate", "--above", "0.2", "--window", "soon"),
            "Error: invalid request: window: 'soon' is not a duration such as 90s, 15m, 6h or 7d",
        ),
        (
            ("--measure", "failure_rate", "--above", "0.2", "--quantile", "p99"),
            "Error: invalid request: measure.quantile: not a parameter of failure_rate",
        ),
        (
            ("--measure", "failure_rate", "--above", "0.2", "--below", "0.1"),
            "Error: give one comparison, not --above and --below",
        ),
        (
            (
                "--measure",
                "failure_rate",
            ),
            "Error: give --measure TYPE and one of --above, --below, --at-least, --at-most "
            "(or a latency --objective LATENCY:TARGET_S)",
        ),
        (
            ("--measure", "call_count", "--below", "1", "--metadata", "team"),
            "Error: --metadata must be KEY:VALUE, like team:support, not 'team'",
        ),
        (
            ("--objective", "response:fast"),
            "Error: --objective must be LATENCY:TARGET_S, like response:1.2, not 'response:fast'",
        ),
        (
            ("--measure", "call_count", "--below", "1", "--ratio", "0.9"),
            "Error: --ratio and --period go with --objective LATENCY:TARGET_S",
        ),
        (
            ("--measure", "call_count", "--below", "1", "--webhook", "nowhere"),
            "Error: no webhook with id or name 'nowhere' (see `openline webhooks ls`)",
        ),
    ],
)
def test_a_wrong_rule_is_one_line_and_exit_code_1(cli, server, options, message):
    refused = cli("alerts", "create", "wrong", *options)
    assert refused.exit_code == 1
    assert refused.stderr.strip() == message
    assert refused.stdout == ""
    with server.client() as http:
        assert http.get("/agents/alerts").json()["data"] == []


def test_a_firing_rule_in_ls_and_its_history(cli, server):
    # call_count >= 0 with no minimum breaches at the first evaluation, without a call.
    made = cli(
        "alerts", "create", "always", "--measure", "call_count", "--at-least", "0",
        "--min-calls", "0", "--window", "5m",
    )  # fmt: skip
    rule_id = created_id(made)
    created_id(cli("alerts", "create", "quiet", "--measure", "call_count", "--above", "5"))
    wait_until(lambda: api_rule(server, rule_id)["state"] == "firing", within=20)

    cells = row_of(cli("alerts", "ls").stdout, rule_id).split()
    assert cells[1:10] == ["always", "firing", "0", ">=", "0", "5m", "all", "agents", "0"]
    firing = cli("alerts", "ls", "--state", "firing")
    assert [line.split()[0] for line in firing.stdout.splitlines()[1:]] == [rule_id]
    assert cli("alerts", "ls", "--state", "resolved").stdout.strip() == "No resolved alerts."

    history = cli("alerts", "history", "always")
    assert history.exit_code == 0, history.output
    lines = history.stdout.splitlines()
    assert lines[0].split() == [
        "AT", "(UTC)", "FROM", "→", "TO", "VALUE", "THRESHOLD", "CALLS", "EXAMPLE", "CALLS",
    ]  # fmt: skip
    assert len(lines) == 2 and lines[1].split()[2:] == ["ok", "→", "firing", "0", "0", "0", "-"]
    with server.client() as http:
        api_history = http.get(f"/agents/alerts/{rule_id}/history").json()["data"]
    assert json.loads(cli("alerts", "history", rule_id, "--json").stdout) == api_history
    assert [(t["from_state"], t["to_state"]) for t in api_history] == [("ok", "firing")]
    quiet = cli("alerts", "history", "quiet")
    assert quiet.stdout.strip() == "No transitions yet: quiet has been ok."


def test_state_and_value_as_shown():
    assert state_text({"state": "firing", "enabled": True}) == Text("firing", style="bold red")
    assert state_text({"state": "ok", "enabled": True}).style == "green"
    assert str(state_text({"state": "ok", "enabled": False})) == "ok (disabled)"
    assert reading({"kind": "threshold", "value": 0.6, "comparison": ">", "threshold": 0.2}) == (
        "0.6 > 0.2"
    )
    assert reading({"kind": "objective", "value": 2.5, "budget_left": 0.8}) == (
        "burn rate 2.5, budget left 80.0 %"
    )


def test_test_sends_a_sample_the_receiver_gets(cli, receiver):
    hook = cli("webhooks", "create", receiver.url, "--secret", SECRET, "--name", "pager", "--json")
    hook_id = json.loads(hook.stdout)["id"]
    made = cli(
        "alerts", "create", "support failing", "--measure", "failure_rate", "--above",
        "0.2", "--webhook", "pager",
    )  # fmt: skip
    rule_id = created_id(made)
    sent = cli("alerts", "test", "support failing")
    assert sent.exit_code == 0, sent.output
    lines = sent.stdout.splitlines()
    assert lines[0] == "Queued 1 test notification for support failing:"
    assert lines[1].startswith(f"  json {receiver.url} ({hook_id}): delivery whd_")
    assert len(lines) == 2
    event = wait_until(lambda: receiver.receiver.events, within=20)[0]
    assert event["type"] == "alert_firing" and event["webhook_id"] == hook_id
    assert event["alert"]["rule_id"] == rule_id and event["alert"]["test"] is True
    assert event["alert"]["rule_name"] == "support failing"
    assert event["alert"]["description"] == "failure rate > 0.2 over 15m"


def test_update_changes_only_what_is_given(cli, server, support_bot):
    made = cli(
        "alerts", "create", "support failing", "--agent", support_bot, "--measure",
        "latency", "--latency", "response", "--above", "2", "--slack", SLACK,
    )  # fmt: skip
    rule_id = created_id(made)
    changed = cli("alerts", "update", "support failing", "--above", "1.5", "--window", "30m")
    assert changed.exit_code == 0, changed.output
    assert changed.stdout.splitlines()[0] == (
        f"Updated alert {rule_id} support failing: response latency p95 > 1.5 over 30m (ok)"
    )
    stored = api_rule(server, rule_id)
    assert (stored["threshold"], stored["resolve_threshold"], stored["window"]) == (1.5, 1.5, "30m")
    assert stored["scope"]["agent_id"] == support_bot

    assert (
        cli("alerts", "update", rule_id, "--quantile", "p99", "--threshold", "1.8").exit_code == 0
    )
    stored = api_rule(server, rule_id)
    assert stored["measure"] == {"type": "latency", "latency": "response", "quantile": "p99"}
    assert (stored["comparison"], stored["threshold"]) == (">", 1.8)

    moved = cli("alerts", "update", rule_id, "--agent", "", "--email", "a@example.com", "--disable")
    assert moved.exit_code == 0, moved.output
    assert "(ok (disabled))" in moved.stdout.splitlines()[0]
    stored = api_rule(server, rule_id)
    assert stored["scope"]["agent_id"] is None and stored["enabled"] is False
    assert [t["url"] for t in stored["targets"]] == ["mailto:a@example.com"]  # replaced
    assert api_rule(server, rule_id)["name"] == "support failing"

    cleared = json.loads(cli("alerts", "update", rule_id, "--no-targets", "--json").stdout)
    assert cleared["targets"] == []
    nothing = cli("alerts", "update", rule_id)
    assert nothing.exit_code == 1
    assert (
        nothing.stderr.strip() == "Error: nothing to change: give at least one option (see --help)"
    )


def test_rm_deletes_the_rule(cli, server):
    rule_id = created_id(
        cli("alerts", "create", "dead line", "--measure", "call_count", "--below", "1")
    )
    removed = cli("alerts", "rm", "dead line")
    assert removed.exit_code == 0, removed.output
    assert removed.stdout.strip() == f"Deleted alert {rule_id} dead line and its history"
    with server.client() as http:
        assert http.get(f"/agents/alerts/{rule_id}").status_code == 404
    gone = cli("alerts", "get", "dead line")
    assert gone.exit_code == 1 and "no alert with id or name 'dead line'" in gone.stderr
    assert cli("alerts", "ls").stdout.startswith("No alerts yet.")
