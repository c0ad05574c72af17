"""Form filler agent: asks a fixed list of questions and records each answer as a metric.

Each answered question is logged with `LogMetric(name=<question id>, value=<answer>)`,
so the answers appear on the call's transcript and in the call's metrics. When the
form is complete the agent reads it back and ends the call.

Run it:  PORT=8123 python main.py
"""

from __future__ import annotations

import logging

from openline.sdk import (
    AgentApp,
    AgentEndCall,
    AgentSendText,
    CallStarted,
    LogMessage,
    LogMetric,
    UserTurnEnded,
)

logger = logging.getLogger("form_filler")

QUESTIONS = [
    {"id": "full_name", "text": "What is your full name?"},
    {"id": "email", "text": "What email address can we reach you at?"},
    {"id": "callback_time", "text": "When is a good time to call you back?"},
]


class FormManager:
    """Which question is next, and the answers so far."""

    def __init__(self, questions: list[dict[str, str]]) -> None:
        self.questions = questions
        self.answers: dict[str, str] = {}
        self.index = 0

    def current_question(self) -> dict[str, str] | None:
        return self.questions[self.index] if self.index < len(self.questions) else None

    def record_answer(self, answer: str) -> bool:
        """Store the answer to the current question; False if it is not acceptable."""
        question = self.current_question()
        if question is None or not answer:
            return False
        if question["id"] == "email" and "@" not in answer and " at " not in answer:
            return False
        self.answers[question["id"]] = answer
        self.index += 1
        return True

    @property
    def complete(self) -> bool:
        return self.current_question() is None


class FormFillerAgent:
    """One per call (see `get_agent` below): it holds that call's form."""

    def __init__(self) -> None:
        self.form_manager = FormManager(QUESTIONS)

    async def process(self, ctx, event):
        if isinstance(event, CallStarted):
            first = self.form_manager.current_question()
            yield AgentSendText(f"Hi! I have {len(QUESTIONS)} quick questions. {first['text']}")
            return
        if not isinstance(event, UserTurnEnded):
            return
        answer = event.content.strip()
        current_question = self.form_manager.current_question()

        # Record the answer in form manager
        success = self.form_manager.record_answer(answer)

        if success:
            # Log metric for the answered question
            if current_question:
                metric_name = current_question["id"]
                yield LogMetric(name=metric_name, value=answer)
                logger.info(f"📊 Logged metric: {metric_name}={answer}")
        else:
            logger.info(
                "answer %r rejected for %s", answer, current_question and current_question["id"]
            )
            yield AgentSendText(f"Sorry, I didn't get that. {current_question['text']}")
            return

        if self.form_manager.complete:
            yield LogMessage(
                name="form_completed",
                message="All questions answered",
                metadata=dict(self.form_manager.answers),
            )
            summary = ", ".join(
                f"{k.replace('_', ' ')}: {v}" for k, v in self.form_manager.answers.items()
            )
            yield AgentSendText(f"Thank you! I have {summary}. Goodbye!")
            yield AgentEndCall(reason="form_completed")
        else:
            yield AgentSendText(self.form_manager.current_question()["text"])


def get_agent(ctx, request):
    logger.info("new form for call %s", request.call_id)
    return FormFillerAgent()


app = AgentApp(get_agent=get_agent, name="form-filler")

if __name__ == "__main__":
    app.run()
