"""Voice calls per core: openline's voice path with pass-through providers, against a raw
audio relay, measured in the same run.

Two servers take the same audio calls from the same load client:

* relay (the baseline): a minimal Starlette websocket app on uvicorn (the stack openline
  runs on: uvloop, httptools, websockets-sansio, JSON text frames), in its own process.
  It answers ``start`` with ``ack``; every ``media_input`` has its base64 payload decoded
  (as openline must) and encoded again into a ``media_output`` sent straight back. The
  cheapest thing that carries a call's audio both ways.
* openline: a real ``openline up`` process on SQLite in a temporary data dir, with
  ``OPENLINE_STT_PROVIDER=passthrough`` (recognises nothing: the transcript is
  ``[speech N.NN s]``), ``OPENLINE_TTS_PROVIDER=tone`` (a quiet sine, 60 ms per
  character, so each answer is 0.9 s of audio) and ``OPENLINE_VAD_PROVIDER=webrtc`` (the
  default turn detector, what a deployment runs; ``--vad energy`` for the other one, which
  is no cheaper). An echo agent (``bench/echo_agent.py``) registered by ``POST /agents``
  answers each user turn with its text, which openline speaks with the tone, paced in
  real time. Recording is on (the default): every call writes a stereo WAV into the data
  dir.

The load client is its own process (uvloop). At each level it opens N calls
(``config.input_format`` ``pcm_16000``; set-up is not measured), then every call streams
20 ms frames at real-time pace for D seconds: silence for a random lead (0-3.5 s, so
turns do not line up across calls), then 1.5 s of a synthetic voice (a 140 Hz
glottal buzz with vowel formants, four syllables a second; the script checks that the
chosen detector takes it for speech) and 2 s of faint noise, repeated. It measures:

* server CPU seconds (utime + stime from ``/proc/PID/stat``, all threads) from the first
  frame to the last, per call-second of audio streamed; "calls per core" is call-seconds
  / CPU-seconds. For openline the echo agent's CPU is reported apart, not counted;
* the client's own sending lateness (how far behind its 20 ms schedule each frame went
  out: if the client cannot keep time, nothing else it measures holds), and how long
  each process's main thread sat runnable waiting for a CPU (``/proc/PID/schedstat``:
  what other work on the machine took from it);
* relay: frames echoed and the audio round trip (frame sent → its echo back);
* openline: user turns answered (an ``agent_text`` after the speech ended and before the
  next speech starts) against those expected, the reply delay from the end of speech
  (this includes the 600 ms of silence that ends a turn), and the pacing of the agent's
  audio: the inter-arrival lateness of ``media_output`` frames after the first three
  (openline sends 100 ms frames up to 200 ms ahead, so from the fourth on they should
  arrive 100 ms apart), and underruns: frames that came after their play time for a
  client that starts playing at the first frame.

    python bench/voice_calls.py            # N = 10, 50, 100; 20 s per call (~2.5 min)
    python bench/voice_calls.py --quick    # N = 10, 50; 10 s per call (~1 min)
    python bench/voice_calls.py --levels 200 --seconds 30 --vad energy
    python bench/voice_calls.py --quick --profile   # openline under cProfile (diagnostic)

Everything is on loopback; every loop is bounded in frames and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
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

RATE = 16_000
FRAME_S = 0.02  # one media_input: 20 ms of pcm_16000
FRAME = int(RATE * FRAME_S)
SPEECH_FRAMES = 75  # 1.5 s
SILENCE_FRAMES = 100  # 2 s
CYCLE = SPEECH_FRAMES + SILENCE_FRAMES
STEADY_FROM = 3  # openline sends an utterance's first 200 ms (two 100 ms frames + one) at once
DRAIN_S = 1.0  # after streaming: replies still counted, CPU no longer
REPLY_WINDOW_S = SILENCE_FRAMES * FRAME_S  # a reply must come before the caller speaks again
OPEN_CONCURRENCY = 25
OPEN_LIMIT_S = 90.0
ACK_TIMEOUT_S = 30.0
SETTLE_LIMIT_S = 60.0
CLIENT_LATE_MS = 20.0  # client sending lateness p99 above this: its measurements are doubtful
QUICK = {"levels": "10,50", "seconds": 10.0}
FULL = {"levels": "10,50,100", "seconds": 20.0}


# --------------------------------------------------------------------------------------
# the caller's audio
# --------------------------------------------------------------------------------------


def synthetic_speech(seconds: float, seed: int = 1):
    """A voiced signal with the structure of speech: a glottal buzz (140 Hz, slow drift
    and 5 Hz vibrato) with harmonics shaped by vowel formants that change every
    syllable, amplitude-modulated at four syllables a second, peaks at -10 dBFS."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    f0 = 140 + 15 * np.sin(2 * np.pi * 0.7 * t) + 5 * np.sin(2 * np.pi * 5.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    vowels = ((730, 1090, 2440), (270, 2290, 3010), (530, 1840, 2480), (570, 840, 2410))
    syllable_s = 0.25
    per_syllable = [vowels[rng.integers(len(vowels))] for _ in range(int(seconds / syllable_s) + 1)]
    formants = np.array(per_syllable, float)[(t // syllable_s).astype(int)]
    out = np.zeros(n)
    for k in range(1, 28):  # harmonics up to ~3.8 kHz
        fk = k * f0
        gain = 0.02 + sum(
            np.exp(-0.5 * ((fk - formants[:, j]) / (90 + 40 * j)) ** 2) / (j + 1) for j in range(3)
        )
        out += gain * (fk < 3800) * np.sin(k * phase) / k**0.3
    out *= 0.55 - 0.45 * np.cos(2 * np.pi * t / syllable_s)
    out *= np.minimum(1, np.minimum(t, seconds - t) / 0.03)  # no clicks at the edges
    return (out / np.max(np.abs(out)) * 0.3 * 32767).astype(np.int16)


def cycle_payloads() -> list[str]:
    """Base64 payloads of one cycle: SPEECH_FRAMES of voice, then SILENCE_FRAMES of faint
    noise (-70 dBFS: an open microphone in a quiet room, not digital zero)."""
    import numpy as np

    speech = synthetic_speech(SPEECH_FRAMES * FRAME_S)
    noise = np.random.default_rng(2).normal(0, 10, SILENCE_FRAMES * FRAME).astype(np.int16)
    audio = np.concatenate((speech, noise)).astype("<i2")
    return [
        base64.b64encode(audio[i * FRAME : (i + 1) * FRAME].tobytes()).decode("ascii")
        for i in range(CYCLE)
    ]


def vad_check(vad: str) -> str:
    """Feed two cycles through openline's own detector: one turn per cycle, or the
    benchmark's expectations are wrong."""
    import numpy as np

    from openline.voice.providers import turn_detector

    payloads = cycle_payloads()
    audio = np.frombuffer(b"".join(base64.b64decode(p) for p in payloads * 2), "<i2")
    detector = turn_detector(vad, 600)
    edges = []
    for i in range(0, len(audio), FRAME):
        edges += detector.feed(audio[i : i + FRAME].astype(np.int16))
    shown = ", ".join(f"{e.kind} {e.sample / RATE:.2f} s" for e in edges)
    if [e.kind for e in edges] != ["start", "end", "start", "end"]:
        raise SystemExit(f"the {vad} detector does not hear one turn per cycle: {shown}")
    return shown


# --------------------------------------------------------------------------------------
# the relay (baseline server, its own process)
# --------------------------------------------------------------------------------------


def serve_relay(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    b64decode, b64encode, dumps, loads = base64.b64decode, base64.b64encode, json.dumps, json.loads

    async def status(request):
        return JSONResponse({"status": "ok", "service": "relay"})

    async def relay(websocket: WebSocket) -> None:
        await websocket.accept()
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        start = loads(message["text"])
        stream_id = start.get("stream_id")
        await websocket.send_text(dumps({"event": "ack", "stream_id": stream_id}))
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            event = loads(message["text"])
            if event.get("event") == "media_input":
                raw = b64decode(event["media"]["payload"], validate=True)
                payload = b64encode(raw).decode("ascii")
                await websocket.send_text(
                    dumps(
                        {"event": "media_output", "stream_id": stream_id,
                         "media": {"payload": payload}}
                    )
                )  # fmt: skip

    app = Starlette(
        routes=[Route("/status", status), WebSocketRoute("/agents/stream/{agent_id}", relay)]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws_max_size=16 << 20)


# --------------------------------------------------------------------------------------
# load client (its own process)
# --------------------------------------------------------------------------------------


@dataclass
class Call:
    index: int
    lead: int  # frames of silence before the first speech
    offset_s: float  # where in the 20 ms grid this call's frames go out
    sent: int = 0
    late_us: list[int] = field(default_factory=list)
    sent_at: deque[float] = field(default_factory=deque)  # relay: frames not yet echoed
    rtt_us: list[int] = field(default_factory=list)
    out_frames: int = 0
    out_samples: int = 0
    replies: list[float] = field(default_factory=list)  # agent_text arrivals
    utterances: list[list[tuple[float, int]]] = field(default_factory=list)
    clears: int = 0
    errors: list[str] = field(default_factory=list)


def _samples(payload: str) -> int:
    return (len(payload) * 3 // 4 - payload[-2:].count("=")) // 2


def _pct(values: list, q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def _client_main(args: argparse.Namespace) -> dict:
    import websockets

    rng = random.Random(args.seed)
    payloads = cycle_payloads()
    frames = round(args.seconds / FRAME_S)
    calls = [Call(i, rng.randrange(CYCLE), rng.uniform(0, FRAME_S)) for i in range(args.calls)]
    pids = dict(item.split("=") for item in args.pids.split(",") if item)
    report: dict = {"calls": args.calls, "open_errors": [], "opened": 0}
    relay = args.client == "relay"
    opening = asyncio.Semaphore(OPEN_CONCURRENCY)
    perf, loads = time.perf_counter, json.loads

    async def open_call(call: Call):
        async with opening:
            ws = await websockets.connect(
                f"{args.target}/agents/stream/{args.agent_id}?access_token={args.key}",
                compression=None,
                ping_interval=None,
                max_size=16 << 20,
            )
            start = {
                "event": "start",
                "stream_id": f"s{call.index}",
                "config": {"input_format": "pcm_16000"},
                "metadata": {"from": "bench"},
            }
            await ws.send(json.dumps(start))
            ack = loads(await asyncio.wait_for(ws.recv(), ACK_TIMEOUT_S))
            if ack.get("event") != "ack":
                await ws.close()
                raise RuntimeError(f"no ack: {ack}")
            return ws

    async def send_loop(call: Call, ws, t0: float) -> None:
        prefix = f'{{"event": "media_input", "stream_id": "s{call.index}", "media": {{"payload": "'
        suffix = '"}}'
        lead, late, sent_at = call.lead, call.late_us, call.sent_at
        first = t0 + call.offset_s
        for j in range(frames):
            due = first + j * FRAME_S
            now = perf()
            if due > now:
                await asyncio.sleep(due - now)
                now = perf()
            late.append(int((now - due) * 1e6))
            k = j - lead
            payload = payloads[SPEECH_FRAMES + j % SILENCE_FRAMES] if k < 0 else payloads[k % CYCLE]
            if relay:
                sent_at.append(perf())
            await ws.send(prefix + payload + suffix)
            call.sent += 1

    async def receive_loop(call: Call, ws, until: float) -> None:
        try:
            async with asyncio.timeout(until - perf()):
                await receive(call, ws)
            call.errors.append(f"the server ended the call early (close code {ws.close_code})")
        except TimeoutError:
            pass
        except websockets.ConnectionClosed as closed:
            call.errors.append(f"the server closed the call: {closed}"[:200])

    async def receive(call: Call, ws) -> None:
        current: list[tuple[float, int]] | None = None
        async for raw in ws:
            arrived = perf()
            event = loads(raw)
            kind = event.get("event")
            if kind == "media_output":
                samples = _samples(event["media"]["payload"])
                call.out_frames += 1
                call.out_samples += samples
                if relay:
                    if call.sent_at:
                        call.rtt_us.append(int((arrived - call.sent_at.popleft()) * 1e6))
                    continue
                if current is None:
                    current = []
                    call.utterances.append(current)
                current.append((arrived, samples))
            elif kind == "agent_text":
                call.replies.append(arrived)
                current = []
                call.utterances.append(current)
            elif kind == "clear":
                call.clears += 1
                current = None
            elif kind == "error" and len(call.errors) < 3:
                call.errors.append(str(event.get("message"))[:200])

    began_open = perf()
    opening_tasks = {asyncio.create_task(open_call(call)): call for call in calls}
    _, unfinished = await asyncio.wait(opening_tasks, timeout=OPEN_LIMIT_S)
    for task in unfinished:
        task.cancel()
    live = []
    for task, call in opening_tasks.items():
        error = None if task.cancelled() else task.exception()
        if task.cancelled() or error is not None:
            error = error or TimeoutError(f"not set up in {OPEN_LIMIT_S:.0f} s")
            report["open_errors"].append(f"{type(error).__name__}: {error}"[:200])
        else:
            live.append((call, task.result()))
    report["opened"], report["open_s"] = len(live), perf() - began_open

    t0 = perf() + 0.3
    stream_end = t0 + frames * FRAME_S + FRAME_S
    receivers = [
        asyncio.create_task(receive_loop(call, ws, stream_end + DRAIN_S)) for call, ws in live
    ]
    await asyncio.sleep(t0 - perf())
    cpu_before = {name: cpu_seconds(int(pid)) for name, pid in pids.items()}
    pids["client"] = str(os.getpid())
    wait_before = {name: run_queue_wait(int(pid)) for name, pid in pids.items()}
    client_before = time.process_time()
    began = perf()
    senders = [asyncio.create_task(send_loop(call, ws, t0)) for call, ws in live]
    done, pending = (
        await asyncio.wait(senders, timeout=args.seconds + 30) if senders else (set(), set())
    )
    report["wall_s"] = perf() - began
    report["cpu_s"] = {
        n: cpu_seconds(int(p)) - cpu_before[n] for n, p in pids.items() if n != "client"
    }
    report["cpu_s"]["client"] = time.process_time() - client_before
    report["wait_s"] = {n: run_queue_wait(int(p)) - wait_before[n] for n, p in pids.items()}
    report["send_errors"] = [
        f"{type(t.exception()).__name__}: {t.exception()}"[:200]
        for t in done
        if t.exception() is not None
    ]
    for task in pending:
        task.cancel()
    report["timed_out"] = bool(pending)
    await asyncio.gather(*receivers, return_exceptions=True)
    await asyncio.gather(
        *(asyncio.wait_for(ws.close(), 10) for _, ws in live), return_exceptions=True
    )
    report.update(_summarise([call for call, _ in live], t0, frames, relay))
    return report


def _summarise(calls: list[Call], t0: float, frames: int, relay: bool) -> dict:
    late = [v for c in calls for v in c.late_us]
    out = {
        "sent": sum(c.sent for c in calls),
        "call_s": sum(c.sent for c in calls) * FRAME_S,
        "late_p50_ms": _pct(late, 50) / 1000,
        "late_p99_ms": _pct(late, 99) / 1000,
        "late_max_ms": max(late, default=float("nan")) / 1000,
        "out_frames": sum(c.out_frames for c in calls),
        "out_s": sum(c.out_samples for c in calls) / RATE,
        "clears": sum(c.clears for c in calls),
        "errors": [e for c in calls for e in c.errors][:3],
    }
    if relay:
        rtt = [v for c in calls for v in c.rtt_us]
        out |= {"rtt_p50_ms": _pct(rtt, 50) / 1000, "rtt_p99_ms": _pct(rtt, 99) / 1000}
        return out
    expected = answered = 0
    delays, gaps, leads = [], [], []
    underruns = steady = 0
    stream_s = frames * FRAME_S
    for call in calls:
        replies = sorted(call.replies)
        first = t0 + call.offset_s
        burst = call.lead
        while (burst + SPEECH_FRAMES) * FRAME_S + REPLY_WINDOW_S <= stream_s + DRAIN_S:
            end = first + (burst + SPEECH_FRAMES) * FRAME_S  # first silent frame goes out
            expected += 1
            reply = next((r for r in replies if end <= r < end + REPLY_WINDOW_S), None)
            if reply is not None:
                answered += 1
                delays.append(reply - end)
            burst += CYCLE
        for utterance in call.utterances:
            if not utterance:
                continue
            play_at, previous = utterance[0][0], utterance[0]
            for k, (arrived, samples) in enumerate(utterance):
                if arrived > play_at + 0.001:
                    underruns += 1
                if k >= STEADY_FROM:
                    steady += 1
                    gaps.append(arrived - previous[0] - previous[1] / RATE)
                    leads.append(play_at - arrived)
                previous = (arrived, samples)
                play_at += samples / RATE
    out |= {
        "expected": expected,
        "answered": answered,
        "replies": sum(len(c.replies) for c in calls),
        "delay_p50_ms": _pct(delays, 50) * 1000,
        "delay_p99_ms": _pct(delays, 99) * 1000,
        "gap_p50_ms": _pct(gaps, 50) * 1000,
        "gap_p99_ms": _pct(gaps, 99) * 1000,
        "gap_max_ms": max(gaps, default=float("nan")) * 1000,
        "lead_min_ms": min(leads, default=float("nan")) * 1000,
        "lead_p1_ms": _pct(leads, 1) * 1000,
        "underruns": underruns,
        "steady_frames": steady,
    }
    return out


def run_client(args: argparse.Namespace) -> None:
    report = run_load(lambda: _client_main(args))
    json.dump(report, sys.stdout)


# --------------------------------------------------------------------------------------
# orchestration
# --------------------------------------------------------------------------------------


def run_queue_wait(pid: int) -> float:
    """Seconds the process's main thread (its event loop) has spent runnable but waiting
    for a CPU (Linux schedstat): what other work on the machine took from it."""
    try:
        return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return float("nan")


def run_side(
    side: str, target: str, calls: int, seconds: float, pids: dict[str, int], agent_id: str
) -> dict:
    argv = [
        sys.executable, str(Path(__file__).resolve()), "--client", side, "--target", target,
        "--calls", str(calls), "--seconds", str(seconds), "--agent-id", agent_id or "relay",
        "--key", API_KEY, "--seed", str(calls),
        "--pids", ",".join(f"{name}={pid}" for name, pid in pids.items()),
    ]  # fmt: skip
    done = subprocess.run(
        argv, capture_output=True, text=True, check=False, preexec_fn=raise_fd_limit,
        timeout=OPEN_LIMIT_S + seconds + 90,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"load client ({side}, N={calls}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


@dataclass
class Level:
    calls: int
    seconds: float
    relay: dict
    openline: dict

    @staticmethod
    def ms_per_call_s(report: dict, name: str) -> float:
        return report["cpu_s"][name] / report["call_s"] * 1000 if report["call_s"] else 0.0

    def realtime(self) -> str:
        """Did openline keep real time: every turn answered before the caller spoke
        again, no agent frame after its play time. A client that could not keep its own
        schedule (other load on the machine) makes the answer doubtful."""
        r = self.openline
        problems = []
        if r["answered"] < r["expected"]:
            problems.append(f"{r['expected'] - r['answered']} turns unanswered")
        if r["underruns"]:
            problems.append(f"{r['underruns']} frames late")
        verdict = "no: " + ", ".join(problems) if problems else "yes"
        if r["late_p99_ms"] > CLIENT_LATE_MS:
            verdict += " (client behind its schedule)"
        return verdict


def _problems(report: dict) -> list[str]:
    found = []
    if report["open_errors"]:
        found.append(
            f"{len(report['open_errors'])} of {report['calls']} calls failed to open "
            f"(first: {report['open_errors'][0]})"
        )
    if report["send_errors"]:
        found.append(
            f"{len(report['send_errors'])} calls failed mid-way: {report['send_errors'][0]}"
        )
    if report["timed_out"]:
        found.append("streaming did not finish in time")
    if report["errors"]:
        found.append(f"server errors: {report['errors'][0]}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description="openline voice calls per core benchmark")
    parser.add_argument("--quick", action="store_true", help="N = 10, 50; 10 s per call")
    parser.add_argument("--levels", help="concurrent calls per level (default 10,50,100)")
    parser.add_argument("--seconds", type=float, help="audio streamed per call (default 20)")
    parser.add_argument("--vad", choices=["webrtc", "energy"], default="webrtc")
    parser.add_argument(
        "--warmup", type=int, default=5, help="warm-up calls of 4 s per server (0: none)"
    )
    parser.add_argument("--profile", action="store_true", help="run openline under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, db, WAVs)")
    # internal: the load client and the relay server
    parser.add_argument("--client", choices=["relay", "openline"], help=argparse.SUPPRESS)
    parser.add_argument("--serve-relay", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--agent-id", default="", help=argparse.SUPPRESS)
    parser.add_argument("--key", default="", help=argparse.SUPPRESS)
    parser.add_argument("--pids", default="", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_relay:
        raise_fd_limit()
        serve_relay(args.serve_relay)
        return
    if args.client:
        run_client(args)
        return
    # Ctrl-C and SIGTERM both unwind through the finally blocks below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = QUICK if args.quick else FULL
    levels = [int(x) for x in (args.levels or plan["levels"]).split(",") if x.strip()]
    seconds = args.seconds or plan["seconds"]
    try:
        run(levels, seconds, args.vad, args.warmup, args.profile, args.keep)
    except KeyboardInterrupt:
        sys.exit("interrupted: servers stopped, temp dir removed")


def run(
    levels: list[int], seconds: float, vad: str, warmup: int, profile: bool, keep: bool
) -> None:
    import httpx

    fd_limit = raise_fd_limit()
    started = time.monotonic()
    heard = vad_check(vad)
    work = Path(tempfile.mkdtemp(prefix="openline-bench-voice-"))
    print(
        f"voice calls: {os.cpu_count()} CPUs, load average {load_average()}, fd limit {fd_limit}, "
        f"{seconds:g} s of audio per call, VAD {vad}, temp dir {work}",
        flush=True,
    )
    print(f"  {vad} detector on two cycles of the caller's audio: {heard}", flush=True)
    agent_port, openline_port, relay_port = free_port(), free_port(), free_port()
    agent_url = f"http://127.0.0.1:{agent_port}"
    openline_url = f"http://127.0.0.1:{openline_port}"
    relay_url = f"http://127.0.0.1:{relay_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINE_")} | {
        "OPENLINE_DATA_DIR": str(work / "data"),
        "OPENLINE_API_KEY": API_KEY,
        "OPENLINE_STT_PROVIDER": "passthrough",
        "OPENLINE_TTS_PROVIDER": "tone",
        "OPENLINE_VAD_PROVIDER": vad,
    }
    openline_argv = [sys.executable]
    if profile:
        openline_argv += ["-m", "cProfile", "-o", str(work / "openline.prof")]
    openline_argv += ["-m", "openline", "up", "--port", str(openline_port), "--no-example"]
    results: list[Level] = []
    try:
        with (
            process(
                [sys.executable, str(HERE / "echo_agent.py"), "--port", str(agent_port)],
                work / "echo_agent.log",
            ) as agent,
            process(
                [sys.executable, str(Path(__file__).resolve()), "--serve-relay", str(relay_port)],
                work / "relay.log",
            ) as relay,
            # uvicorn re-raises the signal that stopped it: SIGTERM would kill a profiled
            # process before cProfile writes; SIGINT becomes a KeyboardInterrupt, which it
            # survives
            process(
                openline_argv,
                work / "openline.log",
                env,
                signal.SIGINT if profile else signal.SIGTERM,
            ) as server,
        ):
            wait_http(agent_url + "/status", agent)
            wait_http(relay_url + "/status", relay)
            wait_http(openline_url + "/status", server, 60)
            reply = httpx.post(
                f"{openline_url}/agents",
                headers={"Authorization": f"Bearer {API_KEY}"},
                json={"name": "echo", "self_hosted_deployment_url": agent_url},
            )
            reply.raise_for_status()
            agent_id = reply.json()["id"]
            servers = {"relay": relay.pid, "openline": server.pid, "agent": agent.pid}
            # warm-up (not reported): first calls load the detector, first writes, imports
            if warmup:
                run_side(
                    "relay", f"ws://127.0.0.1:{relay_port}", warmup, 4, {"relay": relay.pid}, ""
                )
                run_side(
                    "openline", f"ws://127.0.0.1:{openline_port}", warmup, 4,
                    {"openline": server.pid}, agent_id,
                )  # fmt: skip
            for calls in levels:
                print(f"N={calls}: {calls} calls x {seconds:g} s", flush=True)
                waited = settle(servers, SETTLE_LIMIT_S)
                relay_report = run_side(
                    "relay", f"ws://127.0.0.1:{relay_port}", calls, seconds,
                    {"relay": relay.pid}, "",
                )  # fmt: skip
                waited += settle(servers, SETTLE_LIMIT_S)
                if waited > 1:
                    print(f"  (waited {waited:.0f} s for the servers to go idle first)", flush=True)
                openline_report = run_side(
                    "openline", f"ws://127.0.0.1:{openline_port}", calls, seconds,
                    {"openline": server.pid, "agent": agent.pid}, agent_id,
                )  # fmt: skip
                level = Level(calls, seconds, relay_report, openline_report)
                results.append(level)
                _print_level(level)
            recordings = list((work / "data").rglob("*.wav"))
            print(f"recordings written: {len(recordings)} WAV files", flush=True)
        if profile:
            _print_profile(work / "openline.prof")
    finally:
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if results:
        _print_table(results, vad, profile)
    print(
        f"\ntotal {time.monotonic() - started:.0f} s; load average now {load_average()} "
        "(other work on the machine skews these numbers)"
    )


def _print_level(level: Level) -> None:
    r, o = level.relay, level.openline
    for name, report in (("relay", r), ("openline", o)):
        util = report["cpu_s"][name] / report["wall_s"] * 100 if report["wall_s"] else 0
        print(
            f"  {name:8s} {report['opened']:4d} calls, {report['call_s']:7.0f} call-s: "
            f"server CPU {report['cpu_s'][name]:6.2f} s ({util:3.0f}% of a core), "
            f"{Level.ms_per_call_s(report, name):6.2f} ms per call-s; client CPU "
            f"{report['cpu_s']['client']:.2f} s, send lateness p50 {report['late_p50_ms']:.2f} "
            f"p99 {report['late_p99_ms']:.2f} max {report['late_max_ms']:.1f} ms",
            flush=True,
        )
        wait = report["wait_s"]
        print(
            "           waiting for a CPU (main thread, run queue): "
            + ", ".join(f"{n} {wait[n] / report['wall_s'] * 100:.0f}%" for n in (name, "client"))
            + " of the time",
            flush=True,
        )
        if name == "relay":
            print(
                f"           echoed {report['out_frames']}/{report['sent']} frames, "
                f"audio round trip p50 {report['rtt_p50_ms']:.2f} "
                f"p99 {report['rtt_p99_ms']:.2f} ms",
                flush=True,
            )
        else:
            print(
                f"           agent CPU {report['cpu_s']['agent']:.2f} s "
                f"({Level.ms_per_call_s(report, 'agent'):.2f} ms per call-s); turns answered "
                f"{report['answered']}/{report['expected']} ({report['replies']} agent_text, "
                f"{report['clears']} clear); reply after speech p50 {report['delay_p50_ms']:.0f} "
                f"p99 {report['delay_p99_ms']:.0f} ms; agent audio {report['out_s']:.1f} s in "
                f"{report['out_frames']} frames, inter-arrival late p50 {report['gap_p50_ms']:.1f} "
                f"p99 {report['gap_p99_ms']:.1f} max {report['gap_max_ms']:.1f} ms, lead min "
                f"{report['lead_min_ms']:.0f} ms, underruns {report['underruns']}",
                flush=True,
            )
        for problem in _problems(report):
            print(f"    ! {problem}", flush=True)


def _print_table(results: list[Level], vad: str, profile: bool) -> None:
    print(
        "\nserver CPU per call-second of audio (ms) and calls per core (call-s / CPU-s); "
        f"openline: passthrough STT, tone TTS, {vad} VAD, recording on"
        + ("; UNDER cProfile: openline's CPU is inflated" if profile else "")
    )
    header = (
        f"{'calls':>5} | {'relay ms':>8} {'calls/core':>10} | {'openline ms':>11} "
        f"{'calls/core':>10} {'agent ms':>8} | {'ratio':>5} | {'turns':>9} "
        f"{'reply p50/p99':>13} {'gap p99':>7} {'lead min':>8} {'late':>4} | "
        f"{'client p99':>10} | real time?"
    )
    print(header)
    print("-" * len(header))
    for level in results:
        r, o = level.relay, level.openline
        relay_ms = Level.ms_per_call_s(r, "relay")
        openline_ms = Level.ms_per_call_s(o, "openline")
        flag = " (incomplete)" if _problems(r) or _problems(o) else ""
        print(
            f"{level.calls:>5} | {relay_ms:>8.2f} {1000 / relay_ms:>10.0f} | {openline_ms:>11.2f} "
            f"{1000 / openline_ms:>10.0f} {Level.ms_per_call_s(o, 'agent'):>8.2f} | "
            f"{openline_ms / relay_ms:>4.1f}x | {o['answered']:>4}/{o['expected']:<4} "
            f"{o['delay_p50_ms']:>6.0f}/{o['delay_p99_ms']:<6.0f} {o['gap_p99_ms']:>7.1f} "
            f"{o['lead_min_ms']:>8.0f} {o['underruns']:>4} | "
            f"{r['late_p99_ms']:>4.0f}/{o['late_p99_ms']:<5.0f} | {level.realtime()}{flag}"
        )
    print(
        "ratio = openline / relay CPU per call-second; turns = answered before the caller "
        "spoke again / expected;\nreply = end of speech → agent_text (includes 600 ms of "
        "end-of-turn silence); gap p99 = media_output inter-arrival minus frame length (ms);"
        "\nlead min = least time a frame arrived before its play time; late = frames after it;"
        "\nclient p99 = the load client's sending lateness p99 (ms), relay run / openline run"
    )


def _print_profile(path: Path) -> None:
    import pstats

    if not path.exists():
        print("(no profile written)")
        return
    print(
        "\nopenline under cProfile, whole run (set-up, warm-up and all levels), top 30 by own time:"
    )
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(30)
    print("openline's own functions by cumulative time (coroutines: time while running only):")
    stats.sort_stats("cumulative").print_stats(r"openline/(harness|voice|store|api)/", 30)


if __name__ == "__main__":
    main()
