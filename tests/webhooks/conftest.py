"""Fixtures for webhook tests: openline servers with a retry schedule short enough to
watch, on both databases, and real receivers on loopback."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from openline.config import Settings
from tests.conftest import BACKENDS, PG_BASE_URL, TEST_KEY
from tests.support.receiver import Receiver, ReceiverServer
from tests.support.servers import RunningServer, openline_server
from tests.webhooks.helpers import FAST, SECRET


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh schema in the test database (dropped afterwards), as a database URL."""
    schema = f"ol_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_BASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_BASE_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@contextlib.contextmanager
def backend_settings(backend: str, data_dir: Path, **overrides) -> Iterator[Settings]:
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(pg_schema()) if backend == "postgresql" else None
        yield Settings(
            data_dir=data_dir,
            database_url=database_url,
            api_key=TEST_KEY,
            start_example_agent=False,
            **overrides,
        )


@pytest.fixture(scope="module", params=BACKENDS)
def fault_server(request, tmp_path_factory) -> Iterator[RunningServer]:
    """One openline per module and database, retrying within a second or so.

    Each test makes its own webhook (and receiver), so they do not see each other's
    deliveries or failure streaks."""
    data_dir = tmp_path_factory.mktemp(f"faults-{request.param}")
    with (
        backend_settings(request.param, data_dir, **FAST) as settings,
        openline_server(settings) as running,
    ):
        yield running


@pytest.fixture
def receiver() -> Iterator[ReceiverServer]:
    server = ReceiverServer(Receiver(SECRET)).start()
    yield server
    server.stop()
