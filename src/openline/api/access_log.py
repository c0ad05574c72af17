"""Keeps credentials out of the server's own log lines.

uvicorn logs the full path and query string of every request and websocket. Whatever
the query carries under a credential's name is masked before the line is written, the
name recognised however it is spelled: ``access_token``, ``access%5Ftoken``,
``%61ccess_token``, ``ACCESS-TOKEN``, encoded twice. An API key or access token in
openline's own format is masked wherever it appears, under any name or in the path.
"""

from __future__ import annotations

import copy
import logging
import re
from urllib.parse import unquote_plus

from uvicorn.config import LOGGING_CONFIG

MASK = "***"
CREDENTIAL_NAMES = frozenset(
    {"access_token", "api_key", "apikey", "key", "token", "x_api_key", "authorization", "csrf"}
)
_QUERY = re.compile(r"\?([^\s\"'#]*)")
# openline's keys (``ol_`` + 43 URL-safe characters) and access tokens (``ol_at_…``),
# also percent-encoded.
_OPENLINE_SECRET = re.compile(r"(?<![\w-])ol_(?:[\w.-]|%[0-9A-Fa-f]{2}){16,}")


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(mask(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = mask(record.msg)
        return True


def mask(text: str) -> str:
    """``text`` with every credential in its URLs replaced by ``***``."""
    text = _QUERY.sub(lambda found: "?" + _mask_query(found.group(1)), text)
    return _OPENLINE_SECRET.sub(MASK, text)


def _mask_query(query: str) -> str:
    pairs = []
    for pair in query.split("&"):
        name, equals, _ = pair.partition("=")
        pairs.append(f"{name}={MASK}" if equals and _is_credential(name) else pair)
    return "&".join(pairs)


def _is_credential(name: str) -> bool:
    for _ in range(4):  # encoded more than once still names the parameter to a reader
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    return name.strip().lower().replace("-", "_") in CREDENTIAL_NAMES


def uvicorn_log_config() -> dict:
    """uvicorn's logging set-up with the filter on both of its handlers."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_secrets")
    return config
