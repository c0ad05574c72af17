"""The LLM judge over a real OpenAI-compatible endpoint on loopback: answers become
results; a refusal, a timeout and an unparseable answer become failed results that are
retried with the analysis; no judge configured fails at once; the post_call_analysis
webhook carries the final results."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from openline.analysis.judges import INSTRUCTIONS
from tests.evaluations.support import analysed, attach_metric, order_call, results_of
from tests.support.fake_llm import FakeLlm, is_judging, serve_llm
from tests.support.servers import openline_server
from tests.webhooks.helpers import FAST, all_arrived, hook_agent

QUESTIONS = {
    "confirmed-shipping": "Did the agent confirm the order shipped?",
    "politeness": "How polite was the agent, from 1 to 5?",
    "refused": "Was the caller's voice attractive?",
    "slow-judge": "Did the caller ask for a refund?",
}


class Judge:
    """Answers each question its own way, counting how often each is asked."""

    def __init__(self) -> None:
        self.asked: Counter[str] = Counter()

    async def answer(self, body: dict) -> str | dict:
        if not is_judging(body):
            return "The caller asked about an order, which had shipped."
        question = body["messages"][1]["content"]
        name = next(name for name, text in QUESTIONS.items() if text in question)
        self.asked[name] += 1
        if name == "confirmed-shipping":
            return json.dumps(
                {"value": True, "reason": "It said the order shipped.", "result": {"order": "K1"}}
            )
        if name == "politeness":  # prose first, then the JSON asked for
            if self.asked[name] == 1:
                return "The agent was quite polite."
            return '```json\n{"value": 4, "passed": true, "reason": "Courteous."}\n```'
        if name == "refused":
            return {"role": "assistant", "content": None, "refusal": "I can't judge that."}
        if self.asked[name] == 1:  # slower than the judge's timeout, once
            await asyncio.sleep(3)
        return json.dumps({"value": False, "reason": "No refund was asked for."})


async def test_llm_results_failures_and_retries(settings, agent_url, receiver):
    judge = Judge()
    with serve_llm(FakeLlm(judge.answer)) as llm_url:
        configured = settings.model_copy(
            update=FAST
            | {
                "analysis_llm_base_url": llm_url,
                "analysis_llm_api_key": "sk-judge",
                "analysis_llm_model": "tiny-judge",
                "analysis_retry_s": 0.5,
                "judge_timeout_s": 1.0,
            }
        )
        with openline_server(configured) as server:
            webhook, agent = hook_agent(server, receiver.url, agent_url)
            for name, question in QUESTIONS.items():
                attach_metric(server.base_url, agent["id"], name, question)
            call_id = await order_call(server.ws_url, agent["id"], "K1")
            call = await analysed(server.base_url, call_id)
            results = results_of(server.base_url, call_id)
            row = server.platform.calls.get(call_id)
            await all_arrived(server, receiver.receiver, webhook["id"], [call_id])

    confirmed = results["confirmed-shipping"]
    assert (confirmed["status"], confirmed["passed"], confirmed["value"]) == (
        "completed",
        True,
        True,
    )
    assert confirmed["result"] == "true" and confirmed["jsonResult"] == {"order": "K1"}
    assert confirmed["reason"] == "It said the order shipped."
    polite = results["politeness"]
    assert (polite["status"], polite["value"], polite["passed"]) == ("completed", 4, True)
    refused = results["refused"]
    assert (refused["status"], refused["passed"]) == ("failed", None)
    assert refused["reason"] == "the judge refused: I can't judge that."
    slow = results["slow-judge"]
    assert (slow["status"], slow["value"], slow["passed"]) == ("completed", False, False)
    # Each failure was asked again with the analysis, up to its three attempts.
    assert judge.asked == {"confirmed-shipping": 1, "politeness": 2, "refused": 3, "slow-judge": 2}
    assert row["analysis_attempts"] == 3 and row["analysis_status"] == "done"
    assert call["summary"] == "The caller asked about an order, which had shipped."

    analysis = [e for e in receiver.receiver.of_call(call_id) if e["type"] == "post_call_analysis"]
    assert len(analysis) == 1
    sent = {r["metricName"]: r for r in analysis[0]["analysis"]["metric_results"]}
    assert sent == results
    assert list(analysis[0]["analysis"]) == ["summary", "metric_results"]


async def test_what_the_judge_is_asked(settings, agent_url):
    judge = Judge()
    with serve_llm(llm := FakeLlm(judge.answer)) as llm_url:
        configured = settings.model_copy(
            update={
                "analysis_llm_base_url": llm_url,
                "analysis_llm_api_key": "sk-judge",
                "analysis_llm_model": "tiny-judge",
            }
        )
        with openline_server(configured) as server:
            agent_id = server.create_agent("judged", self_hosted_deployment_url=agent_url)
            attach_metric(
                server.base_url, agent_id, "confirmed-shipping", QUESTIONS["confirmed-shipping"]
            )
            call_id = await order_call(server.ws_url, agent_id, "Q7")
            await analysed(server.base_url, call_id)
    asked = [body for body in llm.requests if is_judging(body)]
    assert len(asked) == 1
    body = asked[0]
    assert (body["model"], body["_auth"], body["temperature"]) == (
        "tiny-judge",
        "Bearer sk-judge",
        0,
    )
    assert body["messages"][0] == {"role": "system", "content": INSTRUCTIONS}
    question = body["messages"][1]["content"]
    assert question.startswith(f"Evaluation question: {QUESTIONS['confirmed-shipping']}\n")
    assert "End reason: agent_hangup" in question
    assert "user: tool Q7\nassistant: Order Q7 has shipped." in question


async def test_without_a_judge_llm_metrics_fail_at_once_and_rules_still_run(server, agent_id):
    attach_metric(server.base_url, agent_id, "confirmed-shipping", QUESTIONS["confirmed-shipping"])
    rule = {"type": "tool_called", "name": "lookup_order"}
    attach_metric(server.base_url, agent_id, "looked-up", "Did it look the order up?", rule)
    call_id = await order_call(server.ws_url, agent_id, "K1")
    await analysed(server.base_url, call_id)
    results = results_of(server.base_url, call_id)
    llm = results["confirmed-shipping"]
    assert (llm["status"], llm["passed"], llm["value"]) == ("failed", None, None)
    assert llm["reason"].startswith(
        "no LLM judge is configured: set OPENLINE_ANALYSIS_LLM_BASE_URL"
    )
    assert (results["looked-up"]["status"], results["looked-up"]["passed"]) == ("completed", True)
    row = server.platform.calls.get(call_id)
    assert (row["analysis_status"], row["analysis_attempts"]) == ("done", 1)  # nothing to retry
