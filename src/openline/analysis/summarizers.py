"""Summarizers: turn a finished call into one or two sentences.

The default works offline from the transcript itself (who asked what, which tools ran,
how it ended). With an OpenAI-compatible endpoint configured, a model writes it instead.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

_QUOTE_CHARS = 120
_ENDINGS = {
    "agent_hangup": "the agent ended the call",
    "client_hangup": "the caller hung up",
    "inactivity": "the line went quiet",
    "max_duration": "it reached the maximum duration",
    "error": "it failed",
}


class Summarizer(Protocol):
    async def summarize(self, call: dict[str, Any]) -> str: ...


class OfflineSummarizer:
    async def summarize(self, call: dict[str, Any]) -> str:
        return summarize_transcript(call)


def summarize_transcript(call: dict[str, Any]) -> str:
    turns = [t for t in call.get("transcript", []) if t["role"] in ("user", "assistant")]
    said = [t["text"].strip() for t in turns if t["role"] == "user" and t["text"].strip()]
    answers = [t["text"].strip() for t in turns if t["role"] == "assistant" and t["text"].strip()]
    tools = sorted({tool["name"] for t in turns for tool in t.get("tool_calls", [])})
    ending = _ENDINGS.get(call.get("end_reason") or "", "it ended")
    if call.get("end_reason") == "error" and call.get("error_message"):
        ending += f" ({_quote(call['error_message'], 80)})"
    if not said:
        opening = "The caller said nothing"
        if answers:
            opening += f" after the agent's greeting, {_quote(answers[0])}"
        return f"{opening}, and {ending}."
    first = f"The caller said {_quote(said[0])}"
    if len(said) > 1:
        first += f" and spoke {len(said) - 1} more time{'s' if len(said) > 2 else ''}"
    used = f" used {_join(tools)} and" if tools else ""
    last = (
        f"The agent{used} last replied {_quote(answers[-1])}"
        if answers
        else "The agent never replied"
    )
    return f"{first}. {last}, and {ending}."


def _quote(text: str, limit: int = _QUOTE_CHARS) -> str:
    text = " ".join(text.split())
    return f"“{text if len(text) <= limit else text[: limit - 1].rstrip() + '…'}”"


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


class LlmSummarizer:
    """Any OpenAI-compatible chat-completions endpoint."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        model: str,
        timeout_s: float = 30.0,
    ) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._model = model
        self._timeout_s = timeout_s

    async def summarize(self, call: dict[str, Any]) -> str:
        lines = [
            f"{t['role']}: {t['text']}"
            for t in call.get("transcript", [])
            if t["role"] in ("user", "assistant")
        ]
        prompt = (
            "Summarize this phone call between a caller (user) and a voice agent (assistant) "
            "in one or two sentences. End reason: "
            f"{call.get('end_reason')}.\n\n" + "\n".join(lines)[:50_000]
        )
        reply = await self._http.post(
            self._url,
            headers=self._headers,
            json={
                "model": self._model,
                "messages": [{"role": "user", "content": prompt}],
                "temperature": 0,
            },
            timeout=self._timeout_s,
        )
        reply.raise_for_status()
        text = reply.json()["choices"][0]["message"]["content"]
        if not isinstance(text, str) or not text.strip():
            raise ValueError("the model returned an empty summary")
        return " ".join(text.split())
