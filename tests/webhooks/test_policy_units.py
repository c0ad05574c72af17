"""The rules behind delivery, without a server: retry waits, Retry-After, target checks."""

from __future__ import annotations

import asyncio
import re
import socket
from datetime import timedelta
from email.utils import format_datetime

import pytest

from openline.domain.time import utcnow
from openline.webhooks.schedule import DEFAULT_SCHEDULE_S, next_delay, parse_retry_after
from openline.webhooks.targets import TargetPolicy, TargetRefused, check_resolved, check_url


def test_default_schedule_is_the_documented_one():
    assert DEFAULT_SCHEDULE_S == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


def test_waits_follow_the_schedule_with_jitter_then_stop():
    schedule = (0.0, 5.0, 300.0)
    waits = [next_delay(1, schedule, None) for _ in range(200)]
    assert all(4.5 <= w <= 5.5 for w in waits) and len(set(waits)) > 100  # ±10%, spread
    assert 270 <= next_delay(2, schedule, None) <= 330
    assert next_delay(3, schedule, None) is None  # used up: the delivery is given up


def test_retry_after_lengthens_but_never_shortens_the_wait():
    schedule = (0.0, 5.0, 300.0)
    assert next_delay(1, schedule, "120") == 120
    assert 270 <= next_delay(2, schedule, "1") <= 330
    in_a_minute = format_datetime(utcnow() + timedelta(seconds=60), usegmt=True)
    assert 55 <= parse_retry_after(in_a_minute) <= 60
    assert parse_retry_after("1e9") == 86_400  # capped at a day
    assert parse_retry_after("soon") is None and parse_retry_after("") is None
    assert parse_retry_after("-5") == 0


def test_what_the_settings_allow():
    check_url("http://hooks.example.com/x", TargetPolicy(allow_http=True))
    check_url("https://10.0.0.1/x", TargetPolicy(allow_private=True))
    check_url("https://169.254.169.254/", TargetPolicy(allow_private=True))
    with pytest.raises(TargetRefused, match="plain http is only allowed to loopback"):
        check_url("http://10.0.0.1/x", TargetPolicy(allow_private=True))
    with pytest.raises(TargetRefused, match=re.escape("10.0.0.1 is a private address")):
        check_url("http://10.0.0.1/x", TargetPolicy(allow_http=True))
    check_url("http://10.0.0.1/x", TargetPolicy(allow_http=True, allow_private=True))


async def test_resolved_addresses_are_checked_before_each_send(monkeypatch):
    """A name that resolves into a private range is refused, whatever the name says."""
    loop = asyncio.get_running_loop()

    async def resolve(host, port, **_):
        address = {"hooks.example.com": "10.1.2.3", "ok.example.com": "93.184.215.14"}[host]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(loop, "getaddrinfo", resolve)
    await check_resolved("https://ok.example.com/in", TargetPolicy())
    with pytest.raises(
        TargetRefused, match=re.escape("hooks.example.com resolves to 10.1.2.3, a private")
    ):
        await check_resolved("https://hooks.example.com/in", TargetPolicy())
    await check_resolved("https://hooks.example.com/in", TargetPolicy(allow_private=True))
