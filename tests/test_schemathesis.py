"""Schemathesis against a real openline server on loopback, on SQLite and PostgreSQL:
requests generated from the API's own OpenAPI schema, a bounded number per operation,
valid and invalid ones, with made-up ids and with the ids of real records (so they get
past the 404s). None may be a server error, and every answer must have a declared
status, content type and schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from openline import ids
from tests.support.calls import TextCall

# Examples per operation and id set: enough to have found every 500 so far, few enough
# for CI (both databases together run in well under two minutes on two cores).
EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 4}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
async def records(server, agent_id) -> dict[str, str]:
    """Ids of a real agent (with a webhook), a finished call with its facts, logs and
    webhook deliveries, and a deployment."""
    with server.client() as http:
        webhook = http.post("/agents/webhooks", json={"url": "https://example.invalid/hook"})
        webhook_id = webhook.json()["id"]
        http.patch(f"/agents/{agent_id}", json={"webhook_id": webhook_id}).raise_for_status()
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    await call.say("tool B7")
    await call.reply()
    await call.say("bye")
    await call.closed()
    deployment_id = ids.new_id(ids.DEPLOYMENT)
    server.platform.deployments.repo.create(
        {
            "id": deployment_id,
            "agent_id": agent_id,
            "status": "build_error",
            "source_sha256": "0" * 64,
            "source_bytes": 1,
        }
    )
    with server.client() as http:
        deliveries = http.get(f"/agents/webhooks/{webhook_id}/deliveries").json()["data"]
    return {
        "agent_id": agent_id,
        "call_id": call.call_id,
        "deployment_id": deployment_id,
        "webhook_id": webhook_id,
        "delivery_id": deliveries[0]["id"],
    }


def _operations(server) -> list[schemathesis.APIOperation]:
    """Every operation of the schema; those that delete come last, so the records they
    remove were there for the others."""
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    return sorted(operations, key=lambda operation: operation.method.upper() == "DELETE")


def _failure(operation, mode, path_parameters: dict[str, str], headers: dict) -> str | None:
    """What the checks found for ``operation`` in ``mode``, or None."""

    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # report the first failure, unshrunk
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
    def run(case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

    try:
        run()
    except Unsatisfiable:
        return None  # nothing invalid to send: every string is a valid id
    except Exception as failure:  # noqa: BLE001 (every operation is tried; all failures are reported)
        return f"{operation.label} {mode.value} {path_parameters or ''}:\n{failure}"
    return None


def test_no_generated_request_is_a_server_error(server, records):
    failures = []
    for operation in _operations(server):
        real = {p.name: records[p.name] for p in operation.path_parameters if p.name in records}
        for mode in EXAMPLES:
            for path_parameters in [{}, real] if real else [{}]:
                found = _failure(operation, mode, path_parameters, server.headers)
                if found:
                    failures.append(found)
    assert not failures, "\n\n".join(failures)
