"""Scripts for the wire agent (tests/support/wire_agent.py): the exact frames it sends."""

from __future__ import annotations

import json
from typing import Any


def script(*frames: dict[str, Any]) -> str:
    """A caller's line that makes the wire agent send ``frames``."""
    return json.dumps(list(frames))


def message(text: str, trigger: str = "$trigger") -> dict[str, Any]:
    """An agent ``message`` answering ``trigger`` (by default the caller's turn)."""
    return {"type": "message", "content": text, "responding_to": trigger}


def tool(name: str, arguments: dict, result: str | None = None) -> dict[str, Any]:
    """A ``tool_call`` as Line SDKs send it: no id, the arguments repeated on the result."""
    return {"type": "tool_call", "name": name, "arguments": arguments, "result": result, "id": None}
