"""``GET /agents/calls/{id}/audio``: whole and ranged, 404s, and redaction removing it (and
its cached peaks) — on each database with local recordings, and with recordings in S3."""

from __future__ import annotations

import io
import wave

import httpx

from openline.api.peaks import cache_path
from openline.store.blobs import recording_key
from tests.cli.support import make_call
from tests.console.conftest import signed_in_client
from tests.support.recordings import record_call


def test_the_recording_whole_and_in_ranges(server, agent_id):
    call_id = make_call(server, agent_id, "hello")
    content = record_call(server.platform.blobs, call_id, seconds=2.0)
    size = len(content)
    url = f"/agents/calls/{call_id}/audio"
    with server.client() as http:
        whole = http.get(url)
        assert whole.status_code == 200, whole.text
        assert whole.headers["content-type"] == "audio/wav"
        assert whole.headers["accept-ranges"] == "bytes"
        assert whole.headers["content-length"] == str(size)
        assert whole.headers["content-disposition"] == f'inline; filename="{call_id}.wav"'
        assert whole.content == content
        with wave.open(io.BytesIO(whole.content)) as wav:
            assert (wav.getnchannels(), wav.getframerate(), wav.getnframes()) == (2, 16000, 32000)

        for asked, start, end in [
            ("bytes=0-43", 0, 44),  # the header
            ("bytes=1000-", 1000, size),
            ("bytes=-10", size - 10, size),
            ("bytes=100-99999999", 100, size),  # clipped to the end
        ]:
            part = http.get(url, headers={"Range": asked})
            assert part.status_code == 206, (asked, part.text)
            assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{size}"
            assert part.content == content[start:end], asked

        past = http.get(url, headers={"Range": f"bytes={size}-"})
        assert past.status_code == 416
        assert past.headers["content-range"] == f"bytes */{size}"
        assert past.json()["error"]["code"] == "range_not_satisfiable"

    # Authenticated like every route; browsers' media elements may pass the key in the URL.
    assert httpx.get(server.base_url + url).status_code == 401
    keyed = httpx.get(server.base_url + url, params={"access_token": server.api_key})
    assert keyed.status_code == 200 and keyed.content == content


def test_unknown_call_or_no_recording_is_404(server, agent_id):
    call_id = make_call(server, agent_id, "hello")
    with server.client() as http:
        unknown = http.get("/agents/calls/call_nope/audio")
        assert unknown.status_code == 404
        assert unknown.json()["error"] == {
            "code": "not_found",
            "message": "no call with id 'call_nope'",
        }
        none = http.get(f"/agents/calls/{call_id}/audio")
        assert none.status_code == 404
        assert none.json()["error"]["message"] == f"call {call_id!r} has no recording"


def test_redaction_deletes_the_recording(server, agent_id):
    call_id = make_call(server, agent_id, "hello")
    blobs = server.platform.blobs
    record_call(blobs, call_id)
    waveform = cache_path(server.platform, call_id)
    with server.client() as http:
        assert http.get(f"/agents/calls/{call_id}/audio").status_code == 200
        assert http.get(f"/agents/calls/{call_id}/audio/peaks").status_code == 200
        assert waveform.exists()
        redacted = http.delete(f"/agents/calls/{call_id}")
        assert redacted.status_code == 200 and redacted.json()["redacted_at"]
        gone = http.get(f"/agents/calls/{call_id}/audio")
        assert gone.status_code == 404
        assert gone.json()["error"]["message"] == f"call {call_id!r} has no recording"
        assert http.delete(f"/agents/calls/{call_id}").status_code == 200  # again: fine
    assert blobs.size(recording_key(call_id)) is None
    assert blobs.local_path(recording_key(call_id)) is None
    assert not waveform.exists()  # not even the peaks drawn from it stay


def test_a_console_session_reaches_the_recording(server, agent_id):
    """The console's player loads it with the session cookie, through /console/api."""
    call_id = make_call(server, agent_id, "hello")
    content = record_call(server.platform.blobs, call_id)
    with signed_in_client(server) as (browser, _):
        url = f"/console/api/agents/calls/{call_id}/audio"
        assert browser.get(url).content == content
        part = browser.get(url, headers={"Range": "bytes=44-99"})
        assert part.status_code == 206 and part.content == content[44:100]
    assert httpx.get(server.base_url + url).status_code == 401  # no session, no audio
