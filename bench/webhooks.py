"""Webhooks: deliveries per second and commit-to-receipt latency through openline's outbox
and dispatcher, against plain httpx posting the same payloads to the same receiver.

One receiver process (``bench/webhook_receiver.py``: raw ASGI on uvicorn + uvloop +
httptools, on loopback) answers
``200`` to every POST and notes when each ``webhook-id`` first arrived
(``time.monotonic``, one clock for every process on the machine). Two ways to get the
same events to it, in the same run:

* openline: calls are ``CallLedger``s with the harness's own writer sink, and every
  closed turn queues its ``call_turn`` delivery through the batching ``Writer`` with
  ``with_previous=True`` -- what ``CallSession`` does -- so the outbox row commits with
  the turn it announces and the change feed wakes the real ``Dispatcher`` (the class
  ``openline up`` runs, same defaults: signing, target checks, claims, attempt log,
  per-call order). Latency is from the commit of the outbox row (stamped when the
  writer's transaction returns) to its arrival at the receiver.
* plain: httpx POSTs the same JSON with the same headers (signed the same way), 64 at a
  time over the same HTTP set-up as the dispatcher (16 AsyncClients of 4 connections:
  ``--plain-clients 1`` gives one pool of 64, which costs about three times the CPU per
  request), each call's events one after another (the order guarantee openline gives).
  Latency is from the moment the event is produced to its arrival. No database, no log,
  no retries: the floor.

Loads, for each database:

* burst: ``--burst`` events (in calls of ``--events``) all at once; deliveries per
  second from the first commit (or first send) to the last arrival is the result (aim:
  openline >= 80% of plain). Plain's burst rate is its capacity on this machine now.
* paced, at ``--fraction`` (half) of that capacity: calls start at an even rate, each
  with ``--events`` events spaced ``--gap`` seconds apart, for ``--seconds``; the
  p50/p99 latency is the result (aim: p99 < 50 ms). A latency measured above capacity
  only measures the queue, so the offered rate follows the measured capacity.
* paced, the same, while every event is also queued for a second endpoint where nothing
  listens: it fails, is paused and probed throughout, and must not slow the first.

    python bench/webhooks.py                          # SQLite and PostgreSQL, 10 s paced
    python bench/webhooks.py --quick                  # 3 s paced, smaller burst
    python bench/webhooks.py --backends sqlite --fraction 0.25 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from _databases import scratch_database
from cryptography.fernet import Fernet
from sqlalchemy import Engine

from openline import ids
from openline.domain.calls import TurnEndReason
from openline.domain.shapes import turn_json
from openline.domain.time import utcnow
from openline.domain.webhook_events import turn_event
from openline.harness.ledger import CallLedger
from openline.store import schema
from openline.store.call_writes import FactWrites
from openline.store.delivery_queue import DeliveryQueue, queue
from openline.store.feed import ChangeFeed
from openline.store.sealing import Sealer
from openline.store.webhook_configs import WebhookConfigs
from openline.store.webhook_secrets import WebhookSecrets
from openline.store.writer import Writer
from openline.webhooks.dispatcher import HTTP_SHARDS, Dispatcher
from openline.webhooks.health import HealthPolicy
from openline.webhooks.schedule import DEFAULT_SCHEDULE_S
from openline.webhooks.signing import delivery_headers
from openline.webhooks.targets import TargetPolicy

PG_URL = os.environ.get(
    "OPENLINE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SECRET = "whsec_bench_secret_0123456789"
CONCURRENCY = 64  # the dispatcher's default
PAYLOAD_CAP = 65_536
RECEIVER = Path(__file__).resolve().parent / "webhook_receiver.py"


# --------------------------------------------------------------------------------------
# the receiver (its own process)
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def receiver_process() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, str(RECEIVER), str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(base + "/reset", timeout=1)
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the receiver did not start")
            time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(10)


def receiver_stats(base: str) -> tuple[int, dict[str, float]]:
    found = httpx.get(base + "/stats", timeout=30).json()
    return found["requests"], found["first_seen"]


# --------------------------------------------------------------------------------------
# the load: which event of which call is due when
# --------------------------------------------------------------------------------------


def paced_schedule(rate: float, seconds: float, events: int, gap: float) -> list[tuple]:
    """(due offset, call index, event index), in time order."""
    calls = int(rate * seconds)
    due = [(c / rate + e * gap, c, e) for c in range(calls) for e in range(events)]
    return sorted(due)


def burst_schedule(total: int, events: int) -> list[tuple]:
    calls = max(1, total // events)
    return [(0.0, c, e) for e in range(events) for c in range(calls)]


async def run_paced(schedule: list[tuple], emit) -> None:
    """Call ``emit(call, event)`` for each entry when it is due."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    index = 0
    while index < len(schedule):
        now = loop.time() - began
        while index < len(schedule) and schedule[index][0] <= now:
            _, call, event = schedule[index]
            emit(call, event)
            index += 1
        await asyncio.sleep(0.002)


