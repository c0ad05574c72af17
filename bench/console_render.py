"""Console: server-side render time of a big call page, against the API's JSON of the
same call, measured in the same run.

The call has 1,000 turns (every assistant turn with a tool call), 5,000 log events
(with metadata) and 500 metrics, seeded straight into the store (SQLite, openline's
engine settings) through its own row mapping. Then, alternately, ``--repeat`` times:

* baseline: what ``GET /agents/calls/{id}`` does — read the call and its transcript
  facts in one snapshot, shape them (``call_json``) and ``json.dumps`` the result;
* console: what ``GET /console/calls/{id}`` does on the server — read the same facts,
  the call's first page of log lines, its webhook deliveries, build the page's entries
  and render the whole HTML page (all five tabs) with Jinja2;
* http: the same page fetched through the application (ASGI, in-process), session
  cookie and all.

The medians are printed, with the ratio console / baseline. The target is a page under
200 ms.

    python bench/console_render.py              # 1,000 turns, 5,000 events
    python bench/console_render.py --quick      # a tenth of that
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from openline import ids
from openline.api.app import create_app
from openline.config import Settings
from openline.console import _web, routes
from openline.domain.calls import (
    TRANSCRIPT_KINDS,
    LogEvent,
    LogMetric,
    LogRecord,
    Role,
    ToolCall,
    Turn,
)
from openline.domain.shapes import call_json
from openline.domain.time import utcnow

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the test suite's helpers
from tests.support.seeded_calls import create_finished_call, insert_facts

KEY = "ol_bench_key_0123456789abcdef"
TARGET_MS = 200.0


def seed(platform, turns: int, events: int, metrics: int, logs: int) -> str:
    """One finished call with the given numbers of facts, in one transaction."""
    agent = platform.agents.create(name="Bench agent", self_hosted_deployment_url="http://x")
    call_id = ids.new_id(ids.CALL)
    start = utcnow() - timedelta(hours=1)
    seconds = turns * 3.0
    create_finished_call(
        platform,
        agent,
        call_id,
        start,
        seconds,
        end_reason="agent_hangup",
        summary="A long call, for the benchmark.",
        analysis_status="done",
    )
    facts = []
    seq = 0

    def next_seq() -> int:
        nonlocal seq
        seq += 1
        return seq

    for n in range(turns):
        at = n * 3.0
        role = Role.USER if n % 2 == 0 else Role.ASSISTANT
        text = (
            f"Could you tell me where order A{n:04d} is? It was due last week."
            if role is Role.USER
            else f"Order A{n - 1:04d} has shipped and should arrive on Thursday."
        )
        turn = Turn(call_id, next_seq(), 0, at, role, text, end_timestamp=at + 1.5)
        if role is Role.ASSISTANT:
            turn.text_chunks = [{"text": text, "start_timestamp": at}]
            turn.tts_ttfb = 0.12
        facts.append(turn)
        if role is Role.ASSISTANT:
            facts.append(
                ToolCall(
                    call_id,
                    next_seq(),
                    0,
                    at + 0.1,
                    name="lookup_order",
                    arguments={"order_id": f"A{n - 1:04d}"},
                    turn_seq=turn.seq,
                    result="shipped",
                    result_timestamp=at + 0.3,
                )
            )
    for n in range(events):
        at = (n / events) * seconds
        facts.append(
            LogEvent(
                call_id,
                next_seq(),
                0,
                at,
                event="order_processed" if n % 3 else "cache_lookup",
                metadata={
                    "level": "info",
                    "message": f"Processed order A{n:04d}",
                    "metadata": {"status": "shipped", "order_id": f"A{n:04d}", "n": n},
                },
                level="info",
                message=f"Processed order A{n:04d}",
            )
        )
    for n in range(metrics):
        facts.append(LogMetric(call_id, next_seq(), 0, (n / metrics) * seconds, "latency_ms", n))
    for n in range(logs):
        level = ("debug", "info", "warning", "error")[n % 4]
        facts.append(LogRecord(call_id, next_seq(), 0, n * 0.5, level, f"line {n}", logger="agent"))
    insert_facts(platform, facts)
    return call_id


def baseline(platform, call_id: str) -> int:
    call, facts = platform.calls.with_facts(call_id, TRANSCRIPT_KINDS)
    return len(json.dumps(call_json(call, facts)))


def console_page(platform, call_id: str) -> int:
    context = routes.call_context(platform, call_id)
    html = _web.templates.get_template("call.html").render(
        {"csrf_token": "x" * 32, "signed_in": True, "notice": None, "section": "calls"} | context
    )
    return len(html)


def timed(work, repeat: int) -> tuple[float, float, int]:
    """Median wall-clock and CPU (this thread) milliseconds, and the output's size."""
    wall, cpu = [], []
    size = 0
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.thread_time()
        size = work()
        cpu.append((time.thread_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return statistics.median(wall), statistics.median(cpu), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--metrics", type=int, default=500)
    parser.add_argument("--logs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="a tenth of the facts")
    args = parser.parse_args()
    if args.quick:
        args.turns, args.events, args.metrics = (
            args.turns // 10,
            args.events // 10,
            args.metrics // 10,
        )

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", api_key=KEY, start_example_agent=False)
        with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
            platform = client.app.state.platform
            call_id = seed(platform, args.turns, args.events, args.metrics, args.logs)
            sign_in(client)
            print(
                f"call with {args.turns} turns ({args.turns // 2} tool calls), {args.events} "
                f"events, {args.metrics} metrics, {args.logs} log lines; median of "
                f"{args.repeat}, SQLite"
            )
            for warm in (baseline, console_page):  # templates compiled, caches warm
                warm(platform, call_id)
            base_ms, base_cpu, base_size = timed(lambda: baseline(platform, call_id), args.repeat)
            page_ms, page_cpu, page_size = timed(
                lambda: console_page(platform, call_id), args.repeat
            )
            http_ms, _, _ = timed(lambda: fetch(client, call_id), args.repeat)

    print(f"{'':12}{'':38}{'wall':>9}{'cpu':>10}{'bytes':>13}")
    rows = (
        ("baseline", "API JSON (read + shape + json.dumps)", base_ms, base_cpu, base_size),
        ("console", "page render (read + entries + HTML)", page_ms, page_cpu, page_size),
    )
    for name, what, wall, cpu, size in rows:
        print(f"  {name:10}{what:38}{wall:7.1f}ms{cpu:8.1f}ms{size:>13,}")
    print(f"  {'http':10}{'GET /console/calls/{id}, in-process':38}{http_ms:7.1f}ms")
    print(f"  {'ratio':10}{'console / baseline (wall)':38}{page_ms / base_ms:8.2f}x")
    verdict = "under" if page_ms < TARGET_MS else "OVER"
    print(f"  target    {TARGET_MS:.0f} ms: the page renders {verdict} it (wall, median)")


def sign_in(client: TestClient) -> None:
    form = client.get("/console/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    reply = client.post(
        "/console/sign-in", data={"csrf_token": token, "key": KEY}, follow_redirects=False
    )
    assert reply.status_code == 303, reply.text


def fetch(client: TestClient, call_id: str) -> int:
    reply = client.get(f"/console/calls/{call_id}")
    assert reply.status_code == 200
    return len(reply.content)


if __name__ == "__main__":
    main()
