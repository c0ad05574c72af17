"""What exporting traces and logs costs a call: openline with tracing off, on (to a
loopback OTLP receiver that takes everything) and on with the collector down (nothing
listens), measured in the same run on the same echo agent.

Each configuration is a real ``openline up`` process (embedded SQLite). The load client
of ``bench/turn_overhead.py`` runs N paced calls of K text turns through it. For each
configuration the bench reports the turns' round-trip p50/p99 and the CPU time openline
spent per turn over the calls' whole life: set-up, turns, hang-up and the export that
follows (a call's spans are drawn when it ends, so a per-turn phase alone would miss
them). Configurations run in rounds (off, on, down, then again), so the spread between
rounds of one configuration shows the run-to-run noise the differences compete with.

    python bench/telemetry.py             # 100 paced calls x 6 turns, 2 rounds (~3 min)
    python bench/telemetry.py --quick     # 50 calls x 4 turns, 1 round (~1 min)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import httpx
from _procs import cpu_seconds, free_port, load_average, process, settle, wait_http
from turn_overhead import API_KEY, percentile, run_path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the test suite's OTLP receiver
from tests.support.otlp import http_receiver  # noqa: E402

CONFIGURATIONS = ("off", "on", "down")
EXPORT_WAIT_S = 1.5  # for the batch processors to send what the last calls left


@dataclass
class Run:
    configuration: str
    turns: int
    p50_ms: float
    p99_ms: float
    cpu_us_per_turn: float
    spans: int


def _environment(configuration: str, receiver_url: str, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINE_", "OTEL_"))} | {
        "OPENLINE_DATA_DIR": str(work / f"data-{configuration}-{time.monotonic_ns()}"),
        "OPENLINE_API_KEY": API_KEY,
    }
    if configuration == "on":
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver_url
    elif configuration == "down":
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
    return env


def measure(
    configuration: str,
    agent_pid: int,
    agent_url: str,
    receiver,
    work: Path,
    calls: int,
    turns: int,
    think_s: float,
) -> Run:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = _environment(configuration, receiver.endpoint, work)
    log = work / f"openline-{configuration}.log"
    command = [sys.executable, "-m", "openline", "up", "--port", str(port), "--no-example"]
    with process(command, log, env) as server:
        wait_http(url + "/status", server)
        reply = httpx.post(
            f"{url}/agents",
            headers={"Authorization": f"Bearer {API_KEY}"},
            json={"name": "echo", "self_hosted_deployment_url": agent_url},
        )
        reply.raise_for_status()
        settle({"openline": server.pid, "agent": agent_pid})
        spans_before = len(receiver.received.spans)
        cpu_before = cpu_seconds(server.pid)
        result = run_path(
            "via", f"ws://127.0.0.1:{port}", calls, turns, 1, think_s,
            {"agent": agent_pid, "openline": server.pid}, reply.json()["id"],
        )  # fmt: skip
        time.sleep(EXPORT_WAIT_S)
        settle({"openline": server.pid})
        cpu = cpu_seconds(server.pid) - cpu_before
        for problem in result.problems():
            print(f"    ! {configuration}: {problem}", flush=True)
    latencies = result.latencies
    done = result.report["all_turns"]
    return Run(
        configuration,
        done,
        percentile(latencies, 50),
        percentile(latencies, 99),
        cpu / max(done, 1) * 1e6,
        len(receiver.received.spans) - spans_before,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 calls x 4 turns, one round")
    parser.add_argument("--calls", type=int, help="concurrent calls (default 100)")
    parser.add_argument("--turns", type=int, help="turns per call (default 6)")
    parser.add_argument("--rounds", type=int, help="rounds of off/on/down (default 2)")
    parser.add_argument("--think", type=float, default=1.0, help="mean think time, seconds")
    args = parser.parse_args()
    calls = args.calls or (50 if args.quick else 100)
    turns = args.turns or (4 if args.quick else 6)
    rounds = args.rounds or (1 if args.quick else 2)
    work = Path(tempfile.mkdtemp(prefix="openline-bench-telemetry-"))
    print(
        f"telemetry cost: {calls} paced calls x {turns} turns (think {args.think:g} s), "
        f"{rounds} round(s); {os.cpu_count()} CPUs, load average {load_average()}",
        flush=True,
    )
    runs: list[Run] = []
    agent_port = free_port()
    try:
        with (
            http_receiver() as receiver,
            process(
                [sys.executable, str(HERE / "echo_agent.py"), "--port", str(agent_port)],
                work / "echo_agent.log",
            ) as agent,
        ):
            agent_url = f"http://127.0.0.1:{agent_port}"
            wait_http(agent_url + "/status", agent)
            for round_number in range(rounds):
                for configuration in CONFIGURATIONS:
                    run = measure(
                        configuration, agent.pid, agent_url, receiver, work, calls, turns,
                        args.think,
                    )  # fmt: skip
                    runs.append(run)
                    print(
                        f"  round {round_number + 1} {configuration:5s} {run.turns:5d} turns: "
                        f"p50 {run.p50_ms:6.2f} ms, p99 {run.p99_ms:6.2f} ms, "
                        f"openline CPU {run.cpu_us_per_turn:6.0f} µs/turn, "
                        f"{run.spans} spans received",
                        flush=True,
                    )
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
    _summary(runs)


def _summary(runs: list[Run]) -> None:
    by = {c: [r for r in runs if r.configuration == c] for c in CONFIGURATIONS}
    off_cpu = mean(r.cpu_us_per_turn for r in by["off"])
    print("\nconfiguration | CPU µs/turn (mean, rounds) | p50 ms | p99 ms | vs off (CPU)")
    for configuration, rows in by.items():
        cpu = mean(r.cpu_us_per_turn for r in rows)
        each = "/".join(f"{r.cpu_us_per_turn:.0f}" for r in rows)
        p50 = "/".join(f"{r.p50_ms:.2f}" for r in rows)
        p99 = "/".join(f"{r.p99_ms:.2f}" for r in rows)
        print(f"{configuration:13s} | {cpu:7.0f} ({each}) | {p50} | {p99} | {cpu / off_cpu:.3f}x")
    if len(by["off"]) > 1:
        spread = max(r.cpu_us_per_turn for r in by["off"]) / min(
            r.cpu_us_per_turn for r in by["off"]
        )
        print(f"run-to-run spread of 'off' (max/min CPU): {spread:.3f}x")
    for configuration in ("on", "down"):
        extra = mean(r.cpu_us_per_turn for r in by[configuration]) / off_cpu - 1
        verdict = "met" if extra <= 0.05 else "NOT met"
        print(f"aim (<= 5 % more CPU per turn), tracing {configuration}: {extra:+.1%}, {verdict}")


if __name__ == "__main__":
    main()
