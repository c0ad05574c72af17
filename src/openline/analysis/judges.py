"""Judges: answer one metric's question about one finished call.

A rule metric is judged offline by its rule (``domain/rules.py``). A prompt metric is
asked of an LLM over any OpenAI-compatible chat-completions endpoint (the analysis LLM
settings). Every way a judge can fail raises ``JudgeFailed`` with a reason a user can
act on, and says whether trying again could help.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from openline.domain.rules import Verdict, parse_rule

_TRANSCRIPT_CHARS = 50_000
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)

INSTRUCTIONS = """\
You evaluate a finished phone call between a caller (user) and a voice agent (assistant).
Answer the evaluation question about the call. Reply with only a JSON object:
{"value": <your answer: true or false, a number, or a short string>,
 "passed": <true if the call meets the question's criterion, false if not, null if the
            question is not pass/fail>,
 "reason": "<one sentence: why>",
 "result": {<optional structured details>}}"""


class JudgeFailed(Exception):
    def __init__(self, reason: str, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry  # False: trying again cannot change the outcome


class Judge:
    """Judges a metric by its rule if it has one, else by asking the LLM."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str | None,
        api_key: str | None,
        model: str,
        timeout_s: float,
    ) -> None:
        self._http = http  # the platform's: one client, not one (and its TLS setup) per question
        self._url = base_url.rstrip("/") + "/chat/completions" if base_url else None
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._model = model
        self._timeout_s = timeout_s

    async def judge(self, metric: dict, call: dict[str, Any]) -> Verdict:
        if metric.get("rule") is not None:
            return parse_rule(metric["rule"]).check(call)
        if self._url is None:
            raise JudgeFailed(
                "no LLM judge is configured: set OPENLINE_ANALYSIS_LLM_BASE_URL, or give the "
                "metric an offline rule",
                retry=False,
            )
        answer = await self._ask(self._messages(metric, call))
        return parse_answer(answer)

    def _messages(self, metric: dict, call: dict[str, Any]) -> list[dict[str, str]]:
        lines = [
            f"{t['role']}: {t['text']}"
            for t in call.get("transcript", [])
            if t["role"] in ("user", "assistant")
        ]
        about = (
            f"Evaluation question: {metric['prompt']}\n\n"
            f"End reason: {call.get('end_reason')}\n\nTranscript:\n"
            + "\n".join(lines)[:_TRANSCRIPT_CHARS]
        )
        return [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": about}]

    async def _ask(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        assert self._url is not None
        body = {"model": self._model, "messages": messages, "temperature": 0}
        try:
            reply = await self._http.post(
                self._url, headers=self._headers, json=body, timeout=self._timeout_s
            )
        except httpx.TimeoutException as error:
            raise JudgeFailed(
                f"the judge did not answer within {self._timeout_s:g} s", True
            ) from error
        except httpx.HTTPError as error:
            raise JudgeFailed(f"the judge could not be reached: {error!r}", True) from error
        if reply.status_code >= 400:
            # 4xx other than rate limits are the request's fault: the same one fails again.
            retry = reply.status_code == 429 or reply.status_code >= 500
            raise JudgeFailed(
                f"the judge answered HTTP {reply.status_code}: {reply.text[:300]}", retry
            )
        try:
            return reply.json()["choices"][0]["message"]
        except (ValueError, LookupError, TypeError) as error:
            raise JudgeFailed(f"not a chat-completions reply: {reply.text[:300]}", True) from error


def parse_answer(message: dict[str, Any]) -> Verdict:
    """The judge's chat message as a verdict; a refusal or an unparseable answer fails."""
    if message.get("refusal"):
        raise JudgeFailed(f"the judge refused: {str(message['refusal'])[:300]}", retry=True)
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        raise JudgeFailed("the judge gave an empty answer", retry=True)
    text = content.strip()
    if fenced := _FENCE.match(text):
        text = fenced.group(1)
    try:
        answer = json.loads(text)
    except ValueError as error:
        raise JudgeFailed(f"the judge's answer is not JSON: {content[:300]!r}", True) from error
    if not isinstance(answer, dict) or "value" not in answer:
        raise JudgeFailed(f'the judge\'s answer has no "value": {content[:300]!r}', retry=True)
    passed = answer.get("passed")
    if passed is None and isinstance(answer["value"], bool):
        passed = answer["value"]  # a yes/no question answered yes or no
    if not isinstance(passed, bool | None):
        raise JudgeFailed(f'the judge\'s "passed" is not true, false or null: {passed!r}', True)
    details = answer.get("result")
    return Verdict(
        value=answer["value"],
        passed=passed,
        reason=str(answer.get("reason") or "")[:2000],
        details=details if isinstance(details, dict) else {},
    )
