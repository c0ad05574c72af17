"""API keys, stored as SHA-256 digests.

Generated keys are 256 random bits, so a fast digest is enough: there is nothing to
brute-force that a slow password hash would protect. A key chosen by hand
(``OPENLINE_API_KEY``) must be at least ``MIN_KEY_LENGTH`` characters, so that it cannot
be one of the few anyone would try first.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Engine, func, select

from openline import ids
from openline.domain.time import utcnow
from openline.store.schema import api_keys

MIN_KEY_LENGTH = 20


class KeyTooShort(ValueError):
    def __init__(self) -> None:
        super().__init__(f"an API key must be at least {MIN_KEY_LENGTH} characters long")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, name: str, key: str | None = None) -> tuple[str, str]:
        """Store a key (a new one unless given); returns (key id, the key itself)."""
        key = key or ids.new_secret()
        if len(key) < MIN_KEY_LENGTH:
            raise KeyTooShort
        key_id = ids.new_id(ids.API_KEY)
        row = {
            "id": key_id,
            "name": name,
            "key_hash": digest(key),
            "key_prefix": key[:8],
            "created_at": utcnow(),
        }
        with self._engine.begin() as connection:
            connection.execute(api_keys.insert(), row)
        return key_id, key

    def count(self) -> int:
        with self._engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(api_keys)).scalar_one()

    def exists(self, key_id: str) -> bool:
        query = select(api_keys.c.id).where(api_keys.c.id == key_id)
        with self._engine.connect() as connection:
            return connection.execute(query).first() is not None

    def verify(self, key: str) -> str | None:
        """The key's id when ``key`` is valid (never one shorter than the minimum, which
        an earlier openline may have installed)."""
        if len(key) < MIN_KEY_LENGTH:
            return None
        query = select(api_keys.c.id).where(api_keys.c.key_hash == digest(key))
        with self._engine.connect() as connection:
            return connection.execute(query).scalar_one_or_none()
