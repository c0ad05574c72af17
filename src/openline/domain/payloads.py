"""Caps on what agents and clients may make us store.

Anything over the cap is kept, truncated, with a marker saying so: a recorded fact is
never dropped for being large, and one huge payload cannot bloat the database.
"""

from __future__ import annotations

import json
from typing import Any

PREVIEW_CHARS = 1000


def cap_text(text: str, cap: int) -> str:
    if len(text) <= cap:
        return text
    return f"{text[:cap]}…[truncated {len(text) - cap} chars]"


def cap_json(value: Any, cap: int) -> Any:
    """``value`` itself when its JSON form fits in ``cap`` characters, else a marker
    object with a preview (the same shape the Line SDK uses for its own truncation)."""
    try:
        encoded = json.dumps(value)
    except (TypeError, ValueError):  # not JSON: keep its repr rather than lose it
        encoded = json.dumps(value, default=repr)
        value = json.loads(encoded)
    if len(encoded) <= cap:
        return value
    return {"_truncated": True, "_preview": encoded[:PREVIEW_CHARS], "_size": len(encoded)}
