"""Servers whose alerts are evaluated often, with a real SMTP server for their emails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import RunningServer, openline_server
from tests.support.smtp import Mailbox, smtp_server

INTERVAL_S = 0.3
# Retries soon after a failure (the default waits 5 s, then 5 min).
RETRIES_S = (0.0, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0)


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    with smtp_server() as running:
        yield running


def alerting_settings(settings, smtp_port: int):
    return settings.model_copy(
        update={
            "alert_interval_s": INTERVAL_S,
            "analytics_interval_s": 0.2,
            "webhook_retry_schedule_s": RETRIES_S,
            "webhook_probe_max_s": 0.5,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_starttls": False,
        }
    )


@pytest.fixture
def alerting(settings, smtp) -> Iterator[RunningServer]:
    """An openline server evaluating alerts every INTERVAL_S, mailing through ``smtp``."""
    with openline_server(alerting_settings(settings, smtp[0])) as server:
        yield server
