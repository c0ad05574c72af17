"""``kill -9`` of real ``openline up`` processes in the middle of concurrent text calls:
no fact a caller was shown is lost, and every call left open is closed and announced
``call_failed`` exactly once — by the restarted process, or, with several processes on
one PostgreSQL, by whichever survivor sees the dead one's lease expire."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from openline.store import schema
from openline.store.db import make_engine
from openline.webhooks.dispatcher import LEASE_S
from tests.conftest import TEST_KEY
from tests.support.crashes import (
    ENDINGS,
    Openline,
    check_record,
    closed,
    endings,
    talk_until_killed,
)
from tests.support.receiver import Receiver
from tests.webhooks.helpers import SECRET, wait_for

CALLS = 20
KILL_AFTER_ACKS = 150  # turns acknowledged across the calls when the kill comes
# A killed process's claims on outbox rows hold its calls' later events back until the
# claims lapse (the dispatcher's lease), so announcements can take that long.
ANNOUNCED_WITHIN_S = LEASE_S + 60
FAST_LEASES = {"OPENLINE_PROCESS_HEARTBEAT_S": "0.3", "OPENLINE_PROCESS_LEASE_TTL_S": "2"}


def _env(database_url: str | None) -> dict[str, str]:
    env = {
        "OPENLINE_API_KEY": TEST_KEY,
        "OPENLINE_WEBHOOK_ALLOW_PRIVATE": "true",
        "OPENLINE_WEBHOOK_RETRY_SCHEDULE_S": "[0, 0.2, 0.5, 1, 1, 1, 1, 1]",
        "OPENLINE_ANALYSIS_RETRY_S": "1",
    } | FAST_LEASES
    return env | ({"OPENLINE_DATABASE_URL": database_url} if database_url else {})


def _hooked_agent(server: Openline, receiver_url: str, agent_url: str) -> str:
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {TEST_KEY}"}
    ) as http:
        webhook = http.post("/agents/webhooks", json={"url": receiver_url, "secret": SECRET})
        assert webhook.status_code == 201, webhook.text
        agent = http.post(
            "/agents",
            json={
                "name": "crashy",
                "webhook_id": webhook.json()["id"],
                "self_hosted_deployment_url": agent_url,
            },
        )
        assert agent.status_code == 201, agent.text
    return agent.json()["id"]


def _endings_queued(database_url: str, call_ids: list[str]) -> Counter:
    """Ending events in the outbox, per call: what can ever be delivered."""
    d = schema.webhook_deliveries.c
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            queued = connection.execute(
                select(d.call_id).where(d.call_id.in_(call_ids), d.event_type.in_(ENDINGS))
            )
            return Counter(queued.scalars())
    finally:
        engine.dispose()


async def _announced_failed_once(receiver: Receiver, call_ids: list[str]) -> None:
    await wait_for(
        lambda: endings(receiver, call_ids) == Counter({(c, "call_failed"): 1 for c in call_ids}),
        timeout=ANNOUNCED_WITHIN_S,
        what="one call_failed per call",
    )
    await wait_for(
        lambda: all(
            any(e["type"] == "post_call_analysis" for e in receiver.of_call(c)) for c in call_ids
        ),
        timeout=ANNOUNCED_WITHIN_S,
        what="each closed call analysed",
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_kill_9_mid_calls_loses_no_acknowledged_fact(
    backend, request, tmp_path, agent_url, receiver
):
    database_url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    server = Openline(tmp_path / "data", _env(database_url)).start()
    try:
        agent_id = _hooked_agent(server, receiver.url, agent_url)
        for _ in range(2):  # the second kill hits a process that itself replayed at start
            acked = await talk_until_killed(server, agent_id, TEST_KEY, CALLS, KILL_AFTER_ACKS)
            server.start()
            outcome = check_record(server.base_url, TEST_KEY, acked)
            assert outcome.lost == [] and outcome.duplicated == []
            assert outcome.stored == outcome.acknowledged >= 2 * KILL_AFTER_ACKS
            assert outcome.still_open == []  # closed at start-up, before serving
            await _announced_failed_once(receiver.receiver, list(acked.user))
        # the dead processes' journals were replayed and removed: the live one's is left
        assert len(list((tmp_path / "data" / "journal").iterdir())) == 1
    finally:
        server.stop()


async def test_a_survivor_closes_a_killed_process_s_calls_exactly_once(
    pg_url, tmp_path, agent_url, receiver
):
    shared = _env(pg_url) | {"OPENLINE_SECRETS_KEY": Fernet.generate_key().decode()}
    doomed = Openline(tmp_path / "a", shared).start()
    survivor = Openline(tmp_path / "b", shared).start()
    try:
        agent_id = _hooked_agent(doomed, receiver.url, agent_url)
        acked = await talk_until_killed(doomed, agent_id, TEST_KEY, CALLS, KILL_AFTER_ACKS)
        call_ids = list(acked.user)
        # The survivor sees the lease expire and closes the calls (the journal on the dead
        # host is not in reach yet).
        await wait_for(
            lambda: closed(survivor.base_url, TEST_KEY, call_ids), timeout=60, what="closed"
        )
        await _announced_failed_once(receiver.receiver, call_ids)
        # The dead host comes back: it replays its journal, adding what the survivor could
        # not see, and announces no second ending.
        doomed.start()
        outcome = check_record(survivor.base_url, TEST_KEY, acked)
        assert outcome.lost == [] and outcome.duplicated == []
        assert outcome.stored == outcome.acknowledged >= 2 * KILL_AFTER_ACKS
        assert _endings_queued(pg_url, call_ids) == Counter({c: 1 for c in call_ids})
        with httpx.Client(
            base_url=survivor.base_url, headers={"Authorization": f"Bearer {TEST_KEY}"}
        ) as http:
            for call_id in call_ids:
                call = http.get(f"/agents/calls/{call_id}").json()
                assert call["status"] == "failed" and "lease expired" in call["error_message"]
    finally:
        doomed.stop()
        survivor.stop()
