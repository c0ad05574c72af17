"""Process leases: each running openline process keeps a row alive with heartbeats.

A lease is renewed on the database's clock when there is one (PostgreSQL's ``now()``),
so processes on hosts whose clocks disagree still agree on which leases have expired.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select

from openline.domain.time import utcnow
from openline.store import schema


class ProcessRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def register(self, process_id: str, host: str, pid: int, ttl_s: float) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                schema.processes.insert().values(
                    id=process_id,
                    host=host,
                    pid=pid,
                    started_at=self._now(),
                    heartbeat_at=self._now(),
                    lease_expires_at=self._now(ttl_s),
                )
            )

    def heartbeat(self, process_id: str, ttl_s: float) -> bool:
        """Renew the lease; False when it is gone (it expired and was cleared)."""
        p = schema.processes.c
        with self._engine.begin() as connection:
            renewed = connection.execute(
                schema.processes.update()
                .where(p.id == process_id)
                .values(heartbeat_at=self._now(), lease_expires_at=self._now(ttl_s))
            )
        return bool(renewed.rowcount)

    def expire(self, process_ids: list[str]) -> None:
        """End leases now: the processes are known to be gone (or leaving)."""
        p = schema.processes.c
        with self._engine.begin() as connection:
            connection.execute(
                schema.processes.update()
                .where(p.id.in_(process_ids))
                .values(lease_expires_at=self._now())
            )

    def live(self):
        """A subquery: ids of processes whose lease has not expired."""
        p = schema.processes.c
        return select(p.id).where(p.lease_expires_at > self._now())

    def clear_expired(self) -> None:
        """Forget expired processes that no longer own an open call."""
        p, c = schema.processes.c, schema.calls.c
        owning = select(c.owner_process_id).where(
            c.status == "started", c.owner_process_id.is_not(None)
        )
        with self._engine.begin() as connection:
            connection.execute(
                schema.processes.delete().where(
                    p.lease_expires_at <= self._now(), p.id.not_in(owning)
                )
            )

    def _now(self, plus_s: float = 0.0):
        if self._engine.dialect.name == "postgresql":
            return func.now() + timedelta(seconds=plus_s)
        return utcnow() + timedelta(seconds=plus_s)
