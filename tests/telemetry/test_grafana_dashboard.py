"""docs/grafana-dashboard.json stays true to ``GET /metrics``: every query names a metric
openline exposes (checked against a real exposition, not a list kept by hand), filters by
the ``$agent_id`` variable where the metric has that label, and parses as PromQL."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from openline.domain.calls import LogMetric, Role, ToolCall, Turn, TurnEndReason
from openline.domain.time import utcnow
from openline.telemetry.metrics import Metrics, StoreGauges

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
METRIC = re.compile(r"\bopenline_[A-Za-z0-9_]*")
# A metric name and the label matchers right after it, if any.
SELECTOR = re.compile(r"\b(openline_[A-Za-z0-9_]*)\s*(\{[^}]*\})?")
AGENT_FILTER = 'agent_id=~"$agent_id"'
# The sample suffixes of each family type: what a query may append to a family's name.
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


@pytest.fixture(scope="module")
def exposition() -> str:
    """What one openline process shows Prometheus after one call, one webhook delivery,
    one writer batch and one dropped span, with the store's gauges registered."""
    metrics = Metrics()
    metrics.watch_store(
        StoreGauges(
            outbox=lambda: (0, None),
            deployments=lambda: {"live": 1},
            restarts=lambda: {"agent_x": 0},
            writer_depth=lambda: 0,
        )
    )
    now = utcnow()
    call = {
        "agent_id": "agent_x",
        "status": "completed",
        "end_reason": "client_hangup",
        "start_time": now,
        "end_time": now + timedelta(seconds=3),
    }
    facts = [
        Turn("call_1", 1, 0, 0.0, Role.USER, "hello", end_timestamp=1.0, stt_ttfb=0.2),
        ToolCall("call_1", 2, 0, 1.1, name="lookup_order", arguments={}, result="ok"),
        Turn(
            "call_1",
            3,
            0,
            1.4,
            Role.ASSISTANT,
            "hi",
            end_timestamp=2.0,
            end_reason=TurnEndReason.INTERRUPTED,
            tts_ttfb=0.15,
        ),
        LogMetric("call_1", 4, 0, 1.5, name="orders_looked_up", value=2),
    ]
    metrics.call_started("agent_x")
    metrics.call_ended(call, facts, exported=["orders_looked_up"])
    metrics.delivery("delivered")
    metrics.batch_committed(0.01)
    metrics.dropped("traces", 1)
    return metrics.exposition().decode()


@pytest.fixture(scope="module")
def families(exposition) -> dict[str, str]:
    """Every family exposed, by name (``openline_calls`` for the counter whose samples
    are ``openline_calls_total``), with its type; not the ``_created`` timestamps the text
    format shows as gauges of their own."""
    found = {family.name: family.type for family in text_string_to_metric_families(exposition)}
    return {
        name: kind
        for name, kind in found.items()
        if not (name.endswith("_created") and name.removesuffix("_created") in found)
    }


