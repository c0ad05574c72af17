"""Fixtures: real openline servers on SQLite and PostgreSQL, real agent processes."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from openline.config import Settings
from tests.support.receiver import Receiver, ReceiverServer
from tests.support.servers import HERE, RunningServer, agent_process, openline_server
from tests.webhooks.helpers import SECRET

PG_BASE_URL = os.environ.get(
    "OPENLINE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TEST_KEY = "ol_test_key_0123456789"
# pytest-xdist's workers export COLUMNS=80, and the CLI honours COLUMNS: its tests read
# its tables as a pipe gets them (cli._output.PIPE_WIDTH), however the suite is run.
os.environ.pop("COLUMNS", None)
BACKENDS = ["sqlite", "postgresql"]


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


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_schema() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def settings(request, tmp_path) -> Settings:
    database_url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        api_key=TEST_KEY,
        start_example_agent=False,
        # Tests deliver webhooks to receivers on loopback, which openline refuses by default.
        webhook_allow_private=True,
    )


@pytest.fixture
def server(settings) -> Iterator[RunningServer]:
    with openline_server(settings) as running:
        yield running


@pytest.fixture(scope="session")
def agent_url() -> Iterator[str]:
    with agent_process() as base_url:
        yield base_url


@pytest.fixture(scope="session")
def wire_url() -> Iterator[str]:
    """The wire agent (tests/support/wire_agent.py): sends exactly what a test scripts."""
    with agent_process(HERE / "wire_agent.py") as base_url:
        yield base_url


@pytest.fixture
def agent_id(server, agent_url) -> str:
    return server.create_agent(
        "Scripted",
        self_hosted_deployment_url=agent_url,
        system_prompt="be terse",
        introduction="hi",
    )


@pytest.fixture
def receiver() -> Iterator[ReceiverServer]:
    """A webhook receiver on loopback checking the shared secret ``SECRET``."""
    server = ReceiverServer(Receiver(SECRET)).start()
    yield server
    server.stop()
