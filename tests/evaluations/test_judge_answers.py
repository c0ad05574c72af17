"""The LLM judge's answers, read as verdicts or as failures that say why."""

from __future__ import annotations

import pytest

from openline.analysis.judges import JudgeFailed, parse_answer


def answer(content: str | None, **extra) -> dict:
    return {"role": "assistant", "content": content} | extra


def test_a_json_answer_is_a_verdict():
    verdict = parse_answer(
        answer('{"value": true, "reason": "The agent confirmed 9am.", "result": {"time": "9am"}}')
    )
    assert (verdict.value, verdict.passed, verdict.result) == (True, True, "true")
    assert verdict.reason == "The agent confirmed 9am."
    assert verdict.details == {"time": "9am"}


def test_passed_is_taken_as_given_and_fenced_json_is_read():
    verdict = parse_answer(answer('```json\n{"value": 4, "passed": false, "reason": "slow"}\n```'))
    assert (verdict.value, verdict.passed, verdict.details) == (4, False, {})


def test_a_non_pass_fail_answer_has_no_pass():
    verdict = parse_answer(answer('{"value": "billing", "passed": null, "reason": "topic"}'))
    assert (verdict.value, verdict.passed, verdict.result) == ("billing", None, "billing")


@pytest.mark.parametrize(
    ("message", "says"),
    [
        (
            answer(None, refusal="I can't help with that."),
            "the judge refused: I can't help with that.",
        ),
        (answer("   "), "the judge gave an empty answer"),
        (answer("Yes, it did."), "the judge's answer is not JSON: 'Yes, it did.'"),
        (answer('["yes"]'), 'has no "value"'),
        (answer('{"reason": "no value"}'), 'has no "value"'),
        (answer('{"value": 1, "passed": "yes"}'), "\"passed\" is not true, false or null: 'yes'"),
    ],
)
def test_unusable_answers_fail_and_are_retried(message, says):
    with pytest.raises(JudgeFailed) as failed:
        parse_answer(message)
    assert says in failed.value.reason
    assert failed.value.retry
