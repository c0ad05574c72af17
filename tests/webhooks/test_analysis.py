"""Post-call analysis with an OpenAI-compatible model: a failure is recorded on the call
and retried by the sweep; the model's summary is stored and sent as post_call_analysis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_llm import FakeLlm, serve_llm
from tests.support.servers import openline_server
from tests.webhooks.helpers import (
    FAST,
    all_arrived,
    check_delivered_once_in_order,
    hook_agent,
    standard_call,
    wait_for,
)

SUMMARY = "The caller asked about order K1.  The agent said it had shipped,\nthen hung up."


class FakeModel(FakeLlm):
    """Answers with SUMMARY, after failing the next ``fail_next`` requests."""

    def __init__(self) -> None:
        super().__init__(self._answer)
        self.fail_next = 0

    def _answer(self, _: dict) -> str | int:
        if self.fail_next:
            self.fail_next -= 1
            return 500
        return SUMMARY


@pytest.fixture
def model() -> Iterator[tuple[FakeModel, str]]:
    fake = FakeModel()
    with serve_llm(fake) as base_url:
        yield fake, base_url


async def test_llm_summary_failure_is_recorded_then_retried(settings, agent_url, receiver, model):
    fake, base_url = model
    fake.fail_next = 1
    configured = settings.model_copy(
        update=FAST
        | {
            "analysis_llm_base_url": base_url,
            "analysis_llm_api_key": "sk-test-key",
            "analysis_llm_model": "tiny-summarizer",
            "analysis_retry_s": 0.6,
        }
    )
    with openline_server(configured) as server:
        calls = server.platform.calls
        webhook, agent = hook_agent(server, receiver.url, agent_url)
        call_id = await standard_call(server, agent["id"])

        await wait_for(lambda: calls.get(call_id)["analysis_status"] == "failed")
        failed = calls.get(call_id)
        assert failed["analysis_error"].startswith("HTTPStatusError: Server error '500")
        assert failed["summary"] is None

        # The sweep tries again; this time the model answers.
        await all_arrived(server, receiver.receiver, webhook["id"], [call_id])
        check_delivered_once_in_order(server, receiver.receiver, webhook["id"], [call_id])
        expected = " ".join(SUMMARY.split())
        assert receiver.receiver.of_call(call_id)[-1]["analysis"] == {
            "summary": expected,
            "metric_results": [],
        }
        done = calls.get(call_id)
        assert (done["analysis_status"], done["analysis_error"]) == ("done", None)
        assert done["analysis_attempts"] == 2
        with server.client() as http:
            assert http.get(f"/agents/calls/{call_id}").json()["summary"] == expected

        assert len(fake.requests) == 2
        asked = fake.requests[-1]
        assert asked["model"] == "tiny-summarizer" and asked["_auth"] == "Bearer sk-test-key"
        prompt = asked["messages"][0]["content"]
        assert "user: tool K1" in prompt and "assistant: Order K1 has shipped." in prompt
        assert "End reason: agent_hangup" in prompt

        # With the model up, the next call is summarized at once; a rerun asks again.
        second = await standard_call(server, agent["id"])
        await all_arrived(server, receiver.receiver, webhook["id"], [second])
        assert receiver.receiver.of_call(second)[-1]["analysis"]["summary"] == expected
        assert len(fake.requests) == 3
        fake.fail_next = 1
        with server.client() as http:
            refused = http.post(f"/agents/calls/{second}/analyze")
            assert refused.status_code == 502
            assert refused.json()["error"]["code"] == "analysis_failed"
            rerun = http.post(f"/agents/calls/{second}/analyze")
            assert rerun.status_code == 200 and rerun.json()["summary"] == expected
