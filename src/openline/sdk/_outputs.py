"""Turn whatever agent or tool code returned into one async stream of values.

Agents and tools may be plain functions, coroutine functions, generators or async
generators; the session and the tool runner only want `async for`.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator
from typing import Any


async def iterate(result: Any) -> AsyncGenerator[Any, None]:
    """Yield each value produced by `result` (the return value of the user's function).

    A sync generator's `return value` is yielded last, so "the last value" rule
    works for both `yield x` and `return x`.
    """
    if inspect.isawaitable(result):
        result = await result
    if result is None:
        return
    if inspect.isasyncgen(result) or (
        hasattr(result, "__aiter__") and not isinstance(result, (str, bytes, dict))
    ):
        try:
            async for item in result:
                yield item
        finally:
            # Close the user's generator now (runs its `finally`), not at GC time.
            aclose = getattr(result, "aclose", None)
            if aclose is not None:
                await aclose()
        return
    if inspect.isgenerator(result):
        try:
            while True:
                try:
                    item = next(result)
                except StopIteration as stop:
                    if stop.value is not None:
                        yield stop.value
                    return
                yield item
        finally:
            result.close()
    yield result
