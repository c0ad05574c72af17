"""Deployments, their log lines, and the environment variables of agents.

Status values are plain strings here (the state machine lives in ``openline.deploy``);
the store only guarantees the invariants a database can: one live deployment per
agent (a partial unique index), and that the switch of the live deployment happens
in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, func, select, update

from openline.domain.time import as_utc, utcnow
from openline.store import schema
from openline.store.feed import ChangeFeed
from openline.store.sealing import Sealer, seal_plain

_TIMES = (
    "created_at",
    "updated_at",
    "build_started_at",
    "build_completed_at",
    "deployment_started_at",
    "deployment_completed_at",
)


def _row(mapping) -> dict:
    row = dict(mapping)
    for name in _TIMES:
        row[name] = as_utc(row[name])
    return row


class DeploymentRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, row: dict[str, Any]) -> dict:
        now = utcnow()
        row = {"is_live": False, "is_pinned": False, "restarts": 0} | row
        row |= {"created_at": now, "updated_at": now}
        insert = schema.deployments.insert().returning(*schema.deployments.c)
        with self._engine.begin() as connection:
            return _row(connection.execute(insert, row).one()._mapping)

    def by_status(self) -> dict[str, int]:
        d = schema.deployments.c
        query = select(d.status, func.count()).group_by(d.status)
        with self._engine.connect() as connection:
            return {status: count for status, count in connection.execute(query)}

    def live_restarts(self) -> dict[str, int]:
        """Each agent's live deployment: how often its process was restarted."""
        d = schema.deployments.c
        query = select(d.agent_id, func.sum(d.restarts)).where(d.is_live).group_by(d.agent_id)
        with self._engine.connect() as connection:
            return {agent: int(restarts) for agent, restarts in connection.execute(query)}

    def get(self, deployment_id: str) -> dict | None:
        query = select(schema.deployments).where(schema.deployments.c.id == deployment_id)
        with self._engine.connect() as connection:
            found = connection.execute(query).first()
        return None if found is None else _row(found._mapping)

    def for_agent(self, agent_id: str, limit: int = 100) -> list[dict]:
        """The agent's deployments, newest first."""
        d = schema.deployments.c
        query = (
            select(schema.deployments)
            .where(d.agent_id == agent_id)
            .order_by(d.id.desc())
            .limit(limit)
        )
        with self._engine.connect() as connection:
            return [_row(row._mapping) for row in connection.execute(query)]

    def counts(self, agent_ids: list[str] | None = None) -> dict[str, int]:
        """How many deployments each agent has (all agents', or those named)."""
        d = schema.deployments.c
        query = select(d.agent_id, func.count()).group_by(d.agent_id)
        if agent_ids is not None:
            query = query.where(d.agent_id.in_(agent_ids))
        with self._engine.connect() as connection:
            return dict(connection.execute(query).all())

    def live(self, agent_id: str) -> dict | None:
        d = schema.deployments.c
        query = select(schema.deployments).where(d.agent_id == agent_id, d.is_live)
        with self._engine.connect() as connection:
            found = connection.execute(query).first()
        return None if found is None else _row(found._mapping)

    def with_status(self, *statuses: str) -> list[dict]:
        d = schema.deployments.c
        query = select(schema.deployments).where(d.status.in_(statuses)).order_by(d.id)
        with self._engine.connect() as connection:
            return [_row(row._mapping) for row in connection.execute(query)]

    def with_process(self) -> list[dict]:
        """Deployments that had a process when last seen (its pid is recorded)."""
        d = schema.deployments.c
        query = select(schema.deployments).where(d.pid.is_not(None))
        with self._engine.connect() as connection:
            return [_row(row._mapping) for row in connection.execute(query)]

    def all_live(self) -> list[dict]:
        d = schema.deployments.c
        query = select(schema.deployments).where(d.is_live).order_by(d.id)
        with self._engine.connect() as connection:
            return [_row(row._mapping) for row in connection.execute(query)]

    def update(self, deployment_id: str, feed: ChangeFeed | None = None, **values: Any) -> None:
        values["updated_at"] = utcnow()
        with self._engine.begin() as connection:
            connection.execute(
                update(schema.deployments)
                .where(schema.deployments.c.id == deployment_id)
                .values(values)
            )
            if feed is not None:
                feed.announce_in_transaction(connection, {deployment_id})

    def make_live(
        self, deployment_id: str, agent_id: str, feed: ChangeFeed | None = None
    ) -> str | None:
        """Make the deployment its agent's live one; the one it replaces becomes
        ``inactive``. Returns the replaced deployment's id."""
        d = schema.deployments.c
        now = utcnow()
        with self._engine.begin() as connection:
            # Write first: SQLite then holds the write lock from the start (a transaction
            # that read first cannot take it if another writer committed meanwhile).
            previous = connection.execute(
                update(schema.deployments)
                .where(d.agent_id == agent_id, d.is_live, d.id != deployment_id)
                .values(is_live=False, status="inactive", updated_at=now)
                .returning(d.id)
            ).scalar()
            connection.execute(
                update(schema.deployments)
                .where(d.id == deployment_id)
                .values(
                    is_live=True,
                    status="deployed",
                    deployment_completed_at=now,
                    deployment_error=None,
                    updated_at=now,
                )
            )
            if feed is not None:
                changed = {deployment_id} if previous is None else {deployment_id, previous}
                feed.announce_in_transaction(connection, changed)
        return previous

    def live_without_agent(self) -> list[dict]:
        d = schema.deployments.c
        query = select(schema.deployments).where(
            d.is_live, d.agent_id.not_in(select(schema.agents.c.id))
        )
        with self._engine.connect() as connection:
            return [_row(row._mapping) for row in connection.execute(query)]

    def calls_in_flight(self, deployment_id: str, started_after: datetime) -> int:
        """Calls still `started` on the deployment, on any openline process."""
        c = schema.calls.c
        query = select(func.count()).where(
            c.deployment_id == deployment_id, c.status == "started", c.start_time > started_after
        )
        with self._engine.connect() as connection:
            return connection.execute(query).scalar_one()


