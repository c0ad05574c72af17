"""`openline webhooks …` and `openline agents … --webhook` against a real server and a
real receiver."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.cli.support import make_call
from tests.support.receiver import Receiver, ReceiverServer

SECRET = "whsec_cli_secret_123"


@pytest.fixture
def receiver() -> Iterator[ReceiverServer]:
    server = ReceiverServer(Receiver(SECRET)).start()
    yield server
    server.stop()


def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_webhook_configs_and_agents_webhook_option(cli, agent_url, receiver):
    made = cli("webhooks", "create", receiver.url, "--name", "crm")
    assert made.exit_code == 0, made.output
    lines = made.stdout.splitlines()
    assert lines[0].startswith("Created webhook agent_webhook_") and receiver.url in lines[0]
    webhook_id = lines[0].split()[2]
    assert lines[1].startswith("Secret: whsec_")  # generated, shown this once
    assert "shown only now" in made.stderr
    chosen = json.loads(
        cli("webhooks", "create", receiver.url, "--secret", SECRET, "--json").stdout
    )
    assert chosen["secret"] == SECRET and chosen["display_name"] is None

    listed = cli("webhooks", "ls")
    assert listed.exit_code == 0
    row = next(line for line in listed.stdout.splitlines() if webhook_id in line)
    assert "crm" in row and receiver.url in row and "yes" in row
    assert {w["id"] for w in json.loads(cli("webhooks", "ls", "--json").stdout)} == {
        webhook_id,
        chosen["id"],
    }
    shown = cli("webhooks", "get", "crm")  # by name
    assert shown.exit_code == 0 and webhook_id in shown.stdout and receiver.url in shown.stdout
    assert "whsec_" not in shown.stdout + cli("webhooks", "get", webhook_id, "--json").stdout

    renamed = cli("webhooks", "update", "crm", "--name", "billing", "--secret", SECRET)
    assert renamed.exit_code == 0 and f"Updated webhook {webhook_id} (enabled: yes)" in (
        renamed.stdout
    )
    off = cli("webhooks", "update", webhook_id, "--disable")
    assert "enabled: no: disabled by a user" in off.stdout
    row = next(line for line in cli("webhooks", "ls").stdout.splitlines() if webhook_id in line)
    assert "no: disabled by a user" in row
    on = json.loads(cli("webhooks", "update", "billing", "--enable", "--json").stdout)
    assert on["enabled"] is True and on["disabled_reason"] is None
    nothing = cli("webhooks", "update", webhook_id)
    assert nothing.exit_code == 1 and "nothing to change" in nothing.stderr

    agent = json.loads(
        cli(
            "agents", "create", "Hooked", "--url", agent_url, "--webhook", "billing", "--json"
        ).stdout
    )
    assert agent["webhook_id"] == webhook_id
    detached = cli("agents", "update", "Hooked", "--webhook", "", "--json")
    assert detached.exit_code == 0 and json.loads(detached.stdout)["webhook_id"] is None
    attached = cli("agents", "update", "Hooked", "--webhook", chosen["id"])
    assert attached.exit_code == 0
    assert json.loads(cli("agents", "get", "Hooked", "--json").stdout)["webhook_id"] == chosen["id"]
    unknown = cli("agents", "update", "Hooked", "--webhook", "agent_webhook_nope")
    assert unknown.exit_code == 1 and "no webhook with id" in unknown.stderr

    unsafe = cli("webhooks", "create", "http://10.0.0.1/x")
    assert unsafe.exit_code == 1
    assert "Error: invalid request: url: plain http is only allowed to loopback" in (unsafe.stderr)
    assert "Traceback" not in unsafe.output

    removed = cli("webhooks", "rm", "billing")
    assert removed.exit_code == 0 and f"Deleted webhook {webhook_id}" in removed.stdout
    gone = cli("webhooks", "get", webhook_id)
    assert gone.exit_code == 1 and f"no webhook with id '{webhook_id}'" in gone.stderr
    missing = cli("webhooks", "get", "billing")
    assert missing.exit_code == 1 and "no webhook with id or name 'billing'" in missing.stderr


def test_delivery_log_redelivery_and_test_sends(cli, server, agent_url, receiver):
    events = receiver.receiver
    webhook = json.loads(
        cli("webhooks", "create", receiver.url, "--secret", SECRET, "--json").stdout
    )
    wh = webhook["id"]
    agent = json.loads(
        cli("agents", "create", "Hooked", "--url", agent_url, "--webhook", wh, "--json").stdout
    )
    call_id = make_call(server, agent["id"], "tool K2", "bye")
    wait_until(lambda: any(e["type"] == "post_call_analysis" for e in events.of_call(call_id)))
    wait_until(
        lambda: all(
            d["status"] == "delivered"
            for d in json.loads(cli("webhooks", "deliveries", wh, "--json").stdout)
        )
    )

    table = cli("webhooks", "deliveries", wh, "--call", call_id)
    assert table.exit_code == 0
    header, *rows = table.stdout.splitlines()
    for column in ("TIME (UTC)", "EVENT", "CALL", "STATUS", "ATTEMPTS", "LAST RESULT", "TOOK"):
        assert column in header
    assert len(rows) == 8
    assert "post_call_analysis" in rows[0] and "call_started" in rows[-1]  # newest first
    assert all(call_id in row and "delivered" in row and " 200 " in row for row in rows)
    logged = json.loads(cli("webhooks", "deliveries", wh, "--call", call_id, "--json").stdout)
    assert {d["id"] for d in logged} == {e["_webhook_id"] for e in events.events}
    assert logged[0]["attempts"][0]["status_code"] == 200
    few = cli("webhooks", "deliveries", wh, "--limit", "3")
    assert len(few.stdout.splitlines()) == 4 and "--limit shows more" in few.stderr
    assert cli("webhooks", "deliveries", wh, "--failed").stdout.strip() == "No deliveries match."

    # One delivery again: the same webhook-id reaches the receiver a second time.
    again = logged[-1]["id"]
    queued = cli("webhooks", "redeliver", wh, again)
    assert queued.exit_code == 0 and f"Queued {again} again." in queued.stdout
    wait_until(lambda: events.seen_ids.count(again) == 2)
    busy = cli("webhooks", "redeliver", wh, again, "--failed-since", "1h")
    assert busy.exit_code == 1 and "either a DELIVERY or --failed-since" in busy.stderr

    sent = cli("webhooks", "test", wh)
    assert sent.exit_code == 0, sent.output
    assert sent.stdout.startswith("Sent a sample call_completed: 200 in ")
    assert events.events[-1]["call_id"] == "call_test"

    # A test send the endpoint refuses is a failed delivery: redeliver failed ones.
    events.script = [{"status": 500, "body": "nope"}]
    refused = cli("webhooks", "test", wh)
    assert refused.exit_code == 1
    assert "Sent a sample call_completed: 500 in " in refused.stdout
    assert "nope" not in refused.output  # status and timing only, never the answer
    assert "Error: the endpoint did not accept it (500)" in refused.stderr
    failed = json.loads(cli("webhooks", "deliveries", wh, "--failed", "--json").stdout)
    assert len(failed) == 1 and failed[0]["last_status_code"] == 500
    none = cli("webhooks", "redeliver", wh, "--failed-since", "2999-01-01")
    assert none.exit_code == 0 and "Queued 0 failed deliveries again." in none.stdout
    redone = cli("webhooks", "redeliver", wh, "--failed-since", "10m")
    assert redone.exit_code == 0 and "Queued 1 failed delivery again." in redone.stdout
    wait_until(lambda: events.seen_ids.count(failed[0]["id"]) == 2)
    wait_until(lambda: cli("webhooks", "deliveries", wh, "--failed").stdout.startswith("No "))
    bad_time = cli("webhooks", "redeliver", wh, "--failed-since", "yesterday-ish")
    assert bad_time.exit_code == 1 and "is not a time" in bad_time.stderr


def test_a_slack_endpoint_gets_readable_messages(cli, receiver):
    slack = receiver.url.replace("/hooks", "/slack")
    made = cli("webhooks", "create", slack, "--format", "slack", "--name", "team chat", "--json")
    assert made.exit_code == 0, made.output
    webhook = json.loads(made.stdout)
    assert webhook["format"] == "slack"
    shown = cli("webhooks", "get", "team chat")
    assert any(line.split()[:2] == ["format", "slack"] for line in shown.stdout.splitlines())
    assert cli("webhooks", "test", "team chat").exit_code == 0
    text = "call_completed of call call_test\nAgent agent_test, completed (client_hangup)"
    assert receiver.receiver.chat == [{"text": text}]
    refused = cli("webhooks", "create", "https://example.com", "--format", "email")
    assert refused.exit_code == 1 and "mailto:address" in refused.stderr
