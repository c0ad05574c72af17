"""The Prometheus metrics of one openline process (``GET /metrics``).

Counters and histograms are updated where things happen — a call's are counted once,
when it ends, from its facts — and the state of the store (outbox depth, deployment
states) is read when Prometheus scrapes. Labels are bounded: agent ids, statuses, end
reasons and outcomes, and the names of tools and opted-in agent metrics, each capped at
``LABEL_VALUES_KEPT`` values per label (the rest count as ``other``); never a call id.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from openline.domain.calls import Fact, LogMetric, Role, ToolCall, Turn
from openline.domain.tally import response_latencies, tool_failed
from openline.domain.time import utcnow

LABEL_VALUES_KEPT = 100
OTHER = "other"
# Seconds: voice latencies live between a few tens of milliseconds and a few seconds.
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CALL_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
VALUE_BUCKETS = (0.01, 0.1, 1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0)


@dataclass(frozen=True)
class StoreGauges:
    """What a scrape reads of the store; each returns its current value(s)."""

    outbox: Callable[[], tuple[int, datetime | None]]  # waiting deliveries, the oldest's time
    deployments: Callable[[], Mapping[str, int]]  # deployments by status
    restarts: Callable[[], Mapping[str, int]]  # restarts of each agent's live deployment
    writer_depth: Callable[[], int]  # ops queued in this process's writer


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.calls_in_progress = Gauge(
            "openline_calls_in_progress", "Calls running in this process", ["agent_id"], registry=r
        )
        self.calls = Counter(
            "openline_calls", "Calls ended", ["agent_id", "status", "end_reason"], registry=r
        )
        self.call_duration = Histogram(
            "openline_call_duration_seconds",
            "Call length",
            ["agent_id"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.response_latency = Histogram(
            "openline_turn_latency_seconds",
            "Caller's end of turn to the agent's first output",
            ["agent_id"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stt = Histogram(
            "openline_stt_ttfb_seconds",
            "End of the caller's speech to its transcript",
            ["agent_id"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tts = Histogram(
            "openline_tts_ttfb_seconds",
            "The agent's text to its first synthesized audio",
            ["agent_id"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.turns = Counter(
            "openline_turns", "Turns ended", ["agent_id", "role", "interrupted"], registry=r
        )
        self.tool_calls = Counter(
            "openline_tool_calls", "Tool calls", ["agent_id", "tool", "outcome"], registry=r
        )
        self.agent_metric = Histogram(
            "openline_agent_metric",
            "Numeric log_metric values of the metrics an agent exports",
            ["agent_id", "metric"],
            buckets=VALUE_BUCKETS,
            registry=r,
        )
        self.deliveries = Counter(
            "openline_webhook_deliveries",
            "Webhook delivery attempts by outcome",
            ["outcome"],
            registry=r,
        )
        self.writer_batch = Histogram(
            "openline_writer_batch_commit_seconds",
            "Time to commit one batch of the writer",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.telemetry_dropped = Counter(
            "openline_telemetry_dropped",
            "Spans and log records the OTLP collector did not take",
            ["signal"],
            registry=r,
        )
        self._labels = _BoundedLabels()

    def watch_store(self, gauges: StoreGauges) -> None:
        self.registry.register(_StoreCollector(gauges))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    # -- calls ---------------------------------------------------------------------------

    def call_started(self, agent_id: str) -> None:
        self.calls_in_progress.labels(agent_id).inc()

    def call_abandoned(self, agent_id: str) -> None:
        self.calls_in_progress.labels(agent_id).dec()

    def call_ended(
        self, call: Mapping[str, Any], facts: Iterable[Fact], exported: Iterable[str] = ()
    ) -> None:
        """Count an ended call from its row and facts; ``exported``: the names of the
        agent's metrics it opted in to export as histograms."""
        agent = call["agent_id"]
        self.calls_in_progress.labels(agent).dec()
        self.calls.labels(agent, call.get("status") or "", call.get("end_reason") or "").inc()
        duration = (call["end_time"] - call["start_time"]).total_seconds()
        self.call_duration.labels(agent).observe(max(0.0, duration))
        facts = list(facts)
        turns = [fact for fact in facts if type(fact) is Turn]
        for latency in response_latencies(turns):
            self.response_latency.labels(agent).observe(latency)
        for turn in turns:
            interrupted = "true" if turn.end_reason == "interrupted" else "false"
            self.turns.labels(agent, turn.role.value, interrupted).inc()
            if turn.role is Role.USER and turn.stt_ttfb is not None:
                self.stt.labels(agent).observe(turn.stt_ttfb)
            if turn.tts_ttfb is not None:
                self.tts.labels(agent).observe(turn.tts_ttfb)
        for tool in (fact for fact in facts if type(fact) is ToolCall):
            name = self._labels.value("tool", agent, tool.name)
            outcome = "error" if tool_failed(tool) else "ok"
            self.tool_calls.labels(agent, name, outcome).inc()
        wanted = set(exported)
        for metric in (fact for fact in facts if type(fact) is LogMetric):
            value = metric.value
            if metric.name not in wanted or isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                name = self._labels.value("metric", agent, metric.name)
                self.agent_metric.labels(agent, name).observe(value)

    # -- the rest of the process ---------------------------------------------------------

    def delivery(self, outcome: str) -> None:
        self.deliveries.labels(outcome).inc()

    def batch_committed(self, seconds: float) -> None:
        self.writer_batch.observe(seconds)

    def dropped(self, signal: str, count: int) -> None:
        self.telemetry_dropped.labels(signal).inc(count)


class _BoundedLabels:
    """Agent-chosen label values (tool and metric names), at most LABEL_VALUES_KEPT per
    agent and label; later ones are counted as ``other``."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()

    def value(self, label: str, agent: str, value: str) -> str:
        with self._lock:
            seen = self._seen.setdefault((label, agent), set())
            if value in seen:
                return value
            if len(seen) >= LABEL_VALUES_KEPT:
                return OTHER
            seen.add(value)
            return value


class _StoreCollector(Collector):
    def __init__(self, gauges: StoreGauges) -> None:
        self._gauges = gauges

    def describe(self) -> Iterable[Metric]:
        return []  # read only on collect: registering must not query the store

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        depth, oldest = self._gauges.outbox()
        age = 0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())
        yield _gauge("openline_webhook_outbox_depth", "Webhook deliveries waiting", depth)
        yield _gauge(
            "openline_webhook_outbox_oldest_age_seconds",
            "Age of the oldest waiting delivery (0: none waits)",
            age,
        )
        yield _by_label(
            "openline_deployments", "Deployments by status", "status", self._gauges.deployments()
        )
        yield _by_label(
            "openline_deployment_restarts",
            "Restarts of each agent's live deployment process",
            "agent_id",
            self._gauges.restarts(),
        )
        yield _gauge(
            "openline_writer_queue_depth",
            "Writes queued in this process, not yet committed",
            self._gauges.writer_depth(),
        )
        yield _gauge(
            "openline_scrape_store_seconds",
            "Time this scrape spent reading the store",
            time.perf_counter() - started,
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _by_label(
    name: str, documentation: str, label: str, values: Mapping[str, int]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(values.items()):
        family.add_metric([value], count)
    return family
