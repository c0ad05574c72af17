"""Migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from openline.store.agents import AgentRepo
from openline.store.db import MIGRATIONS, migrate
from openline.store.schema import metadata


def test_migrated_database_matches_the_declared_schema(engine):
    migrate(engine)  # a second run is a no-op
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, metadata)
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert differences == []
    assert revision == ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_agents_made_before_voice_settings_are_recorded(engine_at):
    engine = engine_at("0003")
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO agents (id, name, created_at, updated_at) "
                "VALUES ('agent_old', 'Old', :now, :now)"
            ),
            {"now": now},
        )
    migrate(engine)
    agent = AgentRepo(engine).get("agent_old")
    assert agent["recording_enabled"] is True
    assert [agent[name] for name in ("stt_provider", "tts_provider", "tts_voice")] == [None] * 3
