"""Turn overhead: client → openline → echo agent, against client → echo agent directly.

One echo agent process (``bench/echo_agent.py``) is reached two ways, in the same run:

* direct: a load client speaks the agent protocol to it (``start``, then per turn
  ``user_state speaking``, ``message``, ``user_state idle`` → waits for the echoed
  ``message``);
* via openline: a real ``openline up`` server process (embedded SQLite in a temporary
  data dir, every fact recorded as in production) with the agent registered by REST
  as ``self_hosted_deployment_url``; the load client speaks the client protocol
  (``start`` → ``ack``, then per turn ``user_text`` → waits for ``agent_text``).

The load client runs in its own process (uvloop). At each concurrency level N it opens
N calls (set-up is not timed), then all N calls run K sequential turns at once; a
turn's latency is from sending its first frame to receiving the reply. The first
turns of each call are a warm-up and are not counted. Two kinds of load:

* closed loop: each call sends its next turn as soon as the previous reply arrives,
  so every process is busy all the time (on 2 cores, latency there is mostly queueing:
  it measures capacity as much as path length);
* paced: each call waits a think time between turns (uniform 0.5-1.5 x ``--think``,
  2 s by default, with a random start), closer to people talking.

Output per kind: p50/p99 per path, the overhead (via − direct) and the ratio
(via / direct), plus throughput and the CPU time each server process spent per turn.

    python bench/turn_overhead.py            # closed 1, 100, 1000; paced 100 (~2-3 min)
    python bench/turn_overhead.py --quick    # fewer turns (~1.5 min)
    python bench/turn_overhead.py --paced-levels 100,1000   # adds 1000 paced calls
    python bench/turn_overhead.py --levels 100 --turns 200 --paced-levels ""

Everything is on loopback; every loop is bounded in turns and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _procs import (
    cpu_seconds,
    free_port,
    load_average,
    process,
    raise_fd_limit,
    run_load,
    settle,
    wait_http,
)

HERE = Path(__file__).resolve().parent
API_KEY = "ol_bench_" + secrets.token_hex(8)

# Turns per call at each level (full run, --quick), chosen so that a level takes
# about 10-20 s on 2 cores (the via-openline path is the slower one).
CLOSED_TURNS = {1: (2000, 500), 100: (60, 20), 1000: (6, 3)}
CLOSED_WARMUP = {1: 200, 100: 3, 1000: 2}
PACED_TURNS = {1: (5, 3), 100: (5, 3), 1000: (5, 3)}
PHASE_LIMIT_S = 90.0  # a measured phase stops by itself after this
REPLY_TIMEOUT_S = 30.0
OPEN_CONCURRENCY = 50  # calls being set up at once (set-up is not what is measured)


# --------------------------------------------------------------------------------------
# load client (its own process)
# --------------------------------------------------------------------------------------


@dataclass
class ClientReport:
    mode: str
    calls: int
    turns: int
    opened: int = 0
    open_errors: list[str] = field(default_factory=list)
    turn_errors: list[str] = field(default_factory=list)
    latencies_us: list[int] = field(default_factory=list)
    phase_s: float = 0.0
    open_s: float = 0.0
    timed_out: bool = False
    cpu_s: dict[str, float] = field(default_factory=dict)  # per server, measured phase only
    all_turns: int = 0  # warm-up included: the CPU time above was spent on these


async def _client_main(args: argparse.Namespace) -> ClientReport:
    import random

    import websockets

    report = ClientReport(args.client, args.calls, args.turns)
    opening = asyncio.Semaphore(OPEN_CONCURRENCY)
    go = asyncio.Event()
    deadline_box: list[float] = []
    opened_count = finished_count = 0
    all_open, all_finished, close_now = asyncio.Event(), asyncio.Event(), asyncio.Event()
    dumps, loads, perf = json.dumps, json.loads, time.perf_counter

    def one_opened() -> None:
        nonlocal opened_count
        opened_count += 1
        if opened_count == args.calls:
            all_open.set()

    def one_finished() -> None:
        nonlocal finished_count
        finished_count += 1
        if finished_count == args.calls:
            all_finished.set()

    async def open_direct(index: int):
        ws = await websockets.connect(
            f"{args.target}/ws?call_id=bench_{index}", compression=None, ping_interval=None
        )
        start = {
            "type": "start",
            "call_id": f"bench_{index}",
            "from": "bench",
            "to": "echo",
            "agent": {"id": "agent_echo", "system_prompt": None, "introduction": None},
            "metadata": {},
        }
        await ws.send(dumps(start))
        return ws

    async def open_via(index: int):
        ws = await websockets.connect(
            f"{args.target}/agents/stream/{args.agent_id}?access_token={args.key}",
            compression=None,
            ping_interval=None,
        )
        await ws.send(dumps({"event": "start", "stream_id": f"s{index}"}))
        ack = loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT_S))
        if ack.get("event") != "ack":
            await ws.close()
            raise RuntimeError(f"no ack: {ack}")
        return ws

    async def one_call(index: int) -> list[int]:
        latencies: list[int] = []
        async with opening:
            try:
                ws = await (open_direct if args.client == "direct" else open_via)(index)
            except Exception as error:  # noqa: BLE001 - report, don't crash the run
                report.open_errors.append(f"{type(error).__name__}: {error}"[:200])
                one_opened()
                one_finished()
                return latencies
        report.opened += 1
        one_opened()
        await go.wait()
        try:
            if args.think:
                await asyncio.sleep(random.uniform(0, args.think))
            for turn in range(args.warmup + args.turns):
                if turn and args.think:
                    await asyncio.sleep(random.uniform(0.5, 1.5) * args.think)
                if time.monotonic() > deadline_box[0]:
                    report.timed_out = True
                    break
                text = f"call {index} turn {turn}"
                if args.client == "direct":
                    frames = (
                        '{"type": "user_state", "value": "speaking"}',
                        dumps({"type": "message", "content": text}),
                        '{"type": "user_state", "value": "idle"}',
                    )
                    want_key, want_value = "type", "message"
                else:
                    frames = (
                        dumps({"event": "user_text", "stream_id": f"s{index}", "text": text}),
                    )
                    want_key, want_value = "event", "agent_text"
                began = perf()
                for frame in frames:
                    await ws.send(frame)
                while True:
                    reply = loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT_S))
                    if reply.get(want_key) == want_value:
                        break
                elapsed = perf() - began
                got = reply.get("content" if args.client == "direct" else "text")
                if got != text:
                    raise RuntimeError(f"echo mismatch: sent {text!r}, got {got!r}")
                report.all_turns += 1
                if turn >= args.warmup:
                    latencies.append(int(elapsed * 1e6))
        except Exception as error:  # noqa: BLE001
            report.turn_errors.append(f"{type(error).__name__}: {error}"[:200])
        finally:
            one_finished()
            await close_now.wait()  # hang-ups are not part of the measured phase
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 10)
        return latencies

    tasks = [asyncio.create_task(one_call(i)) for i in range(args.calls)]
    began_open = time.perf_counter()
    try:
        await asyncio.wait_for(all_open.wait(), PHASE_LIMIT_S)
    except TimeoutError:
        report.open_errors.append(f"only {opened_count} of {args.calls} calls set up in time")
    report.open_s = time.perf_counter() - began_open
    deadline_box.append(time.monotonic() + PHASE_LIMIT_S)
    pids = dict(item.split("=") for item in args.pids.split(",") if item)
    cpu_before = {name: cpu_seconds(int(pid)) for name, pid in pids.items()}
    cpu_before["client"] = time.process_time()
    began = time.perf_counter()
    go.set()
    await all_finished.wait()
    report.phase_s = time.perf_counter() - began
    report.cpu_s = {name: cpu_seconds(int(pid)) - cpu_before[name] for name, pid in pids.items()}
    report.cpu_s["client"] = time.process_time() - cpu_before["client"]
    close_now.set()
    results = await asyncio.gather(*tasks)
    for latencies in results:
        report.latencies_us.extend(latencies)
    return report


def run_client(args: argparse.Namespace) -> None:
    report = run_load(lambda: _client_main(args))
    json.dump(report.__dict__, sys.stdout)


# --------------------------------------------------------------------------------------
# orchestration
# --------------------------------------------------------------------------------------


def percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index] / 1000.0  # µs → ms


@dataclass
class PathResult:
    report: dict
    cpu_s: dict[str, float]

    @property
    def latencies(self) -> list[int]:
        return sorted(self.report["latencies_us"])

    @property
    def turns_done(self) -> int:
        return len(self.report["latencies_us"])

    @property
    def turns_per_s(self) -> float:
        return self.turns_done / self.report["phase_s"] if self.report["phase_s"] else 0.0

    def problems(self) -> list[str]:
        r = self.report
        found = []
        if r["open_errors"]:
            found.append(
                f"{len(r['open_errors'])} of {r['calls']} calls failed to open "
                f"(first: {r['open_errors'][0]})"
            )
        if r["turn_errors"]:
            found.append(f"{len(r['turn_errors'])} calls failed mid-way ({r['turn_errors'][0]})")
        if r["timed_out"]:
            found.append(f"phase hit its {PHASE_LIMIT_S:.0f}s limit")
        expected = r["calls"] * r["turns"]
        if self.turns_done < expected:
            found.append(f"{self.turns_done} of {expected} turns completed")
        return found


def run_path(
    mode: str,
    target: str,
    calls: int,
    turns: int,
    warmup: int,
    think_s: float,
    pids: dict[str, int],
    agent_id: str = "",
) -> PathResult:
    argv = [
        sys.executable, str(Path(__file__).resolve()), "--client", mode, "--target", target,
        "--calls", str(calls), "--turns", str(turns), "--warmup", str(warmup),
        "--think", str(think_s), "--agent-id", agent_id, "--key", API_KEY,
        "--pids", ",".join(f"{name}={pid}" for name, pid in pids.items()),
    ]  # fmt: skip
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=PHASE_LIMIT_S * 2 + 60, check=False,
        preexec_fn=raise_fd_limit,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"load client ({mode}, N={calls}) failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout)
    return PathResult(report, report["cpu_s"])


@dataclass
class Level:
    kind: str  # "closed" | "paced"
    calls: int
    turns: int
    direct: PathResult
    via: PathResult


def main() -> None:
    parser = argparse.ArgumentParser(description="openline turn overhead benchmark")
    parser.add_argument("--quick", action="store_true", help="fewer turns per call")
    parser.add_argument("--levels", default="1,100,1000", help="concurrency levels (closed loop)")
    parser.add_argument("--turns", type=int, help="turns per call, every level and kind")
    parser.add_argument("--think", type=float, default=2.0, help="mean think time, paced load")
    parser.add_argument(
        "--paced-levels",
        default="100",
        help="concurrency levels at a human pace ('' for none; 100,1000 adds ~1.5 min)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, db)")
    # the load client's own options (internal)
    parser.add_argument("--client", choices=["direct", "via"], help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--agent-id", default="", help=argparse.SUPPRESS)
    parser.add_argument("--key", default="", help=argparse.SUPPRESS)
    parser.add_argument("--pids", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        run_client(args)
        return

    import httpx

    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    plan = [("closed", n, 0.0) for n in levels]
    plan += [("paced", int(n), args.think) for n in args.paced_levels.split(",") if n.strip()]
    fd_limit = raise_fd_limit()
    work = Path(tempfile.mkdtemp(prefix="openline-bench-"))
    started = time.monotonic()
    print(
        f"turn overhead: {os.cpu_count()} CPUs, load average {load_average()}, "
        f"fd limit {fd_limit}, temp dir {work}",
        flush=True,
    )
    agent_port, openline_port = free_port(), free_port()
    agent_url = f"http://127.0.0.1:{agent_port}"
    openline_url = f"http://127.0.0.1:{openline_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINE_")} | {
        "OPENLINE_DATA_DIR": str(work / "data"),
        "OPENLINE_API_KEY": API_KEY,
    }
    results: list[Level] = []
    try:
        with (
            process(
                [sys.executable, str(HERE / "echo_agent.py"), "--port", str(agent_port)],
                work / "echo_agent.log",
            ) as agent,
            process(
                [sys.executable, "-m", "openline", "up", "--port", str(openline_port),
                 "--no-example"],
                work / "openline.log",
                env,
            ) as server,
        ):  # fmt: skip
            wait_http(agent_url + "/status", agent)
            wait_http(openline_url + "/status", server)
            reply = httpx.post(
                f"{openline_url}/agents",
                headers={"Authorization": f"Bearer {API_KEY}"},
                json={"name": "echo", "self_hosted_deployment_url": agent_url},
            )
            reply.raise_for_status()
            agent_id = reply.json()["id"]
            for kind, calls, think in plan:
                table = CLOSED_TURNS if kind == "closed" else PACED_TURNS
                turns = args.turns or table.get(calls, (8, 4))[1 if args.quick else 0]
                warmup = CLOSED_WARMUP.get(calls, 2) if kind == "closed" else 1
                pace = f", think {think:g} s" if think else ""
                print(
                    f"{kind} loop, N={calls}: {turns} turns per call (+{warmup} warm-up{pace})",
                    flush=True,
                )
                servers = {"agent": agent.pid, "openline": server.pid}
                waited = settle(servers)
                direct = run_path(
                    "direct", f"ws://127.0.0.1:{agent_port}", calls, turns, warmup, think,
                    {"agent": agent.pid},
                )  # fmt: skip
                waited += settle(servers)
                if waited > 1:
                    print(f"  (waited {waited:.0f} s for the servers to go idle first)", flush=True)
                via = run_path(
                    "via", f"ws://127.0.0.1:{openline_port}", calls, turns, warmup, think,
                    {"agent": agent.pid, "openline": server.pid}, agent_id,
                )  # fmt: skip
                level = Level(kind, calls, turns, direct, via)
                results.append(level)
                _print_level(level)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    for kind, title in (
        ("closed", "closed loop (each call's next turn as soon as the reply arrives)"),
        ("paced", f"paced (think time {args.think:g} s mean between a call's turns)"),
    ):
        rows = [level for level in results if level.kind == kind]
        if rows:
            _print_table(title, rows)
    _print_aim(results)
    print(
        f"\ntotal {time.monotonic() - started:.0f} s; load average now {load_average()} "
        "(other work on the machine skews these numbers)"
    )


def _print_level(level: Level) -> None:
    for name, result in (("direct", level.direct), ("via openline", level.via)):
        r = result.report
        cpu = " ".join(
            f"{k} {v / max(r['all_turns'], 1) * 1e6:.0f}" for k, v in result.cpu_s.items()
        )
        print(
            f"  {name:13s} {result.turns_done:6d} turns in {r['phase_s']:5.1f} s "
            f"({result.turns_per_s:5.0f}/s; set-up {r['open_s']:4.1f} s); "
            f"CPU µs/turn: {cpu}",
            flush=True,
        )
        for problem in result.problems():
            print(f"    ! {problem}", flush=True)


def _stats(level: Level) -> tuple[float, float, float, float]:
    d, v = level.direct.latencies, level.via.latencies
    return percentile(d, 50), percentile(d, 99), percentile(v, 50), percentile(v, 99)


def _print_table(title: str, rows: list[Level]) -> None:
    header = (
        f"{'calls':>6} {'turns':>6} | {'direct p50':>10} {'p99':>8} | {'openline p50':>12} "
        f"{'p99':>8} | {'overhead p50':>12} {'p99':>8} | {'ratio p50':>9} {'p99':>6}"
    )
    print(f"\n{title}: per-turn round trip in ms; ratio = via openline / direct")
    print(header)
    print("-" * len(header))
    for level in rows:
        d50, d99, v50, v99 = _stats(level)
        flag = "" if not (level.direct.problems() or level.via.problems()) else "  incomplete!"
        print(
            f"{level.calls:>6} {level.turns:>6} | {d50:>10.3f} {d99:>8.3f} | {v50:>12.3f} "
            f"{v99:>8.3f} | {v50 - d50:>12.3f} {v99 - d99:>8.3f} | {v50 / d50:>8.1f}x "
            f"{v99 / d99:>5.1f}x{flag}"
        )


def _print_aim(results: list[Level]) -> None:
    for level in results:
        if level.calls == 100:
            _, d99, _, v99 = _stats(level)
            overhead = v99 - d99
            verdict = "met" if overhead <= 2.0 else "NOT met"
            print(
                f"aim (p99 overhead <= 2 ms at 100 concurrent calls), {level.kind} loop: "
                f"{overhead:.3f} ms, {verdict}"
            )


if __name__ == "__main__":
    main()
