"""``/agents/alerts`` against a real server: rules created, shown, changed and deleted;
bad rules refused with a message naming the field; Slack and email targets become
notification endpoints."""

from __future__ import annotations

import pytest

FAILING = {"name": "failing", "measure": {"type": "failure_rate"}, "threshold": 0.2}


def test_a_rule_is_created_shown_changed_and_deleted(server, agent_id):
    with server.client() as http:
        made = http.post(
            "/agents/alerts",
            json=FAILING | {"scope": {"agent_id": agent_id}, "window": "5m", "min_calls": 3},
        )
        assert made.status_code == 201, made.text
        rule = made.json()
        assert rule["id"].startswith("alert_") and rule["state"] == "ok"
        assert rule["description"] == "failure rate > 0.2 over 5m"
        assert (rule["window"], rule["window_s"], rule["min_calls"]) == ("5m", 300, 3)
        assert rule["scope"] == {"agent_id": agent_id, "deployment_id": None, "metadata": {}}
        assert http.get(f"/agents/alerts/{rule['id']}").json() == rule
        assert [r["id"] for r in http.get("/agents/alerts").json()["data"]] == [rule["id"]]
        assert http.get("/agents/alerts", params={"state": "firing"}).json()["data"] == []

        changed = http.patch(f"/agents/alerts/{rule['id']}", json={"threshold": 0.5}).json()
        assert (changed["threshold"], changed["resolve_threshold"]) == (0.5, 0.5)  # followed
        assert changed["window"] == "5m" and changed["scope"]["agent_id"] == agent_id
        off = http.patch(f"/agents/alerts/{rule['id']}", json={"enabled": False}).json()
        assert off["enabled"] is False and off["threshold"] == 0.5

        assert http.post("/agents/alerts", json=FAILING).status_code == 409  # the name is taken
        assert http.delete(f"/agents/alerts/{rule['id']}").status_code == 204
        assert http.get(f"/agents/alerts/{rule['id']}").status_code == 404
        assert http.get(f"/agents/alerts/{rule['id']}/history").status_code == 404


def test_an_objective_rule_shows_its_objective(server):
    objective = {"latency": "response", "target_s": 1.2, "ratio": 0.95, "period": "30d"}
    with server.client() as http:
        rule = http.post("/agents/alerts", json={"name": "fast", "objective": objective}).json()
    assert rule["kind"] == "objective" and rule["measure"] is None
    assert rule["objective"] == objective | {"period_s": 30 * 86_400}
    assert rule["description"] == "0.95 of turns' response latency within 1.2s over 30d"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"measure": {"type": "fail_rate"}}, "measure.type: unknown measure 'fail_rate'"),
        ({"window": "fortnight"}, "window: 'fortnight' is not a duration"),
        ({"window": "45d"}, "window: '45d' is not between 1 minute and 31 days"),
        ({"measure": {"type": "pass_rate", "metric": "nope"}}, "no evaluation metric named 'nope'"),
        ({"measure": {"type": "latency", "latency": "p95"}}, "measure.latency: 'p95' is unknown"),
        ({"scope": {"agent_id": "agent_nobody"}}, "scope.agent_id: no agent with id"),
        ({"targets": [{"webhook_id": "agent_webhook_none"}]}, "targets[0].webhook_id: no webhook"),
        ({"targets": [{"email": "not an address"}]}, "targets[0]: url: an email endpoint"),
        ({"targets": [{"email": "a@b.io", "slack_url": "https://x.io"}]}, "one of webhook_id"),
    ],
)
def test_a_bad_rule_is_refused_with_a_message_naming_its_field(server, change, message):
    with server.client() as http:
        refused = http.post("/agents/alerts", json=FAILING | change)
        assert refused.status_code == 422, refused.text
        assert message in refused.json()["error"]["message"]
        assert http.get("/agents/alerts").json()["data"] == []  # nothing half-made


def test_slack_and_email_targets_become_endpoints_of_their_format(server, receiver):
    slack = receiver.url + "/slack"
    with server.client() as http:
        own = http.post("/agents/webhooks", json={"url": receiver.url}).json()
        rule = http.post(
            "/agents/alerts",
            json=FAILING
            | {
                "targets": [
                    {"webhook_id": own["id"]},
                    {"slack_url": slack},
                    {"email": "oncall@example.com"},
                ]
            },
        ).json()
        shown = [(t["format"], t["url"]) for t in rule["targets"]]
        assert shown == [
            ("json", receiver.url),
            ("slack", slack),
            ("email", "mailto:oncall@example.com"),
        ]
        again = http.post(
            "/agents/alerts", json=FAILING | {"name": "again", "targets": [{"slack_url": slack}]}
        ).json()
        assert again["targets"][0]["webhook_id"] == rule["targets"][1]["webhook_id"]  # reused
        endpoints = http.get("/agents/webhooks").json()["data"]
        assert sorted(e["format"] for e in endpoints) == ["email", "json", "slack"]
        email_id = rule["targets"][2]["webhook_id"]
        agent = http.post("/agents", json={"name": "mailer", "webhook_id": email_id})
        assert agent.status_code == 422 and "for alerts only" in agent.json()["error"]["message"]
