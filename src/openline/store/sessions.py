"""Console sessions: one row per sign-in, so that signing out ends it everywhere (a
signed cookie alone stays good until it expires)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select

from openline.domain.time import utcnow
from openline.store.schema import api_keys, console_sessions


class SessionRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def start(self, key_id: str, ttl_s: float) -> tuple[str, datetime]:
        """A new session for the key; its id and when it expires."""
        now = utcnow()
        session_id = secrets.token_urlsafe(32)
        expires_at = now + timedelta(seconds=ttl_s)
        row = {"id": session_id, "key_id": key_id, "created_at": now, "expires_at": expires_at}
        with self._engine.begin() as connection:
            connection.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now))
            connection.execute(console_sessions.insert(), row)
        return session_id, expires_at

    def key_of(self, session_id: str) -> str | None:
        """The key a live session signed in with, while that key still exists."""
        s, k = console_sessions.c, api_keys.c
        query = (
            select(s.key_id)
            .join(api_keys, k.id == s.key_id)
            .where(s.id == session_id, s.expires_at > utcnow())
        )
        with self._engine.connect() as connection:
            return connection.execute(query).scalar_one_or_none()

    def end(self, session_id: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(delete(console_sessions).where(console_sessions.c.id == session_id))