@dataclass(frozen=True)
class LogQuery:
    since: datetime | None = None
    until: datetime | None = None
    levels: tuple[str, ...] | None = None
    search: str | None = None
    call_id: str | None = None
    streams: tuple[str, ...] | None = None
    after_seq: int = 0


class DeploymentLogRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def last_seq(self, deployment_id: str) -> int:
        t = schema.deployment_logs.c
        query = select(func.max(t.seq)).where(t.deployment_id == deployment_id)
        with self._engine.connect() as connection:
            return connection.execute(query).scalar() or 0

    def lines(
        self, deployment_id: str, where: LogQuery, limit: int = 100, tail: bool = False
    ) -> tuple[list[dict], bool]:
        """Matching lines in order, and whether more match (after them, or before them
        with ``tail``: then the lines are the last ``limit`` that match)."""
        table = schema.deployment_logs
        t = table.c
        query = select(table).where(t.deployment_id == deployment_id, t.seq > where.after_seq)
        if where.since is not None:
            query = query.where(t.at >= where.since)
        if where.until is not None:
            query = query.where(t.at < where.until)
        if where.levels is not None:
            query = query.where(t.level.in_(where.levels))
        if where.streams is not None:
            query = query.where(t.stream.in_(where.streams))
        if where.call_id is not None:
            query = query.where(t.call_id == where.call_id)
        if where.search:
            escaped = where.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(t.message.ilike(f"%{escaped}%", escape="\\"))
        order = t.seq.desc() if tail else t.seq
        with self._engine.connect() as connection:
            rows = [
                dict(row._mapping)
                for row in connection.execute(query.order_by(order).limit(limit + 1))
            ]
        more = len(rows) > limit
        rows = rows[:limit]
        if tail:
            rows.reverse()
        for row in rows:
            row["at"] = as_utc(row["at"])
        return rows, more

    def build_text(self, deployment_id: str, max_chars: int) -> str:
        """The build's output as one text (its last ``max_chars``)."""
        t = schema.deployment_logs.c
        query = (
            select(t.message)
            .where(t.deployment_id == deployment_id, t.stream == "build")
            .order_by(t.seq)
        )
        with self._engine.connect() as connection:
            text = "\n".join(connection.execute(query).scalars())
        return text[-max_chars:]

    def prune(self, older_than: datetime, max_lines: int) -> int:
        """Delete lines older than ``older_than``, and each deployment's oldest lines
        past ``max_lines``. Returns how many lines went."""
        table = schema.deployment_logs
        t = table.c
        with self._engine.begin() as connection:
            removed = connection.execute(delete(table).where(t.at < older_than)).rowcount
            over = connection.execute(
                select(t.deployment_id, func.max(t.seq))
                .group_by(t.deployment_id)
                .having(func.count() > max_lines)
            ).all()
            for deployment_id, last in over:
                removed += connection.execute(
                    delete(table).where(
                        and_(t.deployment_id == deployment_id, t.seq <= last - max_lines)
                    )
                ).rowcount
        return removed


def retention_cutoff(days: float) -> datetime:
    return utcnow() - timedelta(days=days)


class EnvVarRepo:
    """Per-agent environment variables. Values are sealed at rest and opened only to
    start processes."""

    def __init__(self, engine: Engine, sealer: Sealer) -> None:
        self._engine = engine
        self._sealer = sealer

    def names(self, agent_id: str) -> list[dict]:
        t = schema.agent_env_vars.c
        query = (
            select(t.name, t.created_at, t.updated_at)
            .where(t.agent_id == agent_id)
            .order_by(t.name)
        )
        with self._engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
        for row in rows:
            row["created_at"], row["updated_at"] = (
                as_utc(row["created_at"]),
                as_utc(row["updated_at"]),
            )
        return rows

    def values(self, agent_id: str) -> dict[str, str]:
        """Raises ``SealedWithAnotherKey`` if a value does not open with this key."""
        t = schema.agent_env_vars.c
        query = select(t.name, t.value).where(t.agent_id == agent_id)
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return {
            name: self._sealer.open(value, f"agent {agent_id}'s variable {name}")
            for name, value in rows
        }

    def change(self, agent_id: str, changes: dict[str, str | None]) -> None:
        """Set the names given a string, remove those given ``None``, in one transaction."""
        table = schema.agent_env_vars
        t = table.c
        now = utcnow()
        with self._engine.begin() as connection:
            for name, value in changes.items():
                key = and_(t.agent_id == agent_id, t.name == name)
                if value is None:
                    connection.execute(delete(table).where(key))
                    continue
                sealed = self._sealer.seal(value)
                updated = connection.execute(
                    update(table).where(key).values(value=sealed, updated_at=now)
                ).rowcount
                if not updated:
                    connection.execute(
                        table.insert(),
                        {
                            "agent_id": agent_id,
                            "name": name,
                            "value": sealed,
                            "created_at": now,
                            "updated_at": now,
                        },
                    )

    def seal_plain(self) -> int:
        """Seal the values stored in plain text before sealing existed; returns how many."""
        return seal_plain(self._engine, schema.agent_env_vars, "value", self._sealer)
