"""The endpoint circuit, pacing and sealed secrets, on a real database of each kind but
without a server: counts and states, no clocks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from openline import ids
from openline.domain.webhook_events import turn_event
from openline.domain.webhook_health import OPEN_AFTER
from openline.store import schema
from openline.store.db import make_engine, migrate
from openline.store.delivery_log import DeliveryLog
from openline.store.delivery_queue import DeliveryQueue, Outcome
from openline.store.sealing import Sealer
from openline.store.webhook_configs import WebhookConfigs
from openline.store.webhook_secrets import WebhookSecrets
from openline.webhooks.health import DEFAULT_DISABLE_AFTER_S, HealthPolicy
from openline.webhooks.pacing import Pacer
from tests.conftest import BACKENDS

FAILED = Outcome(503, 1.0, "down", "HTTP 503", 3600.0, delivered=False)
OK = Outcome(200, 1.0, "{}", None, None, delivered=True)


def test_probes_come_sooner_than_half_the_outage_and_at_most_every_probe_max():
    policy = HealthPolicy(probe_max_s=60)
    assert policy.probe_wait(timedelta(0)) == timedelta(seconds=0.5)
    assert policy.probe_wait(timedelta(seconds=11)) == timedelta(seconds=5.5)
    assert policy.probe_wait(timedelta(days=2)) == timedelta(seconds=60)


def test_only_failing_for_days_disables():
    assert DEFAULT_DISABLE_AFTER_S == 5 * 86_400
    policy = HealthPolicy()
    # The outage of the issue: two minutes, 13,584 failed attempts. Not disabled.
    assert policy.disable_reason(timedelta(minutes=2), 13_584, "HTTP 503") is None
    assert policy.disable_reason(timedelta(days=5), 900, "HTTP 503") == (
        "disabled after failing for 5 d (900 failed attempts in a row); last: HTTP 503"
    )


def test_pacing_halves_on_failure_and_grows_by_one_per_success():
    pacer = Pacer(8)
    assert pacer.room() == {}  # never failed: full concurrency
    for _ in range(3):
        pacer.started("w")
    pacer.finished("w", delivered=False)
    assert pacer.window("w") == 4 and pacer.room() == {"w": 2}
    pacer.finished("w", delivered=False)
    pacer.finished("w", delivered=False)
    assert pacer.window("w") == 1 and pacer.room() == {"w": 1}
    for _ in range(7):
        pacer.started("w")
        pacer.finished("w", delivered=True)
    assert pacer.window("w") == 8 and pacer.room() == {}


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path) -> Iterator:
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()


@dataclass(frozen=True)
class Webhooks:
    """The three webhook stores, as a platform holds them."""

    configs: WebhookConfigs
    queue: DeliveryQueue
    log: DeliveryLog


def make_stores(engine, key: str | None = None, **health) -> Webhooks:
    secrets = WebhookSecrets(Sealer(key or Fernet.generate_key().decode()))
    queue = DeliveryQueue(engine, secrets, HealthPolicy(**health))
    return Webhooks(WebhookConfigs(engine, secrets), queue, DeliveryLog(engine))


def enqueue_calls(queue: DeliveryQueue, webhook_id: str, calls: int, events: int) -> None:
    for _ in range(calls):
        call_id = ids.new_id(ids.CALL)
        for position in range(events):
            turn = {"role": "user", "text": str(position), "start_timestamp": float(position)}
            queue.enqueue(
                webhook_id, position, turn_event(call_id, "agent_units", webhook_id, turn)
            )


def test_a_paused_endpoint_gets_one_probe_and_its_success_resumes_everything(engine):
    hooks = make_stores(engine, probe_max_s=0.0)  # the next probe is due at once
    webhook = hooks.configs.create("http://127.0.0.1:9/hooks", "whsec_units_secret", None)
    enqueue_calls(hooks.queue, webhook["id"], calls=2 * OPEN_AFTER, events=2)
    early = hooks.queue.claim_due(OPEN_AFTER - 1, 60)
    hooks.queue.record_many([(d, FAILED) for d in early])  # the circuit stays closed
    assert hooks.configs.get(webhook["id"])["state"] == "failing"
    assert {hooks.log.delivery(d.id)["retry_step"] for d in early} == {1}  # an hour away now

    hooks.queue.record_many([(d, FAILED) for d in hooks.queue.claim_due(OPEN_AFTER + 1, 60)])
    paused = hooks.configs.get(webhook["id"])
    assert paused["state"] == "paused" and paused["failure_streak"] == 2 * OPEN_AFTER
    assert paused["pending"] == 4 * OPEN_AFTER and paused["oldest_pending_at"] is not None

    (probe,) = hooks.queue.claim_due(50, 60)  # one at a time, however many are due
    assert hooks.queue.claim_due(50, 60) == []  # the probe holds the circuit while under way
    hooks.queue.record(probe, FAILED)
    assert hooks.configs.get(webhook["id"])["state"] == "paused"
    assert hooks.log.delivery(probe.id)["retry_step"] == 0  # the endpoint's failure, not its own

    (probe,) = hooks.queue.claim_due(50, 60)
    hooks.queue.record(probe, OK)
    resumed = hooks.configs.get(webhook["id"])
    assert resumed["state"] == "healthy" and resumed["failing_since"] is None
    # Everything held is due now, those pushed an hour back included, schedules fresh.
    catch_up = hooks.queue.claim_due(50, 60)
    assert len(catch_up) == 2 * OPEN_AFTER  # each call's next event
    assert {d.retry_step for d in catch_up} == {0}
    hooks.queue.record_many([(catch_up[0], FAILED)] + [(d, OK) for d in catch_up[1:]])
    assert hooks.log.delivery(catch_up[0].id)["retry_step"] == 1  # a short wait, not the outage's


def test_claims_respect_the_pacing_room(engine):
    hooks = make_stores(engine)
    webhook = hooks.configs.create("http://127.0.0.1:9/hooks", "whsec_units_secret", None)
    enqueue_calls(hooks.queue, webhook["id"], calls=6, events=1)
    assert hooks.queue.claim_due(10, 60, {webhook["id"]: 0}) == []
    assert len(hooks.queue.claim_due(10, 60, {webhook["id"]: 2})) == 2
    assert len(hooks.queue.claim_due(10, 60)) == 4  # the rest: given back, not lost


def test_secrets_are_sealed_at_rest_and_plain_ones_get_sealed(engine):
    key = Fernet.generate_key().decode()
    hooks = make_stores(engine, key)
    webhook = hooks.configs.create("http://127.0.0.1:9/hooks", "whsec_units_secret", None)
    assert stored_secret(engine, webhook["id"]).startswith("fernet:")
    assert "whsec_units_secret" not in stored_secret(engine, webhook["id"])
    assert hooks.configs.get(webhook["id"])["secret"] == "whsec_units_secret"
    enqueue_calls(hooks.queue, webhook["id"], calls=1, events=1)
    (claimed,) = hooks.queue.claim_due(1, 60)
    assert claimed.secret == "whsec_units_secret"  # what signing needs

    with engine.begin() as connection:  # as an openline from before sealing left it
        connection.execute(update(schema.webhooks).values(secret="whsec_from_before"))
    assert hooks.configs.seal_plain() == 1 and hooks.configs.seal_plain() == 0
    assert stored_secret(engine, webhook["id"]).startswith("fernet:")
    assert make_stores(engine, key).configs.get(webhook["id"])["secret"] == "whsec_from_before"
    # A worker with another key cannot open it, and says so instead of failing claims.
    assert make_stores(engine).configs.get(webhook["id"])["secret"] is None


def stored_secret(engine, webhook_id: str) -> str:
    w = schema.webhooks.c
    with engine.connect() as connection:
        return connection.execute(select(w.secret).where(w.id == webhook_id)).scalar_one()
