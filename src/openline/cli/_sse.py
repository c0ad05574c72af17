"""Decoding server-sent events (the live tail of a call) from lines of text."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerEvent:
    event: str
    data: Any  # the JSON-decoded data, or the raw text when it is not JSON


class SseDecoder:
    """Feed it lines (without their newline); it returns an event at each blank line."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> ServerEvent | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):  # a comment, e.g. a keepalive
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> ServerEvent | None:
        if not self._data and not self._event:
            return None
        text = "\n".join(self._data)
        event = self._event or "message"
        self._event, self._data = "", []
        try:
            data = json.loads(text)
        except ValueError:
            data = text
        return ServerEvent(event, data)

    def events(self, lines: Iterable[str]) -> Iterator[ServerEvent]:
        for line in lines:
            event = self.feed(line)
            if event is not None:
                yield event

    async def aevents(self, lines: AsyncIterator[str]) -> AsyncIterator[ServerEvent]:
        async for line in lines:
            event = self.feed(line)
            if event is not None:
                yield event
