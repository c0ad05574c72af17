"""Store tests run against a fresh database on each backend."""

from __future__ import annotations

import pytest

from openline.store.db import make_engine, migrate


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_at(request, tmp_path):
    """``engine_at(revision)``: the fresh database, migrated up to that revision."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)

    def at(revision: str = "head"):
        migrate(engine, revision)
        return engine

    yield at
    engine.dispose()


@pytest.fixture
def engine(engine_at):
    return engine_at()