# --------------------------------------------------------------------------------------
# openline: ledgers -> writer (outbox rows with the turns) -> dispatcher -> receiver
# --------------------------------------------------------------------------------------


class StampingWriter(Writer):
    """The real writer, noting when each outbox row's transaction committed."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.committed: dict[str, float] = {}

    def _commit(self, batch) -> None:
        super()._commit(batch)
        now = time.monotonic()
        for op in batch:
            if getattr(op, "table", None) is schema.webhook_deliveries:
                self.committed[op.row["id"]] = now


class _NoSink:
    """For the plain path: the same ledgers and payloads, nothing stored."""

    def add(self, fact) -> None:
        pass

    def change(self, fact) -> None:
        pass


class Calls:
    """Calls as ledgers; each closed turn's ``call_turn`` payload goes to ``announce``.

    openline's announce queues an outbox row with the turn (what ``CallSession`` does);
    the plain one hands the very same payload to an HTTP sender."""

    def __init__(self, sink, webhook_id: str, announce) -> None:
        self.sink = sink
        self.webhook_id = webhook_id
        self.announce = announce
        self.ledgers: dict[int, CallLedger] = {}

    def emit(self, call: int, event: int) -> None:
        ledger = self.ledgers.get(call)
        if ledger is None:
            call_id = ids.new_id(ids.CALL)

            def closed(turn, tools, call_id=call_id):
                payload = turn_event(
                    call_id, "agent_bench", self.webhook_id, turn_json(turn, tools)
                )
                self.announce(call_id, turn.rev, payload)

            ledger = self.ledgers[call] = CallLedger(
                call_id, self.sink, PAYLOAD_CAP, on_turn_closed=closed
            )
        if event % 2 == 0:
            ledger.user_turn(f"caller line {event} of call {call}: where is my order?")
        else:
            ledger.agent_message(f"Agent reply {event}: your order A{call:06d} has shipped.")
            ledger.close_assistant_turn(TurnEndReason.TTS_COMPLETED)


async def through_openline(
    engine: Engine, receiver: str, schedule: list[tuple], second_endpoint_down: bool = False
) -> dict:
    """``second_endpoint_down``: every event is also queued for a second endpoint, where
    nothing listens (connections refused): it fails, is paused and probed throughout."""
    feed = ChangeFeed()
    writer = StampingWriter(engine, feed, 2000)
    secrets = WebhookSecrets(Sealer(Fernet.generate_key().decode()))
    configs = WebhookConfigs(engine, secrets)
    webhook = configs.create(receiver + "/hooks", SECRET, "bench")
    down = configs.create(f"http://127.0.0.1:{_free_port()}/hooks", SECRET, "down")
    policy = TargetPolicy(allow_private=True)  # the receiver is on loopback
    deliveries = DeliveryQueue(engine, secrets, HealthPolicy())
    dispatcher = Dispatcher(deliveries, feed, policy, DEFAULT_SCHEDULE_S, 15.0)
    writer.start()
    dispatcher.start()
    measured: set[str] = set()

    def announce(call_id: str, position: int, payload: dict) -> None:
        measured.add(queue(writer, webhook["id"], position, payload)["id"])
        if second_endpoint_down:
            queue(writer, down["id"], position, payload | {"webhook_id": down["id"]})

    calls = Calls(FactWrites(writer), webhook["id"], announce)
    cpu = time.process_time()
    try:
        await run_paced(schedule, calls.emit)
        await writer.flush()
        expected = measured & writer.committed.keys()
        deadline = time.monotonic() + 120
        while True:
            requests, seen = await asyncio.to_thread(receiver_stats, receiver)
            if expected <= seen.keys() or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        await dispatcher.close()
        await writer.close()
        cpu = time.process_time() - cpu
    lost = len(measured - seen.keys())
    committed = {i: at for i, at in writer.committed.items() if i in measured}
    result = _result(committed, seen, requests, lost, cpu)
    return (
        result | {"down_state": configs.get(down["id"])["state"]}
        if second_endpoint_down
        else result
    )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------------------
# plain httpx
# --------------------------------------------------------------------------------------


async def through_plain(receiver: str, schedule: list[tuple], shards: int) -> dict:
    url = receiver + "/hooks"
    per_shard = -(-CONCURRENCY // shards)
    limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
    slots = asyncio.Semaphore(CONCURRENCY)
    produced: dict[str, float] = {}
    queues: dict[str, asyncio.Queue] = {}
    workers: list[asyncio.Task] = []
    busy = [0] * shards
    cpu = time.process_time()

    tls = httpx.create_ssl_context()  # one for all clients, as the dispatcher does
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(limits=limits, timeout=15.0, verify=tls)
            )
            for _ in range(shards)
        ]

        async def send_call(queue: asyncio.Queue) -> None:
            while True:
                item = await queue.get()
                if item is None:
                    return
                delivery_id, payload = item
                body = json.dumps(payload, separators=(",", ":"))
                headers = delivery_headers(SECRET, delivery_id, utcnow(), body)
                async with slots:
                    shard = min(range(shards), key=busy.__getitem__)
                    busy[shard] += 1
                    try:
                        reply = await clients[shard].post(url, content=body, headers=headers)
                    finally:
                        busy[shard] -= 1
                    reply.raise_for_status()

        def announce(call_id: str, position: int, payload: dict) -> None:
            if call_id not in queues:  # one sender per call: its events in order
                queues[call_id] = asyncio.Queue()
                workers.append(asyncio.create_task(send_call(queues[call_id])))
            delivery_id = ids.new_id(ids.DELIVERY)
            produced[delivery_id] = time.monotonic()
            queues[call_id].put_nowait((delivery_id, payload))

        calls = Calls(_NoSink(), "agent_webhook_bench", announce)
        await run_paced(schedule, calls.emit)
        for queue in queues.values():
            queue.put_nowait(None)
        await asyncio.gather(*workers)
    cpu = time.process_time() - cpu
    requests, seen = await asyncio.to_thread(receiver_stats, receiver)
    return _result(produced, seen, requests, len(produced.keys() - seen.keys()), cpu)


def _result(
    starts: dict[str, float], seen: dict[str, float], requests: int, lost: int, cpu_s: float
) -> dict:
    latencies = sorted((seen[i] - t) * 1000 for i, t in starts.items() if i in seen)
    first, last = min(starts.values()), max(seen[i] for i in starts if i in seen)
    return {
        "cpu_ms": cpu_s * 1000 / max(len(starts), 1),  # this process's CPU per delivery
        "deliveries": len(starts),
        "requests": requests,
        "lost": lost,
        "per_s": len(latencies) / max(last - first, 1e-9),
        "p50": _pct(latencies, 50),
        "p99": _pct(latencies, 99),
        "max": latencies[-1] if latencies else float("nan"),
    }


def _pct(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * pct / 100))]


def reset(receiver: str) -> None:
    httpx.post(receiver + "/reset", timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description="openline webhook delivery benchmark")
    parser.add_argument(
        "--fraction",
        type=float,
        default=0.5,
        help="paced load as a fraction of the plain baseline's capacity (its burst rate)",
    )
    parser.add_argument("--events", type=int, default=4, help="events per call")
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between a call's events")
    parser.add_argument("--seconds", type=float, default=10, help="length of the paced load")
    parser.add_argument("--burst", type=int, default=20_000, help="events in the burst load")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--plain-clients",
        type=int,
        default=HTTP_SHARDS,
        help="httpx clients the plain path spreads its 64 connections over (openline's "
        f"dispatcher uses {HTTP_SHARDS}; 1 is one big pool, about 3x the CPU per request)",
    )
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--quick", action="store_true", help="3 s paced, 8,000-event burst")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.burst = 3, 8_000
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    burst = burst_schedule(args.burst, args.events)
    print(
        f"webhooks: burst of {len(burst):,} deliveries, then {args.seconds:g} s paced at "
        f"{args.fraction:.0%} of the plain baseline's burst rate ({args.events} events a "
        f"call, {args.gap:g} s apart); {os.cpu_count()} CPUs, load average {_load()}",
        flush=True,
    )
    rows, aims = [], []
    with receiver_process() as receiver:
        # warm both paths (connections, caches, JIT-less but imports) on a small load
        asyncio.run(through_plain(receiver, burst_schedule(400, args.events), args.plain_clients))
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:

            def run(load: str, schedule: list[tuple], down: bool = False, backend=backend):
                reset(receiver)
                with scratch_database(backend, args.pg_url) as engine:
                    ours = asyncio.run(through_openline(engine, receiver, schedule, down))
                print(f"  {backend:10} {load}: openline {_fmt(ours)}", flush=True)
                return ours

            reset(receiver)
            plain = asyncio.run(through_plain(receiver, burst, args.plain_clients))
            print(f"  {backend:10} burst: plain {_fmt(plain)}", flush=True)
            ours = run("burst", burst)
            rows.append((backend, "burst", plain, ours))
            ratio = ours["per_s"] / plain["per_s"]
            aims.append(
                (f"burst throughput >= 80% of plain, {backend}", f"{ratio:.0%}", ratio >= 0.8)
            )

            rate = plain["per_s"] * args.fraction / args.events  # calls per second
            paced = paced_schedule(rate, args.seconds, args.events, args.gap)
            reset(receiver)
            plain = asyncio.run(through_plain(receiver, paced, args.plain_clients))
            print(
                f"  {backend:10} paced {rate * args.events:,.0f}/s: plain {_fmt(plain)}", flush=True
            )
            for load, down in (("paced", False), ("paced, 2nd endpoint down", True)):
                ours = run(load, paced, down)
                rows.append((backend, load, plain, ours))
                aim = f"p99 < 50 ms at {rate * args.events:,.0f}/s ({load}), {backend}"
                aims.append((aim, f"{ours['p99']:.1f} ms", ours["p99"] < 50))
                if down:
                    aims.append(
                        (
                            f"second endpoint paused, {backend}",
                            ours["down_state"],
                            ours["down_state"] == "paused",
                        )
                    )
    print()
    header = (
        f"{'database':>10} {'load':>24} | {'plain/s':>8} {'p50':>7} {'p99':>7} {'cpu':>5} | "
        f"{'openline/s':>10} {'p50':>7} {'p99':>7} {'max':>7} {'cpu':>5} | ratio"
    )
    print(
        "deliveries per second; latency in ms (openline: commit -> receipt; plain: "
        "produced -> receipt);\ncpu: ms of this process's CPU per delivery (openline: "
        "ledger, writer, SQLite or the PostgreSQL client, dispatcher);\n"
        "ratio = openline / plain deliveries per second"
    )
    print(header)
    print("-" * len(header))
    for backend, load, plain, ours in rows:
        print(
            f"{backend:>10} {load:>24} | {plain['per_s']:8,.0f} {plain['p50']:7.1f} "
            f"{plain['p99']:7.1f} {plain['cpu_ms']:5.2f} | {ours['per_s']:10,.0f} "
            f"{ours['p50']:7.1f} {ours['p99']:7.1f} {ours['max']:7.1f} {ours['cpu_ms']:5.2f} | "
            f"{ours['per_s'] / plain['per_s']:5.0%}"
        )
    for backend, load, plain, ours in rows:
        if ours["lost"] or plain["lost"]:
            print(
                f"LOST deliveries, {backend} {load}: openline {ours['lost']}, plain {plain['lost']}"
            )
    for aim, measured, met in aims:
        print(f"aim ({aim}): {measured}, {'met' if met else 'NOT met'}")
    print(f"load average now {_load()}")


def _fmt(result: dict) -> str:
    return (
        f"{result['deliveries']:,} deliveries, {result['per_s']:,.0f}/s, "
        f"p50 {result['p50']:.1f} ms, "
        f"p99 {result['p99']:.1f} ms, max {result['max']:.1f} ms, {result['requests']:,} requests, "
        f"{result['lost']} lost, {result['cpu_ms']:.2f} ms CPU each"
    )


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
