"""Splitting a process's output into lines, without trusting it to ever end a line."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

_CHUNK = 64 * 1024


async def read_lines(
    stream: asyncio.StreamReader, on_line: Callable[[str], None], max_chars: int
) -> None:
    """Call ``on_line`` for each line of ``stream`` until it closes. A line longer than
    ``max_chars`` is cut there and marked, so one endless line cannot eat memory."""
    pending = b""
    cut = False
    while chunk := await stream.read(_CHUNK):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            if cut:  # the rest of a line already cut
                cut = False
                continue
            on_line(_text(raw, max_chars))
        if len(pending) > max_chars * 4:  # characters are at most 4 bytes
            if not cut:
                on_line(_text(pending, max_chars))
            pending, cut = b"", True
    if pending and not cut:
        on_line(_text(pending, max_chars))


def _text(raw: bytes, max_chars: int) -> str:
    text = raw.decode("utf-8", "replace").rstrip("\r")
    if len(text) > max_chars:
        return text[:max_chars] + f" … [cut: line over {max_chars} characters]"
    return text
