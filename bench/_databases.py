"""Scratch databases for benchmarks: migrated, and gone afterwards."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from openline.store.db import make_engine, migrate


@contextlib.contextmanager
def scratch_database(backend: str, pg_url: str | None = None) -> Iterator[Engine]:
    """A fresh SQLite file in a temporary dir, or a fresh schema in ``pg_url``."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="openline-bench-") as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'openline.db'}")
            migrate(engine)
            try:
                yield engine
            finally:
                engine.dispose()
        return
    name = f"ol_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {name}"))
    engine = make_engine(f"{pg_url}?options=-csearch_path%3D{name}")
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()
