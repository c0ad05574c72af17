"""examples/form_filler: a LogMetric per answered question, end call when complete."""

from __future__ import annotations

from openline.sdk.testing import CallClient

from .helpers import example_agent

agent = example_agent("form_filler")


def test_form_is_filled_and_call_ends(agent):
    with CallClient(agent.ws_url) as call:
        assert "What is your full name?" in call.start().text

        name = call.say("Ada Lovelace")
        assert name.log_metrics == [
            {
                "type": "log_metric",
                "name": "full_name",
                "value": "Ada Lovelace",
                "responding_to": name.frames[-1]["responding_to"],
            }
        ]
        assert "email" in name.text

        bad = call.say("I'd rather not")
        assert not bad.log_metrics
        assert bad.text.startswith("Sorry, I didn't get that.")

        email = call.say("ada@example.com")
        assert [(m["name"], m["value"]) for m in email.log_metrics] == [
            ("email", "ada@example.com")
        ]

        last = call.say("mornings")
        assert [(m["name"], m["value"]) for m in last.log_metrics] == [
            ("callback_time", "mornings")
        ]
        assert last.log_events[0]["event"] == "form_completed"
        assert last.log_events[0]["metadata"]["metadata"] == {
            "full_name": "Ada Lovelace",
            "email": "ada@example.com",
            "callback_time": "mornings",
        }
        assert last.end_call["reason"] == "form_completed"
        call.until_closed()
        assert call.close_code == 1000

    logs = [f["message"] for f in call.frames if f["type"] == "log_record"]
    assert "📊 Logged metric: full_name=Ada Lovelace" in logs


def test_each_call_has_its_own_form(agent):
    with CallClient(agent.ws_url) as first, CallClient(agent.ws_url) as second:
        first.start()
        second.start()
        assert "email" in first.say("Grace Hopper").text
        # the second call is still on its first question
        assert second.say("Alan Turing").log_metrics[0]["name"] == "full_name"
