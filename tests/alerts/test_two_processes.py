"""Two openline processes on one PostgreSQL: one evaluator between them (the holder of
the advisory lock), one notification per transition, and after ``kill -9`` of the one
evaluating, the other takes over."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from openline.alerts.evaluator import LOCK_ID
from tests.conftest import TEST_KEY
from tests.support.servers import free_port, wait_http
from tests.support.waiting import wait_until

HEADERS = {"Authorization": f"Bearer {TEST_KEY}"}
ALWAYS = {"measure": {"type": "call_count"}, "comparison": ">=", "threshold": 0, "window": "5m"}
NEVER = {"comparison": "<", "threshold": 0}


@contextmanager
def openline_process(env: dict[str, str], data_dir) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    args = [sys.executable, "-m", "openline", "up", "--port", str(port), "--no-example"]
    process = subprocess.Popen(args, env=env | {"OPENLINE_DATA_DIR": str(data_dir)})
    try:
        wait_http(f"http://127.0.0.1:{port}/status", process=process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(15)


def state(base_url: str, rule_id: str) -> str:
    return httpx.get(f"{base_url}/agents/alerts/{rule_id}", headers=HEADERS).json()["state"]


def deliveries_of(base_url: str, webhook_id: str) -> list[dict]:
    return httpx.get(f"{base_url}/agents/webhooks/{webhook_id}/deliveries", headers=HEADERS).json()[
        "data"
    ]


def delivered(base_url: str, webhook_id: str) -> int:
    """How many of the endpoint's deliveries are recorded as delivered."""
    return sum(d["status"] == "delivered" for d in deliveries_of(base_url, webhook_id))


def lock_holders(pg_url: str) -> list[int]:
    """The backends holding the evaluator's lock of this schema."""
    engine = create_engine(pg_url)
    try:
        with engine.connect() as connection:
            key = connection.execute(text("SELECT hashtext(current_schema())")).scalar()
            return list(
                connection.execute(
                    text(
                        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND objsubid = 2 AND classid::bigint = :key AND objid::bigint = :lock"
                    ),
                    {"key": key & 0xFFFFFFFF, "lock": LOCK_ID},
                ).scalars()
            )
    finally:
        engine.dispose()


def test_one_evaluator_one_notification_per_transition_and_a_takeover(pg_url, tmp_path, receiver):
    env = os.environ | {
        "OPENLINE_DATABASE_URL": pg_url,
        "OPENLINE_API_KEY": TEST_KEY,
        "OPENLINE_SECRETS_KEY": Fernet.generate_key().decode(),  # one key for both workers
        "OPENLINE_ALERT_INTERVAL_S": "0.3",
        "OPENLINE_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    with openline_process(env, tmp_path / "a") as (first, first_process):
        hook = httpx.post(
            f"{first}/agents/webhooks",
            headers=HEADERS,
            json={"url": receiver.url, "secret": receiver.receiver.secret},
        ).json()
        rule = httpx.post(
            f"{first}/agents/alerts",
            headers=HEADERS,
            json=ALWAYS | {"name": "always", "targets": [{"webhook_id": hook["id"]}]},
        ).json()
        wait_until(lambda: state(first, rule["id"]) == "firing")  # the first leads
        with openline_process(env, tmp_path / "b") as (second, _):
            assert len(lock_holders(pg_url)) == 1
            httpx.patch(f"{second}/agents/alerts/{rule['id']}", headers=HEADERS, json=NEVER)
            wait_until(lambda: state(second, rule["id"]) == "resolved")
            # The kill is of the evaluator, not of a delivery under way: one the killed
            # process had claimed would wait out its lease (60 s) before the other sent it.
            wait_until(lambda: delivered(second, hook["id"]) == 2, within=20)
            held_by = lock_holders(pg_url)

            first_process.kill()  # kill -9 of the evaluator
            first_process.wait(10)
            wait_until(lambda: lock_holders(pg_url) not in ([], held_by), within=20)
            httpx.patch(f"{second}/agents/alerts/{rule['id']}", headers=HEADERS, json=ALWAYS)
            wait_until(lambda: state(second, rule["id"]) == "firing", within=20)

            history = httpx.get(
                f"{second}/agents/alerts/{rule['id']}/history", headers=HEADERS
            ).json()["data"]
            wait_until(lambda: len(receiver.receiver.events) >= 3, within=20)
            deliveries = deliveries_of(second, hook["id"])

    assert [t["to_state"] for t in reversed(history)] == ["firing", "resolved", "firing"]
    told = receiver.receiver.events
    assert [e["alert"]["transition_id"] for e in told] == [t["id"] for t in reversed(history)]
    assert [e["type"] for e in told] == ["alert_firing", "alert_resolved", "alert_firing"]
    assert len(deliveries) == 3 and {d["status"] for d in deliveries} == {"delivered"}
    assert len(set(receiver.receiver.seen_ids)) == 3  # no transition was sent twice
