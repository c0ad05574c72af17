"""Console: the call page's Timeline for a long voice call — what the server spends and
sends, and how soon Chromium has drawn it — against the API's JSON of the same call,
measured in the same run.

The call (``tests/support/timeline_call.py``): ``--minutes`` (60) of stereo 16 kHz
recording written by the real recorder (a tone on the side that speaks), a turn every
5 s (each answer with its latency split), a tool call before every other answer, an
event and a metric per answer, a log line per turn, a webhook delivery a minute; seeded
into a real server's SQLite store (uvicorn on loopback). Then, over HTTP with a console
session, median of ``--repeat``:

* baseline: ``GET /agents/calls/{id}`` (the call's JSON with its transcript);
* page: ``GET /console/calls/{id}`` (the page, opening on the timeline: the transcript
  is fetched when its tab is shown);
* timeline: ``GET /console/calls/{id}/timeline`` (its items);
* peaks: ``GET …/audio/peaks?points=N`` from the cache — and once, first, the request
  that computes the cache from the WAV (``computing``).

"Server" is page + timeline + peaks, the target < 300 ms; "sent" their bytes as they
went over the wire, gzipped (the audio the player streams is not counted), the target
< 1 MB; "bytes" the same uncompressed. Then Chromium opens the
page ``--loads`` times (a fresh context each) and reports when the timeline was drawn
(``performance.now()`` at the end of the first draw, from the navigation's start), and
the bytes it received for it, audio apart — and, as its baseline in the same browser, the
page of a one-minute call seeded the same way (what any call page costs to open: the
browser's own start, the scripts and styles, two requests).

    python bench/timeline.py               # a 60-minute call
    python bench/timeline.py --minutes 1   # the smoke run
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the test suite's helpers

from tests.console.conftest import VIEWPORT, chromium, signed_in_client
from tests.support.servers import openline_server
from tests.support.timeline_call import seed_call

from openline.config import Settings
from openline.store.blobs import recording_key

KEY = "ol_bench_key_0123456789abcdef"
SERVER_TARGET_MS = 300.0
SENT_TARGET = 1_000_000
POINTS = 1100  # about the lanes' width on a laptop screen


def timed(client, path: str, repeat: int, **params) -> tuple[float, Sizes]:
    """Median wall-clock milliseconds of GET ``path``, and its body's size, uncompressed
    and as sent."""
    times, body, sent = [], b"", 0
    for _ in range(repeat):
        started = time.perf_counter()
        reply = client.get(path, params=params)
        times.append((time.perf_counter() - started) * 1000)
        assert reply.status_code == 200, (path, reply.status_code, reply.text[:200])
        body, sent = reply.content, reply.num_bytes_downloaded
    return statistics.median(times), Sizes(len(body), sent)


class Sizes(NamedTuple):
    body: int  # uncompressed
    sent: int  # over the wire (gzipped: the client accepts it)

    def __add__(self, other):  # type: ignore[override]
        return Sizes(self.body + other.body, self.sent + other.sent)


class Received:
    """What a page load received, counted by request as each one ends: bytes for the
    page (document, scripts, styles, fetches) and for the audio."""

    def __init__(self) -> None:
        self.page = self.audio = self.started = self.ended = 0

    def start(self, _request) -> None:
        self.started += 1

    def end(self, request) -> None:
        self.ended += 1
        try:
            size = request.sizes()["responseBodySize"]
        except Exception:  # noqa: BLE001 - a request cut short may have no sizes
            return
        if request.url.split("?")[0].endswith("/audio"):
            self.audio += size
        else:
            self.page += size


def in_chromium(
    server, call_id: str, cookies: list[dict], loads: int
) -> tuple[float, float, int, int]:
    """Median ms from the navigation's start until the timeline was drawn, and from its
    script's start; bytes received for the page and for audio."""
    drawn, own, sizes, audio = [], [], 0, 0
    with chromium() as browser:
        for _ in range(loads):
            context = browser.new_context(base_url=server.base_url, viewport=VIEWPORT)
            context.add_cookies(cookies)
            page = context.new_page()
            received = Received()
            page.on("request", received.start)
            page.on("requestfinished", received.end)
            page.on("requestfailed", received.end)  # the player stops once it has enough
            page.goto(f"/console/calls/{call_id}?tab=timeline")
            timeline = page.locator(".timeline[data-state=drawn]")
            timeline.wait_for(timeout=120_000)
            drawn.append(float(timeline.get_attribute("data-drawn-ms")))
            own.append(drawn[-1] - float(timeline.get_attribute("data-setup-ms")))
            page.wait_for_load_state("networkidle")
            for _ in range(100):  # the last requests' events may still be on their way
                if received.ended >= received.started:
                    break
                page.wait_for_timeout(50)
            sizes, audio = received.page, received.audio
            context.close()
    return statistics.median(drawn), statistics.median(own), sizes, audio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--loads", type=int, default=3, help="page loads in Chromium")
    args = parser.parse_args()

    print(f"load average at the start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", api_key=KEY, start_example_agent=False)
        with openline_server(settings) as server:
            started = time.perf_counter()
            seeded = seed_call(server.platform, seconds=args.minutes * 60, every=5.0)
            seed_s = time.perf_counter() - started
            facts = len(seeded.facts)
            wav_mb = server.platform.blobs.size(recording_key(seeded.call_id)) / 1e6
            print(
                f"a {args.minutes:g}-minute call: {facts:,} facts, "
                f"{len(seeded.deliveries)} webhook deliveries, a {wav_mb:,.0f} MB recording "
                f"(seeded in {seed_s:.1f} s); median of {args.repeat}, SQLite, loopback HTTP"
            )
            call = f"/console/calls/{seeded.call_id}"
            peaks = f"/console/api/agents/calls/{seeded.call_id}/audio/peaks"
            with signed_in_client(server) as (client, _):
                first_ms, _ = timed(client, peaks, 1, points=POINTS)  # computes the cache
                with server.client() as api:
                    base_ms, base_size = timed(api, f"/agents/calls/{seeded.call_id}", args.repeat)
                page_ms, page_size = timed(client, call, args.repeat)
                items_ms, items_size = timed(client, f"{call}/timeline", args.repeat)
                peaks_ms, peaks_size = timed(client, peaks, args.repeat, points=POINTS)
                cookies = [
                    {"name": c.name, "value": c.value, "domain": "127.0.0.1", "path": "/console"}
                    for c in client.cookies.jar
                ]
            short = seed_call(server.platform, seconds=60.0, every=5.0)
            short_ms, short_own_ms, _, _ = in_chromium(server, short.call_id, cookies, args.loads)
            drawn_ms, own_ms, received, audio = in_chromium(
                server, seeded.call_id, cookies, args.loads
            )

    server_ms = page_ms + items_ms + peaks_ms
    sent = page_size + items_size + peaks_size
    print(f"{'':12}{'':46}{'wall':>9}{'bytes':>13}{'sent':>11}")
    rows = (
        ("baseline", "GET /agents/calls/{id} (API JSON)", base_ms, base_size),
        ("page", "GET /console/calls/{id} (on its timeline)", page_ms, page_size),
        ("timeline", "GET /console/calls/{id}/timeline", items_ms, items_size),
        ("peaks", f"GET …/audio/peaks?points={POINTS} (cached)", peaks_ms, peaks_size),
        ("computing", "the first peaks request: the cache from the WAV", first_ms, peaks_size),
        ("server", "page + timeline + peaks", server_ms, sent),
    )
    for name, what, wall, size in rows:
        print(f"  {name:10}{what:46}{wall:7.1f}ms{size.body:>13,}{size.sent:>11,}")
    print(f"  {'ratio':10}{'server / baseline (wall)':46}{server_ms / base_ms:8.2f}x")
    print(f"  {'chromium':10}{'timeline drawn, from navigation start':46}{drawn_ms:7.0f}ms")
    print(f"  {'':10}{'of which from its script starting':46}{own_ms:7.0f}ms")
    print(f"  {'':10}{'a 1-minute call drawn, from navigation start':46}{short_ms:7.0f}ms")
    print(f"  {'':10}{'of which from its script starting':46}{short_own_ms:7.0f}ms")
    print(
        f"  {'':10}{'ratio to the 1-minute call (navigation start)':46}{drawn_ms / short_ms:8.2f}x"
    )
    print(f"  {'':10}{'bytes received for the page (audio apart)':46}{'':9}{'':13}{received:>11,}")
    print(f"  {'':10}{'audio bytes the player fetched meanwhile':46}{'':9}{'':13}{audio:>11,}")
    fast = "under" if server_ms < SERVER_TARGET_MS else "OVER"
    small = "under" if sent.sent < SENT_TARGET else "OVER"
    loose = "under" if sent.body < SENT_TARGET else "OVER"
    print(
        f"  targets   server {SERVER_TARGET_MS:.0f} ms: {fast} it; sent 1 MB: {small} it "
        f"({loose} it uncompressed)"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
