"""Sealed environment variables across openline restarts: plain rows written before
sealing existed, and a worker started with another key."""

from __future__ import annotations

from cryptography.fernet import Fernet

from openline.store.db import make_engine
from tests.deploy.support import deploy, messages, wait_for, wait_log
from tests.support.calls import TextCall
from tests.support.env_vars import insert_plain, stored_values
from tests.support.servers import openline_server

SECRET = "tok-legacy-0123456789"


async def _token_line(server, agent_id: str, deployment_id: str) -> str:
    """What the agent prints when asked for its TOKEN, as stored (values are masked)."""
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    assert await call.reply() == "hello from v1"
    await call.say("secret")
    assert await call.reply() == "printed"
    await call.hang_up()
    return wait_log(server, deployment_id, "the token is")["message"]


async def test_a_plain_value_from_before_sealing_is_sealed_at_start_up(settings, echo_dir):
    with openline_server(settings) as server:
        agent_id = server.create_agent("Deployed")
    engine = make_engine(settings.sqlalchemy_url)
    try:
        insert_plain(engine, agent_id, "TOKEN", SECRET)  # as an older openline left it
        with openline_server(settings) as server:
            stored = stored_values(engine)[(agent_id, "TOKEN")]
            assert stored.startswith("fernet:") and SECRET not in stored
            deployment = deploy(server, agent_id, echo_dir("v1"))
            assert deployment["status"] == "deployed", deployment
            # Masked only because the process printed exactly the plain value.
            line = await _token_line(server, agent_id, deployment["id"])
            assert line == "the token is [redacted TOKEN]"
        assert stored_values(engine)[(agent_id, "TOKEN")] == stored  # sealed once, kept
    finally:
        engine.dispose()


async def test_a_value_sealed_with_another_key_fails_its_deployment_only(settings, echo_dir):
    v1, v2 = echo_dir("v1"), echo_dir("v2")
    with openline_server(settings) as server:  # sealed with the data dir's own key
        sealed = server.create_agent("Sealed")
        other = server.create_agent("Other")
        with server.client() as http:
            http.patch(f"/agents/{sealed}/env", json={"TOKEN": SECRET}).raise_for_status()
        was_live = deploy(server, sealed, v1)
        other_live = deploy(server, other, v1)
        assert other_live["status"] == "deployed"

    another_key = settings.model_copy(update={"secrets_key": Fernet.generate_key().decode()})
    why = (
        f"agent {sealed}'s variable TOKEN was sealed with another key: "
        "give every openline worker the same OPENLINE_SECRETS_KEY"
    )
    with openline_server(another_key) as server:
        # Its live deployment cannot come back, and says why …
        wait_log(server, was_live["id"], f"could not start it: {why}")
        # … a new one fails with the reason …
        failed = deploy(server, sealed, v2)
        assert failed["status"] == "deploy_error", failed
        assert failed["deployment_error"] == why
        wait_log(server, failed["id"], f"deploy failed: {why}")
        # … and the other agent, with no variables to open, is served as before, once its
        # live deployment has come back (healthy a second time: the first start, then this).
        wait_for(
            server,
            other_live["id"],
            lambda _: sum("healthy after" in m for m in messages(server, other_live["id"])) >= 2,
            what="come back healthy",
        )
        call = await TextCall.open(server.ws_url, other, server.api_key)
        assert await call.reply() == "hello from v1"
        await call.hang_up()
        assert deploy(server, other, v2)["status"] == "deployed"
