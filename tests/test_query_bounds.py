"""Values the databases cannot hold (times and cursors out of range, text with NUL) are a
422 that names the parameter, on every route that takes them; the values at the edges
of the range still work. The OpenAPI document states that error shape."""

from __future__ import annotations

import pytest

from openline import ids
from openline.domain.time import utcnow

INTEGER_MAX = 2**31 - 1  # seq and rev are INTEGER columns
BEFORE_YEAR_1 = "0001-01-01T00:00:00+01:00"  # 31 Dec of year 0 in UTC
AFTER_YEAR_9999 = "9999-12-31T23:59:59-01:00"  # 1 Jan 10000 in UTC


@pytest.fixture
def stored(server) -> tuple[str, str]:
    """A finished call and a failed deployment, as the store keeps them."""
    call_id = ids.new_id(ids.CALL)
    server.platform.calls.create(
        {
            "id": call_id,
            "agent_id": "agent_bounds",
            "status": "completed",
            "start_time": utcnow(),
            "rev": 0,
        }
    )
    deployment_id = ids.new_id(ids.DEPLOYMENT)
    server.platform.deployments.repo.create(
        {
            "id": deployment_id,
            "agent_id": "agent_bounds",
            "status": "build_error",
            "source_sha256": "0" * 64,
            "source_bytes": 1,
        }
    )
    return call_id, deployment_id


def _out_of_range(call_id: str, deployment_id: str) -> list[tuple[str, dict, str]]:
    calls, logs = "/agents/calls", f"/agents/deployments/{deployment_id}/logs"
    return [
        (calls, {"start_time_after": BEFORE_YEAR_1}, "start_time_after"),
        (calls, {"start_time_before": AFTER_YEAR_9999}, "start_time_before"),
        (f"{calls}/{call_id}/logs", {"after": 2**63}, "after"),  # past SQLite's too
        (f"{calls}/{call_id}/logs", {"after": INTEGER_MAX + 1}, "after"),
        (f"{calls}/{call_id}/stream", {"since_rev": INTEGER_MAX + 1}, "since_rev"),
        (logs, {"since": AFTER_YEAR_9999}, "since"),
        (logs, {"until": BEFORE_YEAR_1}, "until"),
        (logs, {"after": 2**63}, "after"),
        (logs, {"after": INTEGER_MAX + 1}, "after"),
        (f"{logs}/stream", {"after": INTEGER_MAX + 1}, "after"),
    ]


def test_out_of_range_times_and_cursors_are_422(server, stored):
    with server.client() as http:
        for path, params, name in _out_of_range(*stored):
            reply = http.get(path, params=params)
            assert reply.status_code == 422, (path, params, reply.text)
            error = reply.json()["error"]
            assert error["code"] == "invalid_request"
            assert error["message"].startswith(f"query.{name}: "), error
            if "time" in name or name in ("since", "until"):
                assert "outside years 0001 to 9999 once converted to UTC" in error["message"]
            else:
                assert "less than or equal to 2147483647" in error["message"]


def test_times_and_cursors_at_the_edges_are_accepted(server, stored):
    call_id, deployment_id = stored
    with server.client() as http:
        everything = http.get(
            "/agents/calls",
            params={
                "start_time_after": "0001-01-01T00:00:00Z",
                "start_time_before": "9999-12-31T23:59:59.999999Z",
            },
        )
        assert [call["id"] for call in everything.json()["data"]] == [call_id]
        naive = http.get("/agents/calls", params={"start_time_before": "2000-01-01T00:00:00"})
        assert naive.json()["data"] == []
        assert http.get(f"/agents/calls/{call_id}/logs", params={"after": INTEGER_MAX}).json() == {
            "data": [],
            "has_more": False,
            "next_page": None,
        }
        tail = http.get(f"/agents/calls/{call_id}/stream", params={"since_rev": INTEGER_MAX})
        assert tail.status_code == 200 and "event: end" in tail.text
        logs = http.get(
            f"/agents/deployments/{deployment_id}/logs",
            params={
                "since": "0001-01-01T00:00:00Z",
                "until": "9999-12-31T23:59:59Z",
                "after": INTEGER_MAX,
            },
        )
        assert logs.status_code == 200 and logs.json()["data"] == []


def test_text_with_nul_is_422(server, stored):
    call_id, deployment_id = stored
    with server.client() as http:
        agent_id = http.post("/agents", json={"name": "a"}).json()["id"]
        for method, path, options, name in [
            ("POST", "/agents", {"json": {"name": "a\x00b"}}, "name"),
            ("PATCH", f"/agents/{agent_id}", {"json": {"metadata": {"k": ["\x00"]}}}, "metadata"),
            ("PATCH", f"/agents/{agent_id}", {"json": {"metadata": {"\x00": 1}}}, "metadata"),
            ("GET", "/agents/a%00b", {}, "agent_id"),
            ("GET", "/agents/calls", {"params": {"agent_id": "\x00"}}, "agent_id"),
            ("GET", "/agents/calls", {"params": {"starting_after": "\x00"}}, "starting_after"),
            ("GET", f"/agents/calls/{call_id}/logs", {"params": {"q": "\x00"}}, "q"),
            ("GET", "/agents/calls/c%00", {}, "call_id"),
            (
                "GET",
                f"/agents/deployments/{deployment_id}/logs",
                {"params": {"call_id": "\x00"}},
                "call_id",
            ),
            ("GET", "/agents/deployments/d%00", {}, "deployment_id"),
        ]:
            reply = http.request(method, path, **options)
            assert reply.status_code == 422, (method, path, options, reply.text)
            message = reply.json()["error"]["message"]
            assert f"{name}" in message and "NUL (U+0000)" in message, message


def test_the_openapi_document_states_the_error_shape(server):
    with server.client() as http:
        document = http.get("/openapi.json").json()
    assert "HTTPValidationError" not in str(document)
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    listing = document["paths"]["/agents/calls"]["get"]["responses"]
    assert listing["422"]["content"] == error and listing["default"]["content"] == error
    schema = document["components"]["schemas"]["Error"]
    assert schema["properties"]["error"]["required"] == ["code", "message"]
