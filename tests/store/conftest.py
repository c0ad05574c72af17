"""Store tests run against a fresh database on each backend."""

from __future__ import annotations

import pytest

from openline.store.db import make_engine, migrate


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()
