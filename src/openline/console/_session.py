"""Console sign-in sessions and CSRF tokens, in signed cookies.

- The session cookie names a session row (``store/sessions.py``) and when it expires.
  Every request checks the row is there and its API key still exists, so signing out
  (which deletes the row) or deleting the key ends the session on every worker.
- The CSRF token is a random value in its own signed cookie ("double submit", as
  Datasette does it); every form repeats it in a hidden field and every POST must
  present both, equal. Both cookies are HTTP-only, ``SameSite=Strict`` and scoped to
  ``/console``.

Both are signed with the server's signing secret (``openline._signing``).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from openline._signing import Signer

SESSION_COOKIE = "openline_session"
CSRF_COOKIE = "openline_csrf"
CSRF_FIELD = "csrf_token"
COOKIE_PATH = "/console"
SESSION_TTL_S = 12 * 3600


@dataclass(frozen=True)
class Session:
    id: str
    key_id: str


class Tokens:
    """Makes and reads the console's two cookies."""

    def __init__(self, signer: Signer) -> None:
        self._signer = signer

    def session_cookie(self, session_id: str, expires_at: float) -> str:
        return self._signer.sign("session", {"s": session_id, "exp": expires_at})

    def session_id(self, cookie: str | None, now: float | None = None) -> str | None:
        """The session a genuine, unexpired cookie names."""
        payload = self._signer.unsign("session", cookie)
        if payload is None or not isinstance(payload.get("s"), str):
            return None
        expires = payload.get("exp")
        if not isinstance(expires, int | float) or expires <= (now or time.time()):
            return None
        return payload["s"]

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
        if not expected or not presented:
            return False
        return hmac.compare_digest(expected, presented)


def cookie_options(secure: bool) -> dict:
    return {"path": COOKIE_PATH, "httponly": True, "samesite": "strict", "secure": secure}
