"""Keeps API keys out of the server's own log lines.

Browsers pass the key as ``?access_token=`` when opening a call websocket, and uvicorn
logs the full path of every request; this filter masks the value before it is written.
"""

from __future__ import annotations

import copy
import logging
import re

from uvicorn.config import LOGGING_CONFIG

_TOKEN = re.compile(r"(access_token=)[^&\s\"']+")


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_mask(arg) for arg in record.args)
        record.msg = _mask(record.msg)
        return True


def _mask(value):
    return _TOKEN.sub(r"\1***", value) if isinstance(value, str) else value


def uvicorn_log_config() -> dict:
    """uvicorn's logging set-up with the filter on both of its handlers."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_secrets")
    return config
