"""``openline up`` as a real process: on a fresh data dir a key is made and saved, every
example agent is started and registered and can be called at once, the CLI finds the
server on the port it was given, and the examples die with it, even by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.calls import TextCall
from tests.support.servers import free_port, wait_http

EXAMPLES = {  # name → what it says first
    "Order status (example)": "order number",
    "Form filler (example)": "quick questions",
    "Appointment booking (example)": "Which day",
    "Bare websocket (example)": "Hello from a bare websocket agent",
}


@dataclass
class Up:
    process: subprocess.Popen
    port: int
    data_dir: Path
    stderr: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def key(self) -> str:
        return (self.data_dir / "credentials").read_text().strip()

    def agents(self) -> list[dict]:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.get(f"{self.base_url}/agents", headers=headers).json()["summaries"]


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OPENLINE_")}


def _start_up(data_dir: Path, stderr: Path) -> Up:
    port = free_port()  # not 8700: the CLI must find it without being told
    with stderr.open("a") as errors:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "openline",
                "up",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            env=_clean_env(),
            stderr=errors,
        )
    up = Up(process, port, data_dir, stderr)
    try:
        wait_http(up.base_url + "/status", timeout_s=90, process=process)
    except BaseException:
        _stop(up)
        raise
    return up


def _stop(up: Up) -> None:
    up.process.terminate()
    up.process.wait(30)


@pytest.fixture(scope="module")
def up(tmp_path_factory) -> Iterator[Up]:
    root = tmp_path_factory.mktemp("up")
    running = _start_up(root / "fresh", root / "stderr.txt")
    yield running
    _stop(running)


async def test_up_starts_the_platform_with_a_callable_example_agent(up):
    key = up.key
    assert oct((up.data_dir / "credentials").stat().st_mode & 0o777) == "0o600"
    headers = {"Authorization": f"Bearer {key}"}
    (example,) = [a for a in up.agents() if a["name"] == "Order status (example)"]

    call = await TextCall.open(f"ws://127.0.0.1:{up.port}", example["id"], key)
    assert "order number" in await call.reply()
    await call.say("where is A123?")
    assert "A123 is shipped" in await call.reply()
    await call.say("bye")
    assert "Goodbye" in await call.reply()
    assert await call.closed() == (1000, "call ended by agent, reason: agent_ended")
    body = httpx.get(f"{up.base_url}/agents/calls/{call.call_id}", headers=headers).json()
    events = [e["log_event"]["event"] for e in body["transcript"] if "log_event" in e]
    assert "order_processed" in events

    stderr = up.stderr.read_text()  # written before the server answered /status
    assert f"API key (shown once; saved in {up.data_dir / 'credentials'}): {key}" in stderr
    assert f"Example agent ready: openline chat {example['id']}  # {example['name']}" in stderr


async def test_up_registers_every_example_each_in_its_own_process(up):
    agents = {a["name"]: a for a in up.agents()}
    assert set(EXAMPLES) <= set(agents)
    urls = {agents[name]["self_hosted_deployment_url"] for name in EXAMPLES}
    assert len(urls) == len(EXAMPLES)
    for name, greeting in EXAMPLES.items():
        call = await TextCall.open(f"ws://127.0.0.1:{up.port}", agents[name]["id"], up.key)
        assert greeting in await call.reply(), name
        await call.hang_up()


def test_the_cli_finds_the_server_up_started_on_another_port(up, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "openline", "agents", "ls"],
        env=_clean_env() | {"OPENLINE_DATA_DIR": str(up.data_dir)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for name in EXAMPLES:
        assert name in done.stdout
    assert (up.data_dir / "url").read_text().strip() == up.base_url


def test_examples_die_with_a_killed_up_and_a_restart_registers_them_once(tmp_path):
    data_dir, stderr = tmp_path / "data", tmp_path / "stderr.txt"
    first = _start_up(data_dir, stderr)
    examples = _children(first.process.pid)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(30)
    assert len(examples) == len(EXAMPLES)
    for pid in examples:
        _wait_gone(pid)

    second = _start_up(data_dir, stderr)
    try:
        names = [a["name"] for a in second.agents()]
        assert sorted(names) == sorted(EXAMPLES)
        assert len(_children(second.process.pid)) == len(EXAMPLES)
    finally:
        _stop(second)


def _children(parent: int) -> list[int]:
    """Processes whose parent is ``parent`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _wait_gone(pid: int, timeout_s: float = 30.0) -> None:
    """Wait until ``pid`` has exited (a zombie nobody reaped has exited too)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)  # not left behind by a failing test
    raise AssertionError(f"example agent process {pid} outlived the openline that started it")


def test_up_refuses_telemetry_settings_it_cannot_follow_by_name(tmp_path):
    env = os.environ | {
        "OPENLINE_DATA_DIR": str(tmp_path / "data"),
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
    }
    done = subprocess.run(
        [sys.executable, "-m", "openline", "up", "--no-example", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "the telemetry settings were refused: OTLP protocol 'http/json'" in done.stderr
    assert "Traceback" not in done.stderr
