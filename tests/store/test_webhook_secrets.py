"""Webhook secrets are sealed at rest with the env vars' ``Sealer``, on both databases: the
column never holds a secret given through the API, and one an openline from before sealing
stored in plain text is sealed when openline starts."""

from __future__ import annotations

from sqlalchemy import select

from openline.domain.time import utcnow
from openline.platform import Platform
from openline.store import schema
from openline.store.db import make_engine, migrate
from tests.support.servers import openline_server

SECRET = "whsec_0123456789abcdef"


def stored_secrets(engine) -> dict[str, str]:
    """Webhook id → the secret column exactly as a database dump shows it."""
    w = schema.webhooks.c
    with engine.connect() as connection:
        return dict(connection.execute(select(w.id, w.secret)).all())


def test_a_secret_given_through_the_api_is_never_stored_plain(settings):
    with openline_server(settings) as server, server.client() as http:
        made = http.post(
            "/agents/webhooks", json={"url": "https://example.com/in", "secret": SECRET}
        ).json()
        http.patch(f"/agents/webhooks/{made['id']}", json={"secret": SECRET + "2"})
    engine = make_engine(settings.sqlalchemy_url)
    try:
        (stored,) = stored_secrets(engine).values()
        assert stored.startswith("fernet:") and SECRET not in stored
    finally:
        engine.dispose()


async def test_a_plain_secret_from_before_sealing_is_sealed_at_start_up(settings):
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        migrate(engine)
        now = utcnow()
        with engine.begin() as connection:  # as an openline from before sealing left it
            connection.execute(
                schema.webhooks.insert(),
                {
                    "id": "agent_webhook_old",
                    "url": "https://example.com/in",
                    "secret": SECRET,
                    "created_at": now,
                    "updated_at": now,
                    "failure_streak": 0,
                },
            )
        platform = await Platform.open(settings)
        try:
            stored = stored_secrets(engine)["agent_webhook_old"]
            assert stored.startswith("fernet:") and SECRET not in stored
            assert platform.webhooks.get("agent_webhook_old")["secret"] == SECRET
        finally:
            await platform.close()
    finally:
        engine.dispose()
