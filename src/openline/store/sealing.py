"""Secrets sealed at rest: agent environment variable values and webhook secrets are
stored encrypted.

A sealed value is ``fernet:`` and a Fernet token (AES-CBC with an HMAC: a value sealed
under another key, or altered, is refused rather than misread). A value without the
prefix was stored before sealing existed: it reads as it is until start-up seals it.

The key is ``OPENLINE_SECRETS_KEY``, or else ``secrets_key`` in the data directory, made
once. Losing the key loses the values; every worker on one database needs the same key.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, Table, func, select, update

from openline._secret_file import read_or_create

PREFIX = "fernet:"
KEY_FILE = "secrets_key"
SETTING = "OPENLINE_SECRETS_KEY"
MAKE_KEY = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


class SealedWithAnotherKey(Exception):
    """A stored value does not open with this process's key; ``str()`` says which."""


def fernet(key: str, source: str = SETTING) -> Fernet:
    """The cipher for ``key``; a ``ValueError`` naming ``source`` if it is not a key."""
    try:
        return Fernet(key)
    except ValueError:  # bad base64 too (binascii.Error is a ValueError)
        raise ValueError(
            f"{source} is not a Fernet key (32 url-safe base64-encoded bytes); "
            f"make one with: {MAKE_KEY}"
        ) from None


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


class Sealer:
    def __init__(self, key: str, source: str = SETTING) -> None:
        self._fernet = fernet(key, source)

    @classmethod
    def load(cls, data_dir: Path, given: str | None = None) -> Sealer:
        """With ``given`` (the ``secrets_key`` setting) or the data directory's own key."""
        if given is not None:
            return cls(given)
        path = data_dir / KEY_FILE
        return cls(read_or_create(path, lambda: Fernet.generate_key().decode()), str(path))

    def seal(self, plain: str) -> str:
        return PREFIX + self._fernet.encrypt(plain.encode()).decode()

    def open(self, stored: str, what: str) -> str:
        """The plain value of ``stored`` (``what`` names it in the error)."""
        if not is_sealed(stored):
            return stored
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :]).decode()
        except InvalidToken:
            raise SealedWithAnotherKey(
                f"{what} was sealed with another key: give every openline worker the same {SETTING}"
            ) from None


def seal_plain(engine: Engine, table: Table, column: str, sealer: Sealer) -> int:
    """Seal the values of ``column`` stored in plain text before sealing existed, in one
    transaction; returns how many. Safe while other workers do the same."""
    keys = [c for c in table.primary_key.columns]
    value = table.c[column]
    query = (
        select(*keys, value)
        .where(func.substr(value, 1, len(PREFIX)) != PREFIX)  # LIKE may ignore case
        .order_by(*keys)  # one order for every worker: no deadlock
    )
    with engine.connect() as connection:
        plain = connection.execute(query).all()
    if not plain:
        return 0
    sealed = 0
    # Writes only (SQLite takes its write lock at once), each one only if the row still
    # holds the plain value read above: a value set meanwhile is kept.
    with engine.begin() as connection:
        for *key, stored in plain:
            sealed += connection.execute(
                update(table)
                .where(*(c == k for c, k in zip(keys, key, strict=True)), value == stored)
                .values({column: sealer.seal(stored)})
            ).rowcount
    return sealed
