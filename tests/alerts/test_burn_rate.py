"""A latency objective's burn-rate alerts over a simulated clock, on both databases: turns
with known latencies are stored as calls at chosen times, tallied into the rollups, and
the evaluator is stepped through time (``evaluate(now)``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openline.alerts.evaluator import AlertEvaluator
from openline.domain.alerts import parse_rule
from openline.domain.calls import Role, Turn
from openline.store import schema
from openline.store.alerts import AlertRepo
from openline.store.analytics import AnalyticsRepo
from openline.store.db import make_engine, migrate
from openline.store.facts import TABLE_OF, to_row
from openline.store.leadership import Leadership
from openline.store.pagination import PageRequest
from openline.store.rollups import RollupKeeper, queue_tallies

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
OBJECTIVE = {"latency": "response", "target_s": 1.2, "ratio": 0.95, "period": "30d"}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = (
        request.getfixturevalue("pg_url")
        if request.param == "postgresql"
        else f"sqlite:///{tmp_path / 'alerts.db'}"
    )
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()


class Traffic:
    """Calls of one agent, each one question and its answer ``latency`` seconds later."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.made = 0

    def calls(self, start: datetime, latencies: list[float], every: timedelta) -> None:
        with self.engine.begin() as connection:
            for at, latency in enumerate(latencies):
                self.made += 1
                call_id, started = f"call_{self.made:06d}", start + at * every
                connection.execute(
                    schema.calls.insert(),
                    [
                        {
                            "id": call_id,
                            "agent_id": "agent_a",
                            "agent_name": "a",
                            "status": "completed",
                            "start_time": started,
                            "end_time": started + timedelta(seconds=5),
                            "end_reason": "agent_hangup",
                            "rev": 2,
                        }
                    ],
                )
                for turn in (
                    Turn(call_id, 1, 1, 0.5, Role.USER, "when?", end_timestamp=1.0),
                    Turn(call_id, 2, 2, 1.0 + latency, Role.ASSISTANT, "now", end_timestamp=3.0),
                ):
                    connection.execute(TABLE_OF[Turn].insert(), [to_row(turn)])
                queue_tallies(connection, [call_id], started)
        keeper = RollupKeeper(self.engine)
        while keeper.run_due(datetime(2100, 1, 1, tzinfo=UTC)):
            pass


def test_fast_and_slow_burn_fire_and_resolve_over_simulated_time(engine):
    repo = AlertRepo(engine)
    evaluator = AlertEvaluator(
        repo, AnalyticsRepo(engine), Leadership(engine, 1), None, "http://console", 30
    )
    rule = repo.create("answers fast", parse_rule({"objective": OBJECTIVE, "min_calls": 3}), [])
    traffic = Traffic(engine)

    def at(minutes: float) -> dict:
        evaluator.evaluate(T0 + timedelta(minutes=minutes))
        return repo.get(rule["id"])

    # Two days of good service: a call every 2 minutes, 1 in 50 answers slow (burn rate 0.4).
    good = [2.0 if i % 50 == 0 else 0.4 for i in range(1440)]
    traffic.calls(T0 - timedelta(days=2), good, timedelta(minutes=2))
    calm = at(0)
    assert calm["state"] == "ok"
    assert calm["value"] < 1  # the last hour: at most 1 slow of 30
    assert calm["budget_left"] == pytest.approx(0.6, abs=0.02)

    # An outage of slow answers: 10 calls a minute, 9 in 10 slow (burn rate 18).
    outage = [0.4 if i % 10 == 0 else 3.0 for i in range(200)]
    traffic.calls(T0, outage, timedelta(seconds=6))
    assert at(5)["state"] == "ok"  # 5 minutes in: the hour's burn rate is not up yet
    burning = at(20)
    assert burning["state"] == "firing" and burning["detail"]["condition"] == "fast"
    assert burning["value"] >= 14.4 and burning["calls"] >= 3
    fast = burning["detail"]["conditions"]["fast"]
    assert fast["short_burn_rate"] == pytest.approx(18.0, rel=0.05)

    # It stops at 20 minutes; good calls go on. The short windows clear first.
    traffic.calls(T0 + timedelta(minutes=20), [0.4] * 400, timedelta(seconds=15))
    later = at(24)  # the last 5 minutes hardly burn: only the slow condition holds
    assert later["state"] == "firing" and later["detail"]["condition"] == "slow"
    assert at(40)["state"] == "firing"  # half the last 30 minutes were the outage
    assert at(50)["state"] == "firing"  # clear once: resolve_after is 2
    resolved = at(51)
    assert resolved["state"] == "resolved"
    assert (
        resolved["value"] < 14.4
        and resolved["detail"]["conditions"]["slow"]["short_burn_rate"] == 0
    )
    assert resolved["budget_left"] < calm["budget_left"]  # the outage spent budget

    history = repo.history(rule["id"], PageRequest(10)).rows
    assert [(t["from_state"], t["to_state"]) for t in reversed(history)] == [
        ("ok", "firing"),
        ("firing", "resolved"),
    ]
    fired = history[-1]
    assert fired["threshold"] == 14.4 and fired["window_s"] == 6 * 3600
    assert len(fired["example_call_ids"]) == 5  # slow calls of the outage
