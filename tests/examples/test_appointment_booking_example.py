"""examples/appointment_booking: several tool calls, a background tool, end call."""

from __future__ import annotations

from openline.sdk.testing import CallClient

from .helpers import example_agent

agent = example_agent("appointment_booking")


def test_booking_conversation(agent):
    with CallClient(agent.ws_url) as call:
        assert "Which day" in call.start().text

        full = call.say("Wednesday please")
        assert full.tool_calls[1]["result"] == "[]"
        assert "fully booked" in full.text

        day = call.say("how about tuesday")
        assert [t["name"] for t in day.tool_calls] == ["check_availability"] * 2
        assert day.tool_calls[0]["arguments"] == {"day": "tuesday"}
        assert day.tool_calls[1]["result"] == '["10:00", "14:00", "16:30"]'
        assert "10:00, 14:00, 16:30" in day.text

        booked = call.say("2pm works")
        names = [t["name"] for t in booked.tool_calls if t["result"] is None]
        assert names == ["book_appointment", "send_confirmation"]
        book_result = next(
            t for t in booked.tool_calls if t["name"] == "book_appointment" and t["result"]
        )
        code = book_result["result"]
        assert code.startswith("BK-")
        assert book_result["arguments"] == {"day": "tuesday", "time": "14:00", "name": "caller"}
        assert booked.log_events[0]["event"] == "appointment_booked"
        assert booked.log_metrics[0] == {
            "type": "log_metric",
            "name": "booked_slot",
            "value": "tuesday 14:00",
            "responding_to": booked.frames[-1]["responding_to"],
        }
        assert f"confirmation code is {code}" in booked.text
        confirmation = next(
            t for t in booked.tool_calls if t["name"] == "send_confirmation" and t["result"]
        )
        assert confirmation["result"] == f"confirmation {code} sent"

        bye = call.say("no that's all")
        assert bye.text == "Great, see you then. Goodbye!"
        assert bye.end_call["reason"] == "agent_ended"
        assert [t["name"] for t in bye.tool_calls] == ["end_conversation"] * 2
        call.until_closed()
        assert call.close_code == 1000


def test_interrupted_booking_still_confirms(agent):
    """The caller barges in while the background confirmation is running."""
    with CallClient(agent.ws_url) as call:
        call.start()
        call.say("thursday")
        booked_turn = call.send_turn("8:30")
        call.wait_for(lambda f: f.get("name") == "send_confirmation" and f["result"] is None)
        interrupt = call.send_turn("wait, one more thing")
        call.wait_response(interrupt)
        frame = call.wait_for(
            lambda f: f.get("name") == "send_confirmation" and f["result"] is not None
        )
        assert frame["result"].startswith("confirmation BK-")
        assert frame["responding_to"] == booked_turn
