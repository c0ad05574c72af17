"""Waiting for a condition instead of sleeping a fixed time and hoping it held."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(condition: Callable[[], T], within: float = 10.0, every: float = 0.02) -> T:
    """``condition()``'s first truthy value, checked every ``every`` seconds of the running
    loop's clock (a virtual one too); AssertionError after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not (value := condition()):
        if loop.time() > deadline:
            raise AssertionError(f"not so within {within:g} s: {condition}")
        await asyncio.sleep(every)
    return value


def wait_until(condition: Callable[[], T], within: float = 10.0, every: float = 0.02) -> T:
    """:func:`eventually` for tests that run no event loop."""
    deadline = time.monotonic() + within
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {within:g} s: {condition}")
        time.sleep(every)
    return value
