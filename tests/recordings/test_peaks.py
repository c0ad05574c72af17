"""``GET /agents/calls/{id}/audio/peaks``: the right values for a known recording, computed
once and cached, extended while the call records, 404s and refused parameters — on each
database with local recordings, and with recordings in S3."""

from __future__ import annotations

from datetime import timedelta

from openline import ids
from openline.api.peaks import cache_path
from openline.domain.time import utcnow
from openline.harness.recorder import CallRecorder
from openline.store import schema
from openline.store.blobs import recording_key
from tests.cli.support import make_call
from tests.console.conftest import signed_in_client
from tests.support.recordings import tone

LOUD, SOFT = 16384, 8000  # half and a quarter of full scale: 64 and 31 in 8 bits


def record_two_seconds(blobs, call_id: str) -> None:
    """The caller speaks (loud) in the first second, the agent (soft) in the second."""
    key = recording_key(call_id)
    with blobs.open_for_writing(key) as file:
        recorder = CallRecorder(file)
        recorder.add("caller", 0.0, tone(1.0, 440, LOUD))
        recorder.add("agent", 1.0, tone(1.0, 660, SOFT))
        recorder.close(2.0)
    blobs.commit(key)


def test_peaks_of_a_known_recording_computed_once(server, agent_id):
    call_id = make_call(server, agent_id, "hello")
    record_two_seconds(server.platform.blobs, call_id)
    url = f"/agents/calls/{call_id}/audio/peaks"
    cache = cache_path(server.platform, call_id)
    assert not cache.exists()
    with server.client() as http:
        halves = http.get(url, params={"points": 2})
        assert halves.status_code == 200, halves.text
        found = halves.json()
        assert (found["duration"], found["complete"], found["start"]) == (2.0, True, 0.0)
        assert found["seconds_per_point"] == 1.0 and found["sample_rate"] == 16000
        caller, agent = found["channels"]["caller"], found["channels"]["agent"]
        assert caller["max"][0] in (63, 64) and caller["min"][0] == -64  # the tone's level
        assert agent["max"][1] in (30, 31) and agent["min"][1] == -32
        assert (caller["min"][1], caller["max"][1]) == (0, 0)  # silence is 0
        assert (agent["min"][0], agent["max"][0]) == (0, 0)

        assert cache.is_file()
        first = cache.stat()
        again = http.get(url, params={"points": 2})
        assert again.json() == found
        fine = http.get(url, params={"points": 20_000}).json()  # at most one per 10 ms
        assert fine["seconds_per_point"] == 0.01 and len(fine["channels"]["caller"]["max"]) == 200
        later = cache.stat()  # served from the cache: the file was never written again
        assert (later.st_ino, later.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)

        # A window: the second half of the first second, one point per 10 ms block.
        zoomed = http.get(url, params={"points": 100, "start": 0.5, "end": 1.0}).json()
        assert zoomed["start"] == 0.5 and zoomed["seconds_per_point"] == 0.01
        assert len(zoomed["channels"]["caller"]["max"]) == 50
        assert min(zoomed["channels"]["caller"]["max"]) >= 60

        # Through the console, with a session instead of the key.
        with signed_in_client(server) as (browser, _):
            assert browser.get(f"/console/api{url}", params={"points": 2}).json() == found


def test_a_recording_in_progress_is_read_as_it_grows(server, agent_id):
    call_id = ids.new_id(ids.CALL)
    server.platform.calls.create(
        {
            "id": call_id,
            "agent_id": agent_id,
            "agent_name": "Scripted",
            "status": "started",
            "start_time": utcnow() - timedelta(seconds=5),
            "telephony_params": {"from": "websocket"},
            "rev": 0,
        }
    )
    blobs, key = server.platform.blobs, recording_key(call_id)
    url = f"/agents/calls/{call_id}/audio/peaks"
    cache = cache_path(server.platform, call_id)
    with blobs.open_for_writing(key) as file, server.client() as http:
        recorder = CallRecorder(file)
        recorder.add("caller", 0.0, tone(1.0, 440, LOUD))
        recorder.add("agent", 1.0, tone(1.0, 660, SOFT))
        recorder.flush(1.005)  # half a 10 ms block past the first second
        so_far = http.get(url, params={"points": 1000}).json()
        assert so_far["complete"] is False and so_far["duration"] == 1.0  # whole blocks only
        assert len(so_far["channels"]["caller"]["max"]) == 100
        assert set(so_far["channels"]["agent"]["max"]) == {0}
        assert cache.is_file()

        recorder.flush(1.5)
        grown = http.get(url, params={"points": 1000}).json()
        assert grown["duration"] == 1.5 and len(grown["channels"]["agent"]["max"]) == 150
        assert grown["channels"]["caller"]["max"][:100] == so_far["channels"]["caller"]["max"]
        assert min(grown["channels"]["agent"]["max"][101:]) >= 28  # the agent began at 1 s
        recorder.close(1.752)  # the call ends: the last block is a partial one
    with server.platform.engine.begin() as connection:
        connection.execute(
            schema.calls.update()
            .where(schema.calls.c.id == call_id)
            .values(status="completed", end_time=utcnow(), end_reason="client_hangup")
        )
    with server.client() as http:
        ended = http.get(url, params={"points": 1000}).json()
    assert ended["complete"] is True and ended["duration"] == 1.752
    assert ended["channels"]["agent"]["max"][:150] == grown["channels"]["agent"]["max"]
    assert len(ended["channels"]["agent"]["max"]) == 176  # 175 blocks and the 2 ms left


def test_unknown_call_no_recording_and_bad_parameters(server, agent_id):
    call_id = make_call(server, agent_id, "hello")  # a text call: no recording
    with server.client() as http:
        unknown = http.get("/agents/calls/call_nope/audio/peaks")
        assert unknown.status_code == 404
        assert unknown.json()["error"]["message"] == "no call with id 'call_nope'"
        none = http.get(f"/agents/calls/{call_id}/audio/peaks")
        assert none.status_code == 404
        assert none.json()["error"]["message"] == f"call {call_id!r} has no recording"
        for params in (
            {"points": 0},
            {"points": 20_001},
            {"points": "many"},
            {"start": -1},
            {"start": 2, "end": 1},
        ):
            refused = http.get(f"/agents/calls/{call_id}/audio/peaks", params=params)
            assert refused.status_code == 422, params
            assert refused.json()["error"]["code"] == "invalid_request"
