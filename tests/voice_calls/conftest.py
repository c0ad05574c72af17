"""Voice calls against a real openline server and a real SDK agent process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import HERE, agent_process


@pytest.fixture(scope="module")
def talker_url() -> Iterator[str]:
    with agent_process(HERE / "talker_agent.py") as url:
        yield url


@pytest.fixture
def talker(server, talker_url) -> str:
    return server.create_agent("talker", self_hosted_deployment_url=talker_url)
