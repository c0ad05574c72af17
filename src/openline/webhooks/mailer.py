"""Email for endpoints of format ``email``: one message per delivery over SMTP, sent in a
worker thread (smtplib blocks), with the outcome the dispatcher records and retries."""

from __future__ import annotations

import asyncio
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage

SMTP_OK = 250  # "requested mail action okay, completed": recorded as the status code


@dataclass(frozen=True)
class MailSent:
    status_code: int | None
    duration_ms: float
    error: str | None  # None: the server took the message


@dataclass(frozen=True)
class Mailer:
    host: str | None
    port: int
    username: str | None
    password: str | None
    starttls: bool
    sender: str
    timeout_s: float

    async def send(self, message: EmailMessage) -> MailSent:
        started = time.perf_counter()
        code, error = await asyncio.to_thread(self._send, message)
        return MailSent(code, round((time.perf_counter() - started) * 1000, 2), error)

    def _send(self, message: EmailMessage) -> tuple[int | None, str | None]:
        if not self.host:
            return None, "no SMTP server: set OPENLINE_SMTP_HOST"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username and self.password:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(message)
        except smtplib.SMTPResponseException as failure:
            reason = _text(failure.smtp_error)
            return failure.smtp_code, f"SMTP {failure.smtp_code}: {reason}"
        except smtplib.SMTPRecipientsRefused as failure:
            code, refusal = next(iter(failure.recipients.values()))
            return code, f"SMTP {code}: {_text(refusal)}"
        except (smtplib.SMTPException, OSError) as failure:
            return None, f"{type(failure).__name__}: {failure}".removesuffix(": ")
        if refused:  # only some recipients were taken: there is just one
            return None, f"recipient refused: {refused}"
        return SMTP_OK, None


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
