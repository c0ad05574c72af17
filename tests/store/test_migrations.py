"""Migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

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
