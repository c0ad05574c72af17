"""Fixtures for webhook tests: openline servers with a retry schedule short enough to
watch, on both databases, and real receivers on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from openline.config import Settings
from tests.conftest import BACKENDS, TEST_KEY, pg_schema
from tests.support.servers import RunningServer, openline_server
from tests.webhooks.helpers import FAST


@contextlib.contextmanager
def backend_settings(backend: str, data_dir: Path, **overrides) -> Iterator[Settings]:
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(pg_schema()) if backend == "postgresql" else None
        yield Settings(
            data_dir=data_dir,
            database_url=database_url,
            api_key=TEST_KEY,
            start_example_agent=False,
            # The receivers are on loopback, which openline refuses by default.
            **({"webhook_allow_private": True} | overrides),
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
