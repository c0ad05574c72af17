"""Every benchmark still runs: each script in ``bench/``, with its smallest settings, as a
subprocess, must exit 0 and print its result table. Nothing here looks at a number (the
benchmarks measure; the suite never times anything). Deselect with ``-m "not bench_smoke"``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"

# Scripts in bench/ that are not benchmarks: servers the benchmarks start (``_*.py`` are
# shared modules).
HELPERS = {"echo_agent.py", "webhook_receiver.py"}

# script: (smallest settings, lines its table must contain: regexes, one per line)
SMOKE: dict[str, tuple[list[str], list[str]]] = {
    "turn_overhead.py": (
        ["--levels", "1", "--paced-levels", "", "--turns", "20"],
        [r"calls\s+turns \| direct p50 .* \| openline p50", r"^\s+1\s+20 \|"],
    ),
    "analytics.py": (
        ["--calls", "500", "--repeat", "1", "--scan-repeat", "1"],
        [
            r"database\s+calls\s+facts \| generate s \| rebuild s .* \| openline ms \|\s+scan ms",
            r"^\s+sqlite\s+500 ",
            r"^postgresql\s+500 ",
        ],
    ),
    "alerts.py": (
        ["--calls", "300", "--rules", "10", "--rounds", "2"],
        [
            r"database\s+calls\s+rules \| first ms \| round ms ms/rule core % \| overview ms",
            r"^\s+sqlite\s+300\s+10 \|",
            r"^postgresql\s+300\s+10 \|",
        ],
    ),
    "evaluations.py": (
        ["--calls", "30", "--llm", "1"],
        [
            r"database\s+phase\s+calls\s+metrics \|\s+ms p50 .* \| calls/s results/s \|\s+ratio",
            r"^\s+sqlite\s+baseline\s+30\s+0 \|",
            r"^\s+sqlite\s+rules\s+30\s+5 \| .* \| ok",
            r"^\s+sqlite\s+llm\s+30\s+1 \| .* \| ok",
            r"^postgresql\s+rules\s+30\s+5 \| .* \| ok",
        ],
    ),
    "ingest.py": (
        ["--rows", "2000", "--calls", "10", "--repeat", "1", "--upkeep"],
        [
            r"database\s+rows \|\s+raw rows/s \| openline rows/s \| ratio",
            r"^\s+sqlite\s+2000 \|",
            r"^postgresql\s+2000 \|",
            r"database\s+rows\s+calls \| without rows/s \|\s+with rows/s \| with, drained",
            r"^\s+sqlite\s+[\d,]+\s+\d+ \|",
            r"^postgresql\s+[\d,]+\s+\d+ \|",
        ],
    ),
    "voice_calls.py": (
        ["--levels", "1", "--seconds", "4", "--warmup", "0"],
        [r"calls \| relay ms calls/core \| openline ms", r"^\s+1 \|"],
    ),
    "voice_providers.py": (
        ["--sentences", "1", "--repeat", "1"],
        [
            r"^provider\s+kind\s+\| audio s \| processing s",
            r"^pocketsphinx\s+stt ",
            r"^webrtc\s+vad ",
            r"^espeak-ng\s+tts ",
        ],
    ),
    "webhooks.py": (
        ["--seconds", "1", "--burst", "200", "--backends", "sqlite"],
        [
            r"database\s+load \|\s+plain/s .* \| openline/s",
            r"^\s+sqlite\s+burst \|",
            r"^\s+sqlite\s+paced \|",
            r"^\s+sqlite paced, 2nd endpoint down \|",
        ],
    ),
    "soak.py": (
        ["--kills", "1", "--calls", "2", "--backends", "sqlite"],
        [r"^sqlite: 1 kills x 2 calls", r"^\s+facts\s+acknowledged \d+, stored \d+, lost \d+"],
    ),
    "telemetry.py": (
        ["--calls", "4", "--turns", "2", "--rounds", "1", "--think", "0.1"],
        [r"^configuration \| CPU µs/turn", r"^off\s+\|", r"^on\s+\|", r"^down\s+\|"],
    ),
    "console_render.py": (
        ["--quick", "--repeat", "1"],
        [r"^\s+baseline\s+API JSON", r"^\s+console\s+page render", r"console / baseline"],
    ),
    "timeline.py": (
        ["--minutes", "1", "--repeat", "1", "--loads", "1"],
        [
            r"^\s+page\s+GET /console/calls/\{id\} ",
            r"^\s+peaks\s+GET …/audio/peaks",
            r"^\s+server\s+page \+ timeline \+ peaks",
            r"^\s+chromium\s+timeline drawn",
        ],
    ),
}


def test_every_benchmark_has_a_smoke_run() -> None:
    scripts = {p.name for p in BENCH.glob("*.py") if not p.name.startswith("_")} - HELPERS
    assert scripts == set(SMOKE)


@pytest.mark.bench_smoke
@pytest.mark.parametrize("script", sorted(SMOKE))
def test_benchmark_runs(script: str) -> None:
    args, table = SMOKE[script]
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=BENCH.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    tail = f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, tail
    for line in table:
        assert re.search(line, done.stdout, re.MULTILINE), f"no line matching {line!r}\n{tail}"
