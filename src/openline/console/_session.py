"""Console sign-in sessions and CSRF tokens: signed cookies, nothing stored server-side.

- The session cookie names the API key that signed in (its id, never the key) and when
  the session expires, signed with the console secret. Every request checks the key
  still exists, so deleting a key ends its sessions on every worker.
- The CSRF token is a random value in its own signed cookie ("double submit", as
  Datasette does it); every form repeats it in a hidden field and every POST (and the
  playground's websocket) must present both, equal. Both cookies are HTTP-only,
  ``SameSite=Strict`` and scoped to ``/console``.

The secret comes from ``OPENLINE_CONSOLE_SECRET`` (give every worker the same one) or
else from ``console_secret`` in the data directory, created on first use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from openline._secret_file import read_or_create

SESSION_COOKIE = "openline_session"
CSRF_COOKIE = "openline_csrf"
CSRF_FIELD = "csrf_token"
COOKIE_PATH = "/console"
SESSION_TTL_S = 12 * 3600
SECRET_FILE = "console_secret"


def load_secret(data_dir: Path, given: str | None = None) -> bytes:
    """``given`` (the ``console_secret`` setting) or the data directory's own secret."""
    if given:
        return given.encode()
    return read_or_create(data_dir / SECRET_FILE, lambda: secrets.token_urlsafe(32)).encode()


class Signer:
    """HMAC-SHA256 over a JSON payload; ``purpose`` keeps one kind of token from being
    accepted as another."""

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


@dataclass(frozen=True)
class Session:
    key_id: str
    expires_at: float


class Tokens:
    """Makes and reads the console's two cookies."""

    def __init__(self, signer: Signer) -> None:
        self._signer = signer

    def session_cookie(self, key_id: str, now: float | None = None) -> str:
        expires = (time.time() if now is None else now) + SESSION_TTL_S
        return self._signer.sign("session", {"k": key_id, "exp": expires})

    def session(self, cookie: str | None, now: float | None = None) -> Session | None:
        payload = self._signer.unsign("session", cookie)
        if payload is None or not isinstance(payload.get("k"), str):
            return None
        expires = payload.get("exp")
        if not isinstance(expires, int | float) or expires <= (now or time.time()):
            return None
        return Session(payload["k"], float(expires))

    def new_csrf(self) -> tuple[str, str]:
        """A fresh token, and the cookie that carries it."""
        token = secrets.token_urlsafe(24)
        return token, self._signer.sign("csrf", {"t": token})

    def csrf(self, cookie: str | None) -> str | None:
        """The token in a CSRF cookie, if the cookie is genuine."""
        payload = self._signer.unsign("csrf", cookie)
        token = payload.get("t") if payload else None
        return token if isinstance(token, str) else None

    def csrf_ok(self, cookie: str | None, presented: str | None) -> bool:
        expected = self.csrf(cookie)
        return bool(expected and presented) and hmac.compare_digest(expected, presented)


def cookie_options(secure: bool) -> dict:
    return {"path": COOKIE_PATH, "httponly": True, "samesite": "strict", "secure": secure}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
