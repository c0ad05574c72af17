"""A real Prometheus server (Debian's ``prometheus``, installed by scripts/bootstrap.sh)
scrapes openline's ``/metrics`` with the API key during calls; the test reads what it
stored through Prometheus' HTTP API."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.calls import TextCall, ended
from tests.support.servers import free_port, wait_http

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


@contextlib.contextmanager
def prometheus(target: str, key: str, workdir: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus is not installed: run scripts/bootstrap.sh"
    config = workdir / "prometheus.yml"
    config.write_text(
        f"""
global:
  scrape_interval: 500ms
  scrape_timeout: 400ms
scrape_configs:
  - job_name: openline
    authorization:
      type: Bearer
      credentials: {key}
    static_configs:
      - targets: ["{target}"]
"""
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (workdir / "prometheus.log").open("w") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            wait_http(url + "/-/ready", timeout_s=30, process=process)
            yield url
        finally:
            process.terminate()
            process.wait(15)


def query(url: str, expression: str) -> dict[frozenset, float]:
    reply = httpx.get(url + "/api/v1/query", params={"query": expression}).json()
    assert reply["status"] == "success", reply
    return {
        frozenset(result["metric"].items()): float(result["value"][1])
        for result in reply["data"]["result"]
    }


def eventually(url: str, expression: str, expected: float, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = query(url, expression)
        if sum(seen.values()) == expected:
            return
        time.sleep(0.1)
    raise AssertionError(f"Prometheus: {expression} = {seen}, not {expected}")


@SQLITE
async def test_prometheus_scrapes_calls_as_they_happen(server, agent_id, tmp_path):
    target = server.base_url.removeprefix("http://")
    with prometheus(target, server.api_key, tmp_path) as url:
        eventually(url, 'up{job="openline"}', 1)  # scraped, with the key
        call = await TextCall.open(server.ws_url, agent_id, server.api_key)
        await call.reply()
        eventually(url, f'openline_calls_in_progress{{agent_id="{agent_id}"}}', 1)
        await call.say("tool 9")
        await call.reply()
        await call.hang_up()
        await ended(server, call.call_id)
        second = await TextCall.open(server.ws_url, agent_id, server.api_key)
        await second.reply()
        await second.hang_up()
        await ended(server, second.call_id)

        eventually(url, f'openline_calls_in_progress{{agent_id="{agent_id}"}}', 0)
        eventually(url, f'sum(openline_calls_total{{agent_id="{agent_id}"}})', 2)
        eventually(url, 'openline_tool_calls_total{tool="lookup_order",outcome="ok"}', 1)
        eventually(url, "sum(openline_turn_latency_seconds_count)", 1)
        eventually(url, "openline_webhook_outbox_depth", 0)
        statuses = query(url, "openline_calls_total")
        assert {dict(labels)["end_reason"] for labels in statuses} == {"client_hangup"}
