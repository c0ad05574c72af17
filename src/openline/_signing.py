"""Signed tokens: HMAC-SHA256 over a JSON payload, with the server's signing secret.

Console sessions and API access tokens are signed with it. It comes from
``OPENLINE_CONSOLE_SECRET`` (give every worker the same one) or else from
``console_secret`` in the data directory, created on first use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from pathlib import Path

from openline._secret_file import read_or_create

SECRET_FILE = "console_secret"


def load_secret(data_dir: Path, given: str | None = None) -> bytes:
    """``given`` (the ``console_secret`` setting) or the data directory's own secret."""
    if given:
        return given.encode()
    return read_or_create(data_dir / SECRET_FILE, lambda: secrets.token_urlsafe(32)).encode()


class Signer:
    """``purpose`` keeps one kind of token from being accepted as another."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, purpose: str, payload: dict) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._mac(purpose, body)}"

    def unsign(self, purpose: str, token: str | None) -> dict | None:
        if not token or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        if not hmac.compare_digest(mac, self._mac(purpose, body)):
            return None
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None

    def _mac(self, purpose: str, body: str) -> str:
        digest = hmac.new(self._secret, f"{purpose}:{body}".encode(), hashlib.sha256).digest()
        return _b64(digest)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
