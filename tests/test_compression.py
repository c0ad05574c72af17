"""Responses go gzipped to a client that accepts it — pages, JSON, the timeline's items —
and never the recording (whole or a range), the bundle, or an event stream."""

from __future__ import annotations

import gzip

import httpx

from openline.store.blobs import recording_key
from tests.console.conftest import signed_in_client
from tests.support.timeline_call import seed_call

GZIP = {"Accept-Encoding": "gzip"}
PLAIN = {"Accept-Encoding": "identity"}


def raw(http: httpx.Client, path: str, headers: dict) -> tuple[httpx.Response, bytes]:
    """The response and its body as it came over the wire (not decoded)."""
    with http.stream("GET", path, headers=headers) as reply:
        return reply, b"".join(reply.iter_raw())


def test_json_and_pages_are_compressed_and_recordings_are_not(server):
    seeded = seed_call(server.platform, seconds=60.0)
    call = f"/agents/calls/{seeded.call_id}"
    with server.client() as http:
        packed, body = raw(http, call, GZIP)
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.headers["vary"] == "Accept-Encoding"
        plain, whole = raw(http, call, PLAIN)
        assert "content-encoding" not in plain.headers
        assert gzip.decompress(body) == whole and len(body) < len(whole) / 4

        wav = server.platform.blobs.size(recording_key(seeded.call_id))
        audio, sent = raw(http, f"{call}/audio", GZIP)
        assert "content-encoding" not in audio.headers and len(sent) == wav
        ranged, part = raw(http, f"{call}/audio", GZIP | {"Range": "bytes=44-1043"})
        assert ranged.status_code == 206 and "content-encoding" not in ranged.headers
        assert len(part) == 1000
        bundle, _ = raw(http, f"{call}/bundle", GZIP)
        assert bundle.status_code == 200 and "content-encoding" not in bundle.headers
        stream, _ = raw(http, f"{call}/stream", GZIP)
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in stream.headers

        small, _ = raw(http, "/status", GZIP)
        assert "content-encoding" not in small.headers  # too small to be worth it

    with signed_in_client(server) as (console, _):
        for path in (
            f"/console/calls/{seeded.call_id}",
            f"/console/calls/{seeded.call_id}/timeline",
        ):
            reply, body = raw(console, path, GZIP)
            assert reply.status_code == 200 and reply.headers["content-encoding"] == "gzip"
            assert len(gzip.decompress(body)) > 4 * len(body)
