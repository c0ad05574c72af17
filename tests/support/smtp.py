"""A real SMTP server on loopback (aiosmtpd) that keeps every message it is sent."""

from __future__ import annotations

import email
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message

from aiosmtpd.controller import Controller

from tests.support.servers import free_port


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)
    refuse: bool = False  # answer 451 (try again later) while set

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd calls it so
        if self.refuse:
            return "451 4.3.0 mailbox busy, try again later"
        message = email.message_from_bytes(envelope.content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    """(port, mailbox) of an SMTP server listening on 127.0.0.1 while in the block."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, mailbox
    finally:
        controller.stop()
