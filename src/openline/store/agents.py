"""Agents: who answers a call, and where its agent server lives."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from openline import ids
from openline.domain.time import utcnow
from openline.store.schema import agents

EDITABLE = (
    "name",
    "description",
    "system_prompt",
    "introduction",
    "metadata",
    "self_hosted_deployment_url",
    "webhook_id",
    "recording_enabled",
    "stt_provider",
    "tts_provider",
    "tts_voice",
    "tts_language",
    "prometheus_metrics",
)


class AgentRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, **fields: Any) -> dict:
        now = utcnow()
        # Fields not given take the column's default (recording_enabled: true).
        row = {name: fields[name] for name in EDITABLE if name in fields}
        row |= {"id": ids.new_id(ids.AGENT), "created_at": now, "updated_at": now}
        with self._engine.begin() as connection:
            created = connection.execute(agents.insert().values(row).returning(agents)).one()
        return dict(created._mapping)

    def get(self, agent_id: str) -> dict | None:
        with self._engine.connect() as connection:
            found = connection.execute(select(agents).where(agents.c.id == agent_id)).first()
        return None if found is None else dict(found._mapping)

    def find_by_name(self, name: str) -> dict | None:
        query = select(agents).where(agents.c.name == name).order_by(agents.c.id).limit(1)
        with self._engine.connect() as connection:
            found = connection.execute(query).first()
        return None if found is None else dict(found._mapping)

    def list(self) -> list[dict]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(agents).order_by(agents.c.id.desc())).all()
        return [dict(row._mapping) for row in rows]

    def update(self, agent_id: str, **changes: Any) -> dict | None:
        values = {name: value for name, value in changes.items() if name in EDITABLE}
        values["updated_at"] = utcnow()
        with self._engine.begin() as connection:
            result = connection.execute(agents.update().where(agents.c.id == agent_id), values)
        return self.get(agent_id) if result.rowcount else None

    def delete(self, agent_id: str) -> bool:
        with self._engine.begin() as connection:
            result = connection.execute(agents.delete().where(agents.c.id == agent_id))
        return bool(result.rowcount)