@pytest.fixture(scope="module")
def sample_names(exposition) -> set[str]:
    return {
        sample.name
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


@pytest.fixture(scope="module")
def with_agent_id(exposition) -> set[str]:
    """The sample names that carry an ``agent_id`` label."""
    return {
        sample.name
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if "agent_id" in sample.labels
    }


def panels(dashboard: dict) -> Iterator[dict]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # the panels of a collapsed row


def targets(dashboard: dict) -> Iterator[dict]:
    for panel in panels(dashboard):
        yield from panel.get("targets", [])


def exprs(dashboard: dict) -> list[str]:
    return [target["expr"] for target in targets(dashboard)]


def metric_names(queries: Iterable[str]) -> set[str]:
    return {name for query in queries for name in METRIC.findall(query)}


def unknown_metrics(queries: Iterable[str], exposed: set[str]) -> set[str]:
    """The metric names the queries use that are no sample name of the exposition."""
    return metric_names(queries) - exposed


def family_of(name: str, families: dict[str, str]) -> str | None:
    """The exposed family a sample name belongs to, if its suffix fits the family's type."""
    for family, kind in families.items():
        for suffix in SUFFIXES.get(kind, ()):
            if name == family + suffix:
                return family
    return None


def unbalanced(query: str) -> str | None:
    """Why the brackets of a query do not balance (string literals skipped), or None."""
    closing = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    quote: str | None = None
    escaped = False
    for char in query:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'`":
            quote = char
        elif char in "([{":
            stack.append(char)
        elif char in closing:
            if not stack or stack.pop() != closing[char]:
                return f"unexpected {char!r}"
    if quote:
        return f"unterminated {quote} string"
    return f"unclosed {stack[-1]!r}" if stack else None


def test_it_is_a_dashboard_with_panels_and_queries(dashboard):
    assert dashboard["schemaVersion"] == 39
    assert dashboard["title"] and dashboard["uid"]
    assert list(panels(dashboard))
    for panel in panels(dashboard):
        assert panel.get("title", "").strip(), panel
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"timeseries", "stat"}, panel["title"]
        assert panel.get("description", "").strip(), panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        refs = [target.get("refId") for target in panel["targets"]]
        assert all(refs) and len(set(refs)) == len(refs), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            assert target.get("expr", "").strip(), panel["title"]


def test_its_panels_fit_the_grid_without_overlapping(dashboard):
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_its_variables_pick_the_datasource_and_the_agents(dashboard):
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    agent = variables["agent_id"]
    assert agent["type"] == "query"
    assert agent["includeAll"] and agent["multi"]
    query = agent["query"]["query"] if isinstance(agent["query"], dict) else agent["query"]
    assert query == "label_values(openline_calls_total, agent_id)"


def test_every_metric_it_queries_is_one_openline_exposes(dashboard, families, sample_names):
    used = metric_names(exprs(dashboard)) | {"openline_calls_total"}  # the variable's
    assert not unknown_metrics(used, sample_names)
    for name in used:
        assert family_of(name, families), name


def test_it_shows_every_family_openline_exposes(dashboard, families):
    shown = {family_of(name, families) for name in metric_names(exprs(dashboard))}
    assert {name for name in families if name.startswith("openline_")} <= shown


def test_a_query_of_a_metric_with_agent_id_filters_by_the_variable(dashboard, with_agent_id):
    for query in exprs(dashboard):
        for name, matchers in SELECTOR.findall(query):
            if name in with_agent_id:
                assert AGENT_FILTER in matchers, f"{name} in {query}"
            else:
                assert "agent_id" not in matchers, f"{name} has no agent_id: {query}"


def test_the_brackets_of_every_query_balance(dashboard):
    for query in exprs(dashboard):
        assert unbalanced(query) is None, query


def test_every_query_parses_as_promql(dashboard, tmp_path):
    """promtool (Debian's prometheus package) parses each query as a recording rule's."""
    promtool = shutil.which("promtool")
    assert promtool, "Debian's prometheus is not installed: run scripts/bootstrap.sh"
    rules = [
        {"record": f"dashboard:query_{n}", "expr": query.replace("$agent_id", ".*")}
        for n, query in enumerate(exprs(dashboard))
    ]
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_wrong_metric_name_or_bracket_is_caught(families, sample_names):
    assert unknown_metrics(["rate(openline_nope_total[5m])"], sample_names) == {
        "openline_nope_total"
    }
    # A family's name without the sample suffix Prometheus stores is no series either.
    assert unknown_metrics(["rate(openline_calls[5m])"], sample_names) == {"openline_calls"}
    assert unknown_metrics(
        ["histogram_quantile(0.5, rate(openline_turn_latency_seconds[5m]))"], sample_names
    ) == {"openline_turn_latency_seconds"}
    assert family_of("openline_calls_in_progress_total", families) is None
    assert not unknown_metrics(["sum(rate(openline_calls_total[5m]))"], sample_names)
    assert unbalanced("sum(rate(openline_calls_total[5m])") == "unclosed '('"
    assert unbalanced('sum(openline_calls_total{status="("})') is None
    assert unbalanced("sum(openline_calls_total{status=1)}") == "unexpected ')'"
