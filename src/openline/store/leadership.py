"""Which one of several openline processes on one database runs a job that must run once
(the alert evaluator): on PostgreSQL, the holder of a session advisory lock; on SQLite,
the one process that owns the file.

The lock lives on a connection of its own, in autocommit (no transaction left open): if
the process dies, PostgreSQL ends the session and another process takes the lock at its
next try. A connection that broke (the database restarted) gives leadership up.
Advisory locks are per database, so the key is (the schema's hash, ``lock_id``): two
openlines in two schemas of one database each have their own leader.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)


class Leadership:
    def __init__(self, engine: Engine, lock_id: int) -> None:
        self._engine = engine
        self._lock_id = lock_id
        self._held: Connection | None = None
        self._key = (func.hashtext(func.current_schema()), lock_id)

    def lead(self) -> bool:
        """Whether this process leads now, taking the lock if it is free (blocking I/O)."""
        if self._engine.dialect.name != "postgresql":
            return True
        if self._held is not None:
            try:
                self._held.execute(select(1))
                return True
            except SQLAlchemyError:
                log.warning("lost the connection holding lock %d; trying again", self._lock_id)
                self._drop()
        connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            taken = connection.execute(select(func.pg_try_advisory_lock(*self._key))).scalar()
        except Exception:
            connection.invalidate()
            raise
        if not taken:
            connection.close()
            return False
        self._held = connection
        return True

    def release(self) -> None:
        if self._held is None:
            return
        try:
            self._held.execute(select(func.pg_advisory_unlock(*self._key)))
            self._held.close()
        except SQLAlchemyError:
            self._drop()
        self._held = None

    def _drop(self) -> None:
        """Close the connection for good: back in the pool it would keep the lock."""
        if self._held is not None:
            self._held.invalidate()
            self._held.close()
        self._held = None
