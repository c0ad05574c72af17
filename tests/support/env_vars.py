"""Agent environment variables as the database holds them, below the repository."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from openline.store.schema import agent_env_vars


def stored_values(engine: Engine) -> dict[tuple[str, str], str]:
    """(agent id, name) → the value column exactly as a database dump shows it."""
    t = agent_env_vars.c
    with engine.connect() as connection:
        rows = connection.execute(select(t.agent_id, t.name, t.value)).all()
    return {(agent_id, name): value for agent_id, name, value in rows}


def insert_plain(engine: Engine, agent_id: str, name: str, value: str) -> None:
    """A row as openline wrote it before values were sealed: the value in plain text."""
    now = datetime.now(UTC)
    row = {"agent_id": agent_id, "name": name, "value": value}
    with engine.begin() as connection:
        connection.execute(agent_env_vars.insert(), row | {"created_at": now, "updated_at": now})
