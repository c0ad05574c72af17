"""JSON frames from callers, refused when nested deeper than any protocol message is:
decoding one thousands of levels deep (and every later encode of it) hits Python's
recursion limit."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

MAX_DEPTH = 64
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')  # brackets inside strings do not nest
# Each byte's change of depth; a frame is up to a MiB, so it is counted in numpy, not in a
# Python loop that would hold up every other call on the event loop.
_STEP = np.zeros(256, np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


class NestedTooDeep(ValueError):
    pass


def loads(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(text)``, or ``NestedTooDeep`` (a ``ValueError``) when arrays and
    objects nest deeper than ``max_depth``."""
    if _deeper_than(text, max_depth):
        raise NestedTooDeep(f"message is nested deeper than {max_depth} levels")
    return json.loads(text)


def _deeper_than(text: str, limit: int) -> bool:
    if text.count("[") + text.count("{") <= limit:
        return False  # too few brackets to nest that deep: the usual frame stops here
    outside_strings = np.frombuffer(_STRING.sub("", text).encode(), np.uint8)
    return int(np.cumsum(_STEP[outside_strings], dtype=np.int32).max()) > limit
