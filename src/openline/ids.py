"""Prefixed, time-ordered ids: ``call_`` + 22 base62 characters.

The first 48 bits are milliseconds since the epoch and the alphabet is in ASCII
order, so sorting ids as strings sorts them by creation time ("newest first" is an
index scan) while 80 random bits keep them unguessable.
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_WIDTH = 22  # 62**22 > 2**128

AGENT = "agent_"
CALL = "call_"
API_KEY = "key_"
DEPLOYMENT = "dep_"
WEBHOOK = "agent_webhook_"
DELIVERY = "whd_"
PROCESS = "proc_"
TALLY_DUE = "atq_"
METRIC = "metric_"
METRIC_RESULT = "metric_result_"
ALERT = "alert_"
ALERT_TRANSITION = "alert_transition_"


def new_id(prefix: str, now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | secrets.randbits(80)
    chars = []
    for _ in range(_WIDTH):
        value, digit = divmod(value, 62)
        chars.append(_ALPHABET[digit])
    return prefix + "".join(reversed(chars))


def new_secret(prefix: str = "ol_") -> str:
    """A high-entropy secret (API keys); 256 random bits."""
    return prefix + secrets.token_urlsafe(32)
